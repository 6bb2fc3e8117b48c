import Engine
import Foundation
import RunEvents
import RunHistory
import SutradharTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The timeline of a run from its events, and the runs query's trigger filter and paging.
@Suite struct RunTimelineTests {
    static let start = Date(timeIntervalSince1970: 1_796_000_000)

    /// Whether `date` is `seconds` after `start`, to the millisecond the events file keeps.
    static func near(_ date: Date?, _ seconds: Double) -> Bool {
        guard let date else { return false }
        return abs(date.timeIntervalSince(start) - seconds) < 0.002
    }

    @Test func aTimelineHasQueueStagesWaitsAndResultsFromTheEvents() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-timeline") { cache in
            let history = try RunHistory(cacheRoot: cache)
            let recorder = HistoryRecorder(history: history, trigger: "agent", pid: getpid())
            let build = StageResult(name: "build", kind: "nix-build", status: .passed, cached: true, durationMilliseconds: 1000)
            let events: [(Double, RunEvent.Body)] = [
                (0, .runStarted(pipeline: "p", source: "/s", ref: nil, cacheRoot: cache.path)),
                (0, .queued(reason: "busy")),
                (2, .stageStarted(stage: "build", kind: "nix-build")),
                (2, .stageStarted(stage: "smoke", kind: "container")),
                (3, .stageWaiting(stage: "smoke", reason: "another run is loading it", heldBy: nil)),
                (3.5, .log(stage: "build", stream: "stderr", line: "not smoke's")),
                (5, .log(stage: "smoke", stream: "stderr", line: "got the lock")),
                (6, .stageFinished(build)),
            ]
            for (time, body) in events { recorder.record(RunEvent(run: "r", body, time: Self.start.addingTimeInterval(time))) }

            let running = try RunTimeline.read(run: "r", in: history)
            #expect(Self.near(running.queued.first?.start, 0))
            #expect(Self.near(running.queued.first?.end, 2))
            #expect(running.queued.map(\.reason) == ["busy"])
            #expect(running.stages.map(\.name) == ["build", "smoke"])
            #expect(running.stage(named: "build")?.status == "passed")
            #expect(running.stage(named: "build")?.cached == true)
            #expect(running.stage(named: "smoke")?.status == "running")
            // The wait ends at smoke's own next event, not at build's log line.
            #expect(Self.near(running.stage(named: "smoke")?.waits.first?.end, 5))
            #expect(running.finished == nil)

            let smoke = StageResult(name: "smoke", kind: "container", status: .failed, cached: false, durationMilliseconds: 5000,
                                    error: "probe failed", code: .probeFailed)
            recorder.record(RunEvent(run: "r", .stageFinished(smoke), time: Self.start.addingTimeInterval(7)))
            recorder.record(RunEvent(run: "r", .runFinished(RunSummary(run: "r", pipeline: "p", commit: "c", status: .failed,
                                                                        durationMilliseconds: 8000, stages: [build, smoke])),
                                     time: Self.start.addingTimeInterval(8)))
            let finished = try RunTimeline.read(run: "r", in: history)
            #expect(finished.stage(named: "smoke")?.result?.code == "probe-failed")
            #expect(Self.near(finished.stage(named: "smoke")?.finished, 7))
            #expect(Self.near(finished.finished, 8))
            #expect(finished.summary?.status == .failed)
        }
    }

    @Test func runsFilterByTriggerAndPageWithAnOffset() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-timeline") { cache in
            let history = try RunHistory(cacheRoot: cache)
            for index in 0..<5 {
                let recorder = HistoryRecorder(history: history, trigger: index % 2 == 0 ? "nightly" : "manual")
                let id = "run-\(index)"
                recorder.record(RunEvent(run: id, .runStarted(pipeline: "p", source: "/s", ref: nil, cacheRoot: cache.path),
                                         time: Self.start.addingTimeInterval(Double(index))))
                recorder.record(RunEvent(run: id, .runFinished(RunSummary(run: id, pipeline: "p", commit: "c", status: .passed,
                                                                           durationMilliseconds: 1, stages: []))))
            }
            #expect(try history.runs(trigger: "nightly").map(\.id) == ["run-4", "run-2", "run-0"])
            #expect(try history.runs(limit: 2, offset: 0).map(\.id) == ["run-4", "run-3"])
            #expect(try history.runs(limit: 2, offset: 2).map(\.id) == ["run-2", "run-1"])
            #expect(try history.runs(status: "passed", trigger: "manual", limit: 1, offset: 1).map(\.id) == ["run-1"])
            #expect(try history.pipelineNames() == ["p"])
        }
    }

    @Test func runIDsFromURLsAreCheckedBeforeTheyReachAPath() {
        #expect(RunHistory.isValidRunID("20261129-065212-4f3a"))
        for bad in ["", "..", "../x", "a/b", "%2e", "ABC", String(repeating: "1", count: 65), "x y"] {
            #expect(!RunHistory.isValidRunID(bad), "\(bad)")
        }
    }
}
