import Foundation
import Hummingbird
import SutradharKit

/// The pipeline pages: `/pipelines` (every pipeline with a definition or runs) and
/// `/pipelines/NAME` (its definition, recent runs, pass rate and each stage's duration over the
/// last 30 runs), and `/api/pipelines/NAME` (`PipelineInsights` as JSON).
public enum PipelinePages {
    /// How many runs the list, and the chart and pass rate, cover.
    static let recentRuns = 20
    static let seriesRuns = 30

    /// Registers `/pipelines`, `/pipelines/:name` and `/api/pipelines/:name`.
    public static func register(on router: Router<DashboardRequestContext>, services: DashboardServices) {
        router.get("/pipelines") { _, context in try listPage(context: context, services: services) }
        router.get("/pipelines/:name") { _, context in
            guard let pipeline = try PipelineView(context, services: services) else {
                return Layout.notFound(context: context, what: "such pipeline (no definition under pipelines/ and no runs)")
            }
            return try pipelinePage(pipeline, context: context, services: services)
        }
        router.get("/api/pipelines/:name") { _, context in
            guard let pipeline = try PipelineView(context, services: services) else {
                return RunAPI.json(#"{"error":"not-found","message":"no such pipeline: no pipelines/NAME.yaml and no runs; GET /pipelines lists them"}"# + "\n",
                                   status: .notFound)
            }
            return RunAPI.json(try OrderedJSONEncoder().serialized(pipeline.insights) + "\n")
        }
    }

    /// A pipeline named in a URL: its definition text (if there is one) and insights.
    struct PipelineView {
        let name: String
        let definition: String?
        let insights: PipelineInsights

        /// Nil when the name is not a pipeline name, or has neither a definition nor runs.
        init?(_ context: DashboardRequestContext, services: DashboardServices) throws {
            guard let name = context.parameters.get("name"), PipelineCatalog.isName(name) else { return nil }
            self.name = name
            definition = (try? services.catalog.path(of: name)).flatMap { path in
                FileManager.default.contents(atPath: path).map {
                    // Secrets go in `env:`: their values are never shown (docs/definitions.md).
                    DefinitionMasking.masked(String(decoding: $0.prefix(Definitions.maximumTextBytes), as: UTF8.self))
                }
            }
            insights = try PipelineInsights.load(pipeline: name, history: services.history,
                                                 recentLimit: PipelinePages.recentRuns, seriesRuns: PipelinePages.seriesRuns)
            guard definition != nil || !insights.recentRuns.isEmpty else { return nil }
        }
    }

    static func listPage(context: DashboardRequestContext, services: DashboardServices) throws -> Response {
        let names = try PipelineInsights.pipelineNames(history: services.history,
                                                       known: services.catalog.names)
        let rows = try names.map { name -> String in
            let latest = try services.history.runs(pipeline: name, limit: 1).first
            let link = "<a href=\"/pipelines/\(MarkupText.escaped(RunPages.percentEncoded(name)))\">\(MarkupText.escaped(name))</a>"
            guard let latest else { return "<tr><td>\(link)</td><td>–</td><td>no runs yet</td></tr>" }
            return "<tr><td>\(link)</td><td>\(Layout.badge(latest.status))</td>"
                + "<td><time datetime=\"\(RunEvent.rfc3339(latest.startedAt))\">\(Formatting.time(latest.startedAt))</time></td></tr>"
        }
        let body = """
            <h1>Pipelines</h1>
            <table id="pipelines">
            <thead><tr><th>Pipeline</th><th>Latest run</th><th>Started</th></tr></thead>
            <tbody>\(rows.isEmpty ? "<tr class=\"empty\"><td colspan=\"3\">No pipelines: no pipelines/*.yaml here and no runs.</td></tr>" : rows.joined())</tbody>
            </table>
            """
        return Layout.response(title: "Pipelines", section: .pipelines, context: context, body: body)
    }

