import BuildCache
import Engine
import Foundation
import Insights
import Maintenance
import RunEvents
import RunHistory
import SutradharTesting
import Testing

/// The dashboard's figures as a library: a pipeline's runs, pass rate and stage series, and the
/// cache's bytes, hit ratios, entries and last gc, read from real histories and caches in
/// temporary folders.
@Suite struct InsightsTests {
    @Test func aPipelinesPassRateCountsFinishedRunsOnlyAndEachStageHasASeriesOldestFirst() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-insights") { cache in
            let history = try RunHistory(cacheRoot: cache)
            let start = Date(timeIntervalSince1970: 1_800_000_000)
            Self.record("r1", pipeline: "web", trigger: "nightly", status: .passed, at: start, history: history,
                        stages: [("checkout", "checkout", .passed, false, 200), ("build", "nix-build", .passed, false, 9000)])
            Self.record("r2", pipeline: "web", trigger: "agent", status: .failed, at: start + 60, history: history,
                        stages: [("checkout", "checkout", .passed, true, 5), ("build", "nix-build", .failed, false, 3000),
                                 ("smoke", "smoke", .skipped, false, 0)])
            Self.record("r3", pipeline: "web", trigger: "agent", status: .passed, at: start + 120, history: history,
                        stages: [("checkout", "checkout", .passed, true, 4), ("build", "nix-build", .passed, true, 30),
                                 ("smoke", "smoke", .passed, false, 800)])
            Self.record("other", pipeline: "api", trigger: "agent", status: .failed, at: start + 130, history: history, stages: [])
            // Still running (this process is alive), so not finished: not in the pass rate.
            Self.record("r4", pipeline: "web", trigger: "local", status: nil, at: start + 180, history: history, stages: [])

            let insights = try PipelineInsights.load(pipeline: "web", history: history)

