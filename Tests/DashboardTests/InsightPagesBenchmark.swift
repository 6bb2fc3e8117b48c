import Foundation
import Hummingbird
import HummingbirdTesting
import SutradharDashboard
import SutradharKit
import SutradharTesting
import Testing

/// Server time of the pipeline, cache and metrics routes over a history of 10,000 runs (three
/// stages each), in memory through the router. A measurement, not a check: it runs only with
/// `SUTRADHAR_INSIGHTS_BENCH=1` and prints median and p99 (docs/dashboard.md, "More pages").
@Suite struct InsightPagesBenchmark {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["SUTRADHAR_INSIGHTS_BENCH"] == "1"))
    func serverTimeOfTheInsightPagesWithTenThousandRuns() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-insights-bench") { folder in
            let fixture = try InsightsFixture(folder: folder)
            let pipelines = ["web", "api", "docs", "nightly-image"]
            for index in 0..<10_000 {
                let id = String(format: "20260101-%06d-%04x", index, index % 65_536)
                let stages = [
                    StageResult(name: "checkout", kind: "checkout", status: .passed, cached: index % 3 != 0, durationMilliseconds: Int64(100 + index % 50)),
                    StageResult(name: "build", kind: "nix-build", status: .passed, cached: index % 2 == 0, durationMilliseconds: Int64(1000 + index % 9000)),
                    StageResult(name: "smoke", kind: "smoke", status: index % 10 == 0 ? .failed : .passed, cached: false,
                                durationMilliseconds: Int64(500 + index % 700)),
                ]
                fixture.record(id, pipeline: pipelines[index % pipelines.count], trigger: index % 7 == 0 ? "nightly" : "agent",
                               status: index % 10 == 0 ? .failed : .passed, at: Double(1800 + index * 60), stages: stages)
            }
            try await fixture.test { client in
                for uri in ["/pipelines/web", "/cache", "/metrics", "/api/pipelines/web"] {
                    var times: [Duration] = []
                    for _ in 0..<60 {
                        let start = ContinuousClock.now
                        let response = try await client.execute(uri: uri, method: .get)
                        times.append(ContinuousClock.now - start)
                        #expect(response.status == .ok)
                    }
                    let sorted = times.dropFirst(10).sorted()
                    print("BENCH \(uri): median \(sorted[sorted.count / 2]), p99 \(sorted[min(sorted.count - 1, sorted.count * 99 / 100)])")
                }
            }
        }
    }
}
