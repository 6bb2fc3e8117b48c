import Foundation
import Hummingbird
import SutradharKit

/// The cache page (`/cache`): bytes by kind and by pipeline, hit ratio per stage kind over the
/// last N runs, entries least recently used first, what the last gc evicted and why; and its
/// JSON: `/api/cache` (`CacheInsights`), `/api/cache/ls` and `/api/cache/du` (the shapes of
/// `cache ls --json` and `cache du --json`).
public enum CachePages {
    /// Over how many runs the hit ratio is counted unless `?runs=N` (1…1000) says otherwise.
    static let defaultRuns = 50

    /// Registers `/cache`, `/api/cache`, `/api/cache/ls`, `/api/cache/du` and the charts' stylesheet.
    public static func register(on router: Router<DashboardRequestContext>, services: DashboardServices) {
        ChartAssets.register(on: router)
        router.get("/cache") { request, context in
            let insights = try await load(request, services: services)
            return Layout.response(title: "Cache", section: .cache, context: context, body: page(insights))
        }
        router.get("/api/cache") { request, _ in
            RunAPI.json(try OrderedJSONEncoder().serialized(try await load(request, services: services)) + "\n")
        }
        router.get("/api/cache/ls") { _, _ in
            RunAPI.json(try OrderedJSONEncoder().serialized(try CacheTools(root: services.cacheRoot).listReport()) + "\n")
        }
        router.get("/api/cache/du") { _, _ in
            // Without nix closures: `nix path-info -r` over every root is too slow for a page load.
            RunAPI.json(try OrderedJSONEncoder().serialized(try await CacheTools(root: services.cacheRoot).usageReport(closure: false)) + "\n")
        }
    }

    static func load(_ request: Request, services: DashboardServices) async throws -> CacheInsights {
        let runs = min(1000, max(1, Int(request.uri.queryParameters.get("runs") ?? "") ?? defaultRuns))
        return try await CacheInsights.load(tools: try CacheTools(root: services.cacheRoot), history: services.history, runs: runs)
    }

    static func bytes(_ count: Int64) -> String { "\(ByteSize(bytes: count))" }

    static func page(_ insights: CacheInsights) -> String {
        let usage = insights.usage
        let byKind = BarChart(title: "Bytes by kind", bars: usage.kinds.map {
            BarChart.Bar(label: $0.name, value: Double($0.bytes), valueText: bytes($0.bytes))
        })
        let byPipeline = BarChart(title: "Bytes by pipeline", bars: usage.pipelines.map {
            BarChart.Bar(label: $0.name, value: Double($0.bytes), valueText: bytes($0.bytes))
        })
        let ratios = BarChart(title: "Cache hit ratio per stage kind over the last \(insights.runsConsidered) runs",
                              bars: insights.hitRatios.map {
                                  BarChart.Bar(label: $0.kind, value: $0.ratio ?? 0, valueText: "\(percent($0.ratio)) (\($0.cached) of \($0.stages))")
                              }, scaleMaximum: 1)
        let ratioRows = insights.hitRatios.map {
            "<tr><td>\(MarkupText.escaped($0.kind))</td><td class=\"number\">\($0.stages)</td><td class=\"number\">\($0.cached)</td>"
                + "<td class=\"number\">\(percent($0.ratio))</td></tr>"
        }.joined()
        let entryRows = insights.entries.entries.map { entry in
            "<tr><td>\(MarkupText.escaped(entry.kind))</td><td><code title=\"\(MarkupText.escaped(entry.key))\">\(MarkupText.escaped(String(entry.key.prefix(16))))</code></td>"
                + "<td>\(MarkupText.escaped(entry.pipeline))</td><td class=\"number\">\(bytes(entry.sizeBytes))</td>"
                + "<td><time datetime=\"\(MarkupText.escaped(entry.lastUsed))\">\(MarkupText.escaped(entry.lastUsed))</time></td></tr>"
        }.joined()
        return """
            <link rel="stylesheet" href="\(ChartAssets.path)">
            <h1>Cache</h1>
            <p class="facts">\(MarkupText.escaped(usage.cacheRoot)): \(bytes(usage.totalBytes)) in all, \(insights.entries.entries.count) entries.</p>
            <h2>Bytes by kind</h2>
            \(byKind.svg())
            <h2>Bytes by pipeline</h2>
            \(byPipeline.svg())
            <h2>Hit ratio per stage kind, last \(insights.runsConsidered) runs</h2>
            \(ratios.svg())
            <table id="hit-ratios">
            <thead><tr><th>Stage kind</th><th class="number">Stages</th><th class="number">From the cache</th><th class="number">Hit ratio</th></tr></thead>
            <tbody>\(ratioRows.isEmpty ? "<tr class=\"empty\"><td colspan=\"4\">No stage ran in these runs.</td></tr>" : ratioRows)</tbody>
            </table>
            <h2>Last gc</h2>
            \(lastGC(insights.lastGC))
            <h2>Entries, least recently used first</h2>
            <table id="entries">
            <thead><tr><th>Kind</th><th>Key</th><th>Pipeline</th><th class="number">Size</th><th>Last used</th></tr></thead>
            <tbody>\(entryRows.isEmpty ? "<tr class=\"empty\"><td colspan=\"5\">The cache is empty.</td></tr>" : entryRows)</tbody>
            </table>
            """
    }

    static func percent(_ ratio: Double?) -> String {
        ratio.map { "\(Int(($0 * 100).rounded())) %" } ?? "–"
    }

    static func lastGC(_ gc: LastGC?) -> String {
        guard let gc else { return "<p class=\"facts\" id=\"last-gc\">No gc has run on this cache yet (<code>sutradhar cache gc</code>).</p>" }
        let limits = [gc.maxSize.map { "max size \(bytes($0))" }, gc.maxAgeSeconds.map { "max age \(DurationText.format(.seconds($0)))" },
                      gc.keepLast.map { "keeping the last \($0)" }].compactMap { $0 }.joined(separator: ", ")
        let scope = gc.pipeline.map { "pipeline \(MarkupText.escaped($0))'s limits" } ?? "the whole cache"
        let rows = gc.evicted.map {
            "<tr><td>\(MarkupText.escaped($0.kind))</td><td><code title=\"\(MarkupText.escaped($0.key))\">\(MarkupText.escaped(String($0.key.prefix(16))))</code></td>"
                + "<td>\(MarkupText.escaped($0.pipeline))</td><td class=\"number\">\(bytes($0.sizeBytes))</td>"
                + "<td>\(MarkupText.escaped($0.lastUsed))</td><td>\(MarkupText.escaped($0.reason))</td></tr>"
        }.joined()
        return """
            <p class="facts" id="last-gc">At <time datetime="\(MarkupText.escaped(gc.ranAt))">\(MarkupText.escaped(gc.ranAt))</time>, for \(scope) \
            (\(MarkupText.escaped(limits.isEmpty ? "no limit" : limits))): evicted \(gc.evicted.count) entr\(gc.evicted.count == 1 ? "y" : "ies") \
            (\(bytes(gc.evictedBytes))), kept \(gc.keptInUse) held by live runs; \(gc.remainingEntries) left, \(bytes(gc.remainingBytes)).</p>
            \(rows.isEmpty ? "" : "<table id=\"evicted\"><thead><tr><th>Kind</th><th>Key</th><th>Pipeline</th><th class=\"number\">Size</th><th>Last used</th><th>Why</th></tr></thead><tbody>\(rows)</tbody></table>")
            """
    }
}
