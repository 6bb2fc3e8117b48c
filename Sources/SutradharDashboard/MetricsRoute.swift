import Foundation
import Hummingbird
import Prometheus
import SutradharKit

/// `/metrics` in the Prometheus text format (0.0.4), through swift-prometheus:
///
/// - `sutradhar_runs{pipeline,status}` (gauge): runs in the history, by pipeline and status;
/// - `sutradhar_stage_duration_seconds{kind}` (histogram): every recorded stage's wall time, counted
///   per bucket by the history (`RunHistory.stageDurationHistograms`) and written here;
/// - `sutradhar_cache_bytes{kind}` (gauge): bytes under the cache root by kind, as `cache du`;
/// - `sutradhar_checked_outputs{pipeline}` and `sutradhar_reproducible_outputs{pipeline}` (gauges):
///   what the latest reproducibility check of each pipeline built twice, and found the same.
///
/// The registry is built afresh on each scrape from the history and the cache: the runs are
/// made by other processes (the CLI, agents, nightly), which this server never sees happen, so
/// the files are the only truth, and a scrape then always agrees with the pages. The run counts
/// are gauges, not counters, because `cache gc --max-age` prunes the history (a counter must
/// never go down); the histograms are rebuilt from every recorded stage, so they only go down
/// when runs are pruned.
public enum MetricsRoute {
    /// The histogram's buckets, in seconds: from a cache hit (milliseconds) to a long nix build.
    static let durationBuckets: [Double] = [0.05, 0.25, 1, 5, 15, 60, 300, 900, 3600]

    /// Registers `/metrics`.
    public static func register(on router: Router<DashboardRequestContext>, services: DashboardServices) {
        router.get("/metrics") { _, _ in
            let text = try await exposition(services)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        }
    }

    /// The metrics as text.
    /// - Throws: `RunHistoryError` or `CacheError` if the history or the cache index cannot be read.
    static func exposition(_ services: DashboardServices) async throws -> String {
        let registry = PrometheusCollectorRegistry()
        let runs = MetricNameDescriptor(namespace: "sutradhar", metricName: "runs", unitName: "",
                                        helpText: "Runs in the history, by pipeline and status")
        for count in try services.history.runCounts() {
            registry.makeGauge(descriptor: runs, labels: [("pipeline", count.pipeline), ("status", count.status)]).set(Double(count.count))
        }
        let bytes = MetricNameDescriptor(namespace: "sutradhar", metricName: "cache", unitName: "bytes",
                                         helpText: "Bytes under the cache root, by kind (as sutradhar cache du)")
        for part in try await CacheTools(root: services.cacheRoot).usageReport(closure: false).kinds {
            registry.makeGauge(descriptor: bytes, labels: [("kind", part.name)]).set(Double(part.bytes))
        }
        let checked = MetricNameDescriptor(namespace: "sutradhar", metricName: "checked_outputs", unitName: "",
                                           helpText: "Outputs the latest reproducibility check of a pipeline built twice")
        let reproducible = MetricNameDescriptor(namespace: "sutradhar", metricName: "reproducible_outputs", unitName: "",
                                                helpText: "Outputs the latest reproducibility check of a pipeline found reproducible")
        for (pipeline, check) in try ReproducibilityHistory.latestPerPipeline(in: services.history) {
            registry.makeGauge(descriptor: checked, labels: [("pipeline", pipeline)]).set(Double(check.findings.checked))
            registry.makeGauge(descriptor: reproducible, labels: [("pipeline", pipeline)]).set(Double(check.findings.reproducible))
        }
        return registry.emitToString() + (try histogramText(services.history.stageDurationHistograms(bounds: durationBuckets)))
    }

    /// `sutradhar_stage_duration_seconds` from the history's counts per bucket, written here as
    /// swift-prometheus writes a histogram (same lines, same number format): its `ValueHistogram`
    /// only takes one observation at a time, and recording 30,000 stages one by one meant loading
    /// every stage from the history on each scrape.
    static func histogramText(_ histograms: [StageDurationHistogram]) -> String {
        guard !histograms.isEmpty else { return "" }
        let name = "sutradhar_stage_duration_seconds"
        var text = "# HELP \(name) Wall time of each recorded stage, by stage kind\n# TYPE \(name) histogram\n"
        for histogram in histograms {
            let kind = "kind=\"\(labelValue(histogram.kind))\""
            for bucket in histogram.buckets {
                text += "\(name)_bucket{\(kind),le=\"\(bucket.bound.description)\"} \(bucket.count)\n"
            }
            text += "\(name)_bucket{\(kind),le=\"+Inf\"} \(histogram.count)\n"
            text += "\(name)_sum{\(kind)} \((Double(histogram.sumMilliseconds) / 1000).description)\n"
            text += "\(name)_count{\(kind)} \(histogram.count)\n"
        }
        return text
    }

    /// A label value escaped as the text format requires: backslash, double quote and line feed.
    static func labelValue(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
