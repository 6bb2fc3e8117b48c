import BuildCache
import Foundation
import Pipeline

/// A pipeline's `cache: { max-size, max-age }`, applied after each of its runs to that
/// pipeline's entries only, as `cache gc` would: evicted loads take their images (and the tags
/// they added) out of the daemon unless another entry still names them. What it evicts is
/// reported as a warning (so it is in the summary too); it never fails the run.
enum CacheLimits {
    /// Releases the run's holds (its stages are over), then evicts this pipeline's least
    /// recently used entries beyond `settings`, skipping what other live runs hold.
    static func apply(_ settings: CacheSettings, pipeline: String, cache: BuildCache, options: RunOptions,
                      recorder: RunRecorder) async {
        cache.releaseHolds()
        let policy = GCPolicy(maxSize: settings.maxSize?.bytes, maxAge: settings.maxAge)
        guard policy.hasLimit else { return }
        let report: GCReport
        do {
            report = try cache.collectGarbage(policy, pipeline: pipeline)
        } catch {
            recorder.warn("cache limits of pipeline '\(pipeline)' not applied: \(error)")
            return
        }
        guard !report.evicted.isEmpty || !report.inUse.isEmpty else { return }
        var cleanup = GCCleanup()
        await CacheCleaner(cache: cache, environment: options.environment)
            .removeImages(of: report.evicted, into: &cleanup, dockerHost: options.dockerHost)
        let limits = [settings.maxSize.map { "max-size \($0)" }, settings.maxAge.map { "max-age \(DurationText.format($0))" }]
            .compactMap { $0 }.joined(separator: ", ")
        let freed = report.evicted.reduce(Int64(0)) { $0 + $1.record.sizeBytes }
        var message = "cache limits of pipeline '\(pipeline)' (\(limits)): evicted \(report.evicted.count) "
            + "entr\(report.evicted.count == 1 ? "y" : "ies") (\(ByteSize(bytes: freed)))"
        if !report.evicted.isEmpty {
            message += ": " + report.evicted.map { "\($0.record.kind) \($0.record.shortKey) (\($0.reason))" }.joined(separator: ", ")
        }
        if !report.inUse.isEmpty {
            message += "; kept \(report.inUse.count) held by other live runs"
        }
        message += "; \(report.remainingEntries) left, \(ByteSize(bytes: report.remainingBytes))"
        if !cleanup.removedImages.isEmpty {
            message += "; removed image\(cleanup.removedImages.count == 1 ? "" : "s") "
                + cleanup.removedImages.map(\.id).joined(separator: ", ") + " from the daemon"
        }
        for note in cleanup.imageNotes + [cleanup.imagesNotRemoved].compactMap({ $0 }) {
            message += "; \(note)"
        }
        recorder.warn(message)
    }
}
