import Foundation
import Hummingbird
import HummingbirdTesting
import SutradharDashboard
import SutradharKit
import SutradharTesting
import Testing

/// Where users look for reproducibility: the pipeline page's "Reproducibility" section and the
/// `/metrics` gauges, from two checks recorded in the history as the engine sends them.
@Suite struct ReproducibilityPagesTests {
    /// Records a check run of `pipeline` whose stage `image` was (or was not) reproducible.
    static func recordCheck(_ history: RunHistory, id: String, pipeline: String, at time: Date, reproducible: Bool,
                            cacheRoot: URL) {
        let recorder = HistoryRecorder(history: history, trigger: "manual")
        var outputs: [(String, JSONValue)] = [("out", .string("/nix/store/abc-image.tar.gz")), ("reproducible", .bool(reproducible))]
        if !reproducible {
            outputs += [("differing_files", .array([.string("layer 1 of 1 (abc/layer.tar): etc/<built-at>")])),
                        ("report", .string("/cache/runs/\(id)/reproducibility/image.differences.txt"))]
        }
        let image = StageResult(name: "image", kind: "nix-build", status: reproducible ? .passed : .failed, cached: true,
                                durationMilliseconds: 900, outputs: outputs, error: reproducible ? nil : "not reproducible",
                                code: reproducible ? nil : .notReproducible)
        let events: [RunEvent.Body] = [
            .runStarted(pipeline: pipeline, source: "/src", ref: "main", cacheRoot: cacheRoot.path),
            .stageStarted(stage: "image", kind: "nix-build"),
            .stageFinished(image),
            .runFinished(RunSummary(run: id, pipeline: pipeline, commit: String(repeating: "c", count: 40),
                                    status: reproducible ? .passed : .failed, durationMilliseconds: 1000, stages: [image])),
        ]
        for body in events { recorder.record(RunEvent(run: id, body, time: time)) }
    }

    @Test func pipelinePageListsEachCheckAndMetricsGaugeTheLatest() async throws {
        try await DashboardFixture.with { fixture in
            Self.recordCheck(fixture.history, id: "20261202-100000-0001", pipeline: "example", at: fixture.at(86_400),
                             reproducible: true, cacheRoot: fixture.cache)
            Self.recordCheck(fixture.history, id: "20261203-100000-0002", pipeline: "example", at: fixture.at(2 * 86_400),
                             reproducible: false, cacheRoot: fixture.cache)
            // The library's reading, which the pages and the MCP server share.
            let checks = try ReproducibilityHistory.checks(of: "example", in: fixture.history)
            #expect(checks.map(\.run) == ["20261203-100000-0002", "20261202-100000-0001"])
            #expect(checks.first?.findings.headline == "0 of 1 output reproducible")
            try await fixture.test { client in
                let page = try await client.execute(uri: "/pipelines/example", method: .get).text
                #expect(page.contains("<h2>Reproducibility</h2>"))
                #expect(page.contains("Latest check: 0 of 1 output reproducible."))
                #expect(page.contains("<a href=\"/runs/20261202-100000-0001\">"))
                // A name from inside a build's output is escaped.
                #expect(page.contains("etc/&lt;built-at&gt;"))
                #expect(!page.contains("etc/<built-at>"))
                let metrics = try await client.execute(uri: "/metrics", method: .get).text
                #expect(metrics.contains("sutradhar_checked_outputs{pipeline=\"example\"} 1"), "\(metrics)")
                #expect(metrics.contains("sutradhar_reproducible_outputs{pipeline=\"example\"} 0"))
                // A pipeline never checked has no section.
                let other = try await client.execute(uri: "/pipelines/other", method: .get).text
                #expect(!other.contains("Reproducibility"))
            }
        }
    }
}