            #expect(insights.recentRuns.map(\.run) == ["r4", "r3", "r2", "r1"])
            #expect(insights.recentRuns.first?.status == "running" && insights.recentRuns.last?.trigger == "nightly")
            #expect(insights.runsConsidered == 4 && insights.finishedRuns == 3 && insights.passedRuns == 2)
            #expect(insights.passRate == 2.0 / 3.0)
            #expect(insights.stages.map(\.stage) == ["checkout", "build", "smoke"])
            let build = try #require(insights.stages.first { $0.stage == "build" })
            #expect(build.kind == "nix-build")
            #expect(build.points.map(\.run) == ["r1", "r2", "r3"])
            #expect(build.points.map(\.durationMilliseconds) == [9000, 3000, 30])
            #expect(build.points.map(\.trigger) == ["nightly", "agent", "agent"])
            #expect(build.points.map(\.cached) == [false, false, true])
            #expect(build.points.map(\.status) == ["passed", "failed", "passed"])
            #expect(build.points[0].started == RunEvent.rfc3339(start))
            #expect(try PipelineInsights.pipelineNames(history: history, known: ["docs", "web"]) == ["api", "docs", "web"])
        }
    }

    @Test func aRecentRunIsWrittenExactlyAsRunsLsJSONWritesIt() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-insights") { cache in
            let history = try RunHistory(cacheRoot: cache)
            Self.record("done", pipeline: "web", trigger: "nightly", status: .passed, at: Date(timeIntervalSince1970: 1_800_000_000.25),
                        history: history, stages: [])
            Self.record("going", pipeline: "web", trigger: "agent", status: nil, at: Date(timeIntervalSince1970: 1_800_000_100),
                        history: history, stages: [])
            let records = try history.runs(pipeline: "web")
            #expect(records.count == 2)
            for record in records {
                #expect(try OrderedJSONEncoder().serialized(PipelineInsights.Run(record)) == record.jsonLine)
            }
        }
    }

    @Test func theSeriesCoverTheLastThirtyRunsAndTheListTheLastTwenty() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-insights") { cache in
            let history = try RunHistory(cacheRoot: cache)
            let start = Date(timeIntervalSince1970: 1_800_000_000)
            for index in 0..<35 {
                Self.record("run-\(index + 100)", pipeline: "web", trigger: "agent", status: index < 5 ? .failed : .passed,
                            at: start + Double(index), history: history, stages: [("build", "nix-build", .passed, false, Int64(index + 1))])
            }
            let insights = try PipelineInsights.load(pipeline: "web", history: history)
            #expect(insights.recentRuns.count == 20 && insights.recentRuns.first?.run == "run-134")
            #expect(insights.runsConsidered == 30)
            // The five failures are the oldest five, outside the last thirty.
            #expect(insights.passRate == 1)
            #expect(insights.stages.first?.points.map(\.durationMilliseconds) == (6...35).map(Int64.init))
        }
    }

    @Test func aPipelineWithNoFinishedRunHasNoPassRateAndItsJSONSaysNull() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-insights") { cache in
            let history = try RunHistory(cacheRoot: cache)
            let none = try PipelineInsights.load(pipeline: "nothing", history: history)
            #expect(none.passRate == nil && none.recentRuns.isEmpty && none.stages.isEmpty)
            Self.record("only", pipeline: "web", trigger: "agent", status: nil, at: Date(), history: history, stages: [])
            let running = try PipelineInsights.load(pipeline: "web", history: history)
            #expect(running.passRate == nil && running.finishedRuns == 0 && running.runsConsidered == 1)
            let json = try OrderedJSONEncoder().serialized(running)
            #expect(json.hasPrefix(#"{"pipeline":"web","recent_runs":[{"run":"only","pipeline":"web","source":"/s","ref":null,"commit":"","trigger":"agent","status":"running""#), "\(json)")
            #expect(json.contains(#""runs_considered":1,"finished_runs":0,"passed_runs":0,"stages":[]"#), "\(json)")
        }
    }

    @Test func cacheInsightsGiveBytesHitRatiosPerKindEntriesLeastRecentlyUsedFirstAndTheLastGC() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-insights") { cache in
            let history = try RunHistory(cacheRoot: cache)
            let start = Date(timeIntervalSince1970: 1_800_000_000)
            Self.record("old", pipeline: "web", trigger: "agent", status: .passed, at: start, history: history,
                        stages: [("build", "nix-build", .passed, false, 10), ("load", "docker-load", .passed, false, 10)])
            Self.record("new", pipeline: "web", trigger: "agent", status: .failed, at: start + 10, history: history,
                        stages: [("build", "nix-build", .passed, true, 10), ("load", "docker-load", .failed, false, 10),
                                 ("smoke", "smoke", .cancelled, false, 0)])
            let clock = ManualClock(start)
            let writer = try BuildCache(root: cache, now: clock.now)
            try writer.store(kind: "nix-build", key: CacheKey(["a"]), pipeline: "web", outputs: ["out": "/nowhere/a"], size: 700)
            clock.advance(by: 100)
            try writer.store(kind: "docker-load", key: CacheKey(["b"]), pipeline: "api", outputs: ["image": "sha256:b"], size: 300)
            clock.advance(by: 100)
            try writer.store(kind: "nix-build", key: CacheKey(["c"]), pipeline: "web", outputs: ["out": "/nowhere/c"], size: 100)
            writer.releaseHolds()
            CacheHolds.waitUntilReleased(cacheRoot: cache)
            let tools = try CacheTools(root: cache, environment: [:])

            let before = try await CacheInsights.load(tools: tools, history: history)

            #expect(before.lastGC == nil)
            #expect(before.runsConsidered == 2)
            #expect(before.hitRatios == [.init(kind: "docker-load", stages: 2, cached: 0), .init(kind: "nix-build", stages: 2, cached: 1)])
            #expect(before.hitRatios.last?.ratio == 0.5)
            #expect(before.entries.entries.map(\.key) == [CacheKey(["a"]).hex, CacheKey(["b"]).hex, CacheKey(["c"]).hex])
            #expect(before.entries.totalBytes == 1100)
            #expect(before.usage.kinds.first { $0.name == "nix-build" }?.bytes == 800)
            #expect(before.usage.pipelines.map(\.name) == ["web", "api"] && before.usage.pipelines.map(\.bytes) == [800, 300])

            _ = try await tools.gcReport(GCPolicy(maxSize: 500), nixStoreGC: false, dockerHost: "unix:///nonexistent.sock",
                                         now: start + 300)
            let after = try await CacheInsights.load(tools: tools, history: history)
            let gc = try #require(after.lastGC)
            #expect(gc.evicted.map(\.key) == [CacheKey(["a"]).hex])
            #expect(gc.evicted.map(\.reason) == ["max-size"] && gc.evictedBytes == 700 && gc.maxSize == 500)
            #expect(after.entries.entries.count == 2)
            let json = try OrderedJSONEncoder().serialized(after)
            #expect(json.contains(#""last_gc":{"ran_at":""#) && json.contains(#""reason":"max-size""#), "\(json)")
        }
    }

    @Test func withoutAHistoryThereAreNoHitRatiosButTheCacheIsStillShown() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-insights") { cache in
            let insights = try await CacheInsights.load(tools: try CacheTools(root: cache, environment: [:]), history: nil)
            #expect(insights.runsConsidered == 0 && insights.hitRatios.isEmpty && insights.entries.entries.isEmpty)
        }
    }

    // MARK: Helpers

    /// Records one run as the engine would: started at `at`, and finished with `status` and
    /// `stages` (name, kind, status, cached, milliseconds) unless `status` is nil.
    static func record(_ run: String, pipeline: String, trigger: String, status: RunStatus?, at time: Date, history: RunHistory,
                       stages: [(String, String, StageStatus, Bool, Int64)]) {
        let recorder = HistoryRecorder(history: history, trigger: trigger)
        recorder.record(RunEvent(run: run, .runStarted(pipeline: pipeline, source: "/s", ref: nil, cacheRoot: "/c"), time: time))
        guard let status else { return }
        let results = stages.map { StageResult(name: $0.0, kind: $0.1, status: $0.2, cached: $0.3, durationMilliseconds: $0.4,
                                               error: $0.2 == .failed ? "it failed" : nil) }
        recorder.record(RunEvent(run: run, .runFinished(RunSummary(run: run, pipeline: pipeline, commit: "abc", status: status,
                                                                   durationMilliseconds: 100, stages: results)), time: time + 5))
    }
}

/// `RunHistory.run(_:)` takes a whole run ID or a prefix that names one run, as `runs show`
/// and the dashboard's URLs do.
@Suite struct RunLookupTests {
    @Test func aRunIsFoundByItsIDOrByAPrefixThatNamesOnlyIt() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-lookup") { cache in
            let history = try RunHistory(cacheRoot: cache)
            let start = Date(timeIntervalSince1970: 1_800_000_000)
            for (offset, id) in ["20261202-000001-aaaa", "20261202-000001-aabb", "20261202-000002-cccc"].enumerated() {
                InsightsTests.record(id, pipeline: "web", trigger: "agent", status: .passed, at: start + Double(offset), history: history, stages: [])
            }
            #expect(try history.run("20261202-000001-aabb")?.record.id == "20261202-000001-aabb")
            #expect(try history.run("20261202-000002")?.record.id == "20261202-000002-cccc")
            #expect(try history.run("20261202-000001-aa") == nil, "two runs start so: neither is meant")
            #expect(try history.run("2026") == nil)
            #expect(try history.run("20261202-000003") == nil)
            #expect(try history.run("") == nil)
        }
    }
}