    static func pipelinePage(_ pipeline: PipelineView, context: DashboardRequestContext, services: DashboardServices) throws -> Response {
        let insights = pipeline.insights
        let name = MarkupText.escaped(pipeline.name)
        let passRate = insights.passRate.map { rate in
            "\(insights.passedRuns) of \(insights.finishedRuns) finished runs passed (\(Int((rate * 100).rounded())) %)"
        } ?? "no finished run yet"
        let trigger = services.configuration.allowTrigger
            ? "<form class=\"triggers\" method=\"post\" action=\"/pipelines/\(MarkupText.escaped(RunPages.percentEncoded(pipeline.name)))/run\">" + Layout.csrfField(context.csrfToken)
                + "<label>Run at commit <input name=\"commit\" placeholder=\"commit, branch or tag (default: the definition's ref)\" size=\"40\"></label>"
                + "<button type=\"submit\">Run</button></form>"
            : ""
        let runs = try services.history.runs(pipeline: pipeline.name, limit: recentRuns)
        let definition = pipeline.definition.map { "<pre class=\"definition\">\(MarkupText.escaped($0))</pre>" }
            ?? "<p class=\"facts\">No definition file for this pipeline under pipelines/ (only its runs are known).</p>"
        let body = """
            <link rel="stylesheet" href="\(ChartAssets.path)">
            <h1>Pipeline \(name)</h1>
            <p class="facts" id="pass-rate">Pass rate over the last \(insights.runsConsidered) runs: \(passRate).</p>
            \(trigger)
            <h2>Stage durations, last \(insights.runsConsidered) runs</h2>
            \(durationChart(insights).svg())
            \(try reproducibilitySection(pipeline.name, services: services))
            <h2>Recent runs</h2>
            <table id="runs">
            <thead><tr><th>Status</th><th>Pipeline</th><th>Commit</th><th>Trigger</th><th class="number">Duration</th><th>Started</th><th>Run</th></tr></thead>
            <tbody>\(RunPages.rowsMarkup(runs, services: services))</tbody>
            </table>
            <h2>Definition</h2>
            \(definition)
            """
        return Layout.response(title: "Pipeline \(pipeline.name)", section: .pipelines, context: context, body: body)
    }

    /// The pipeline's reproducibility checks, newest first: how many outputs each found
    /// reproducible, and each miss with where it differs and the report's path. Nothing when the
    /// pipeline was never checked.
    static func reproducibilitySection(_ pipeline: String, services: DashboardServices) throws -> String {
        let checks = try ReproducibilityHistory.checks(of: pipeline, in: services.history, limit: recentRuns)
        guard !checks.isEmpty else { return "" }
        let rows = checks.map { check in
            let findings = check.findings
            let misses = findings.stages.filter { !$0.reproducible }.map { stage in
                let differences = stage.differences.prefix(5).map { "<code>\(MarkupText.escaped($0))</code>" }.joined(separator: "<br>")
                let more = stage.differences.count > 5 ? "<br>… and \(stage.differences.count - 5) more" : ""
                let report = stage.report.map { "<br>report: <code>\(MarkupText.escaped($0))</code>" } ?? ""
                return "<b>\(MarkupText.escaped(stage.name))</b>: \(differences)\(more)\(report)"
            }.joined(separator: "<br>")
            let run = MarkupText.escaped(check.run)
            return "<tr><td>\(RunEvent.rfc3339(check.startedAt).prefix(16))</td><td><a href=\"/runs/\(run)\">\(run)</a></td>"
                + "<td><code>\(MarkupText.escaped(String(check.commit.prefix(12))))</code></td>"
                + "<td class=\"number\">\(findings.reproducible) of \(findings.checked)</td><td>\(misses.isEmpty ? "–" : misses)</td></tr>"
        }.joined(separator: "\n")
        let latest = checks[0].findings
        return """
            <h2>Reproducibility</h2>
            <p class="facts" id="reproducibility">Latest check: \(latest.headline).</p>
            <table id="reproducibility-checks">
            <thead><tr><th>Started</th><th>Run</th><th>Commit</th><th class="number">Reproducible</th><th>Where the builds differ</th></tr></thead>
            <tbody>\(rows)</tbody>
            </table>
            """
    }

    /// Each stage's durations, nightly runs as squares.
    static func durationChart(_ insights: PipelineInsights) -> DurationChart {
        let runs = insights.stages.flatMap(\.points).reduce(into: [(run: String, started: String)]()) { runs, point in
            if !runs.contains(where: { $0.run == point.run }) { runs.append((point.run, point.started)) }
        }.sorted { ($0.started, $0.run) < ($1.started, $1.run) }.map(\.run)
        let series = insights.stages.map { stage in
            DurationChart.Series(name: stage.stage, points: stage.points.map { point in
                DurationChart.Point(run: point.run, milliseconds: point.durationMilliseconds,
                                    valueText: Formatting.duration(point.durationMilliseconds), marked: point.trigger == "nightly",
                                    cached: point.cached, failed: point.status == "failed")
            })
        }
        let longest = insights.stages.flatMap(\.points).map(\.durationMilliseconds).max() ?? 0
        return DurationChart(title: "Duration of each stage of \(insights.pipeline) over its last \(insights.runsConsidered) runs",
                             runs: runs, series: series, maximumText: Formatting.duration(longest))
    }
}

/// The charts' stylesheet (`ChartStyle.css`), served beside the dashboard's own: a page with a
/// chart links it (the Content-Security-Policy allows stylesheets from 'self' only, never inline).
enum ChartAssets {
    static let path = "/assets/charts.css"

    static func register(on router: Router<DashboardRequestContext>) {
        router.get(.init(stringLiteral: path)) { _, _ in
            Response(status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "max-age=300"],
                     body: .init(byteBuffer: ByteBuffer(string: ChartStyle.css)))
        }
    }
}
