import Dispatch
import Engine
import Foundation
import Maintenance
import RunEvents
import RunHistory
import SutradharTesting
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The run history as a library, without nix or a daemon: opening under a lock, recovering a
/// corrupt database, the typed records and their JSON, and following a run as it is written.
@Suite struct HistoryLibraryTests {
    @Test func eightFirstOpensOfAFreshHistoryAtOnceAllRecordTheirRun() async throws {
        // Ten fresh caches in turn: without the lock one round in two or three lost a run, so ten
        // rounds make a lost run near certain were the race back.
        for _ in 0..<10 {
            try await GitFixtures.withTemporaryDirectory("sutradhar-history") { cache in
                let failures = Mutex<[String]>([])
                // Eight threads released together, as eight first runs on a fresh cache start together:
                // each opens the history (creating and migrating it) and records a run.
                DispatchQueue.concurrentPerform(iterations: 8) { index in
                    do {
                        let history = try RunHistory(cacheRoot: cache)
                        Self.record(run: "run-\(index)", into: HistoryRecorder(history: history, trigger: "agent"), finishing: true)
                    } catch {
                        failures.withLock { $0.append("\(error)") }
                    }
                }
                #expect(failures.withLock { $0 } == [])
                let history = try RunHistory(cacheRoot: cache)
                #expect(try history.count() == 8)
                #expect(Set(try history.runs(limit: 20).map(\.id)) == Set((0..<8).map { "run-\($0)" }))
            }
        }
    }

    @Test func aCorruptDatabaseIsMovedAsideRebuiltFromTheRunFoldersAndSaidSo() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-history") { cache in
            do {
                let history = try RunHistory(cacheRoot: cache)
                Self.record(run: "before", into: HistoryRecorder(history: history, trigger: "nightly"), finishing: true)
                #expect(history.recovery == nil && history.notices.isEmpty)
            }
            let database = cache.appendingPathComponent("runs/history.sqlite")
            for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: database.path + suffix) }
            let garbage = Data((0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 7919 &+ 13) })
            try garbage.write(to: database)

            let history = try RunHistory(cacheRoot: cache)

            let recovery = try #require(history.recovery)
            #expect(recovery.movedAside.lastPathComponent.hasPrefix("history.sqlite.corrupt-"))
            #expect(FileManager.default.contents(atPath: recovery.movedAside.path) == garbage)
            #expect(recovery.rebuiltRuns == 1)
            #expect(history.notices.count == 1 && history.notices[0].contains(recovery.movedAside.path), "\(history.notices)")
            // The rebuilt run is as it was: its row from run.json, its stages and summary from events.jsonl.
            let rebuilt = try #require(try history.run("before"))
            #expect(rebuilt.record.trigger == "nightly" && rebuilt.record.status == "passed" && rebuilt.record.commitSHA == "abc")
            #expect(rebuilt.stages.map(\.name) == ["build"])
            #expect(rebuilt.summary?.stages.first?.outputs.first?.0 == "out")
            // The next run is recorded, and the next open finds nothing to repair.
            Self.record(run: "after", into: HistoryRecorder(history: history, trigger: "agent"), finishing: true)
            let reopened = try RunHistory(cacheRoot: cache)
            #expect(reopened.recovery == nil)
            #expect(try reopened.runs().map(\.id).sorted() == ["after", "before"])
            let check = RunHistory.doctorCheck(cacheRoot: cache)
            #expect(check.ok && check.detail.contains("2 runs") && check.detail.contains(recovery.movedAside.path), "\(check.detail)")
        }
    }

    @Test func anUnchangedDatabaseIsNotCheckedAgainAndOneWrittenByAnotherProgramIs() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-history") { cache in
            let database = cache.appendingPathComponent("runs/history.sqlite").path
            func modified() throws -> Date? { try FileManager.default.attributesOfItem(atPath: database)[.modificationDate] as? Date }
            do {
                let history = try RunHistory(cacheRoot: cache)
                #expect(history.checkedIntegrity)
                let before = try modified()
                // Enough runs that a commit checkpoints the log into the database file: the
                // history's own writes change the file and must keep the stamp.
                for run in 0..<60 { Self.record(run: "run-\(run)", into: HistoryRecorder(history: history, trigger: "agent"), finishing: true) }
                #expect(try modified() != before, "no checkpoint rewrote the database file: the test proves nothing")
            }
            // (Each opened and closed at once: the log is removed below, which an open pool would mind.)
            #expect(try RunHistory(cacheRoot: cache).checkedIntegrity == false)
            #expect(try RunHistory(cacheRoot: cache, integrity: .always).checkedIntegrity)
            #expect(try RunHistory(cacheRoot: cache, integrity: .never).checkedIntegrity == false)

            // Another program damages every page but the header's (the log gone with them, as
            // after a copy over the file): the next open checks, finds it and rebuilds.
            for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: database + suffix) }
            let handle = try #require(FileHandle(forUpdatingAtPath: database))
            let size = try handle.seekToEnd()
            try handle.seek(toOffset: 4096)
            try handle.write(contentsOf: Data((4096..<Int(size)).map { UInt8(truncatingIfNeeded: $0 &* 7919 &+ 13) }))
            try handle.close()
            let damaged = try RunHistory(cacheRoot: cache)
            #expect(damaged.checkedIntegrity)
            let recovery = try #require(damaged.recovery)
            #expect(recovery.rebuiltRuns == 60)
            #expect(try damaged.count() == 60)
            #expect(!(try RunHistory(cacheRoot: cache).checkedIntegrity))
        }
    }

    @Test func doctorReportsARecoveryItPerformsAndAHealthyHistory() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-history") { cache in
            let healthy = RunHistory.doctorCheck(cacheRoot: cache)
            #expect(healthy.ok && healthy.detail == "ok, 0 runs", "\(healthy.detail)")
            try Data("not a database at all, just text".utf8).write(to: cache.appendingPathComponent("runs/history.sqlite"))
            let recovered = RunHistory.doctorCheck(cacheRoot: cache)
            #expect(recovered.name == "run history")
            #expect(recovered.ok && recovered.detail.hasPrefix("recovered from a corrupt file"), "\(recovered.detail)")
            #expect(recovered.detail.contains("moved aside to \(cache.path)/runs/history.sqlite.corrupt-"), "\(recovered.detail)")
        }
    }

    @Test func aHistoryThatCannotBeOpenedIsAnErrorNotACrash() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-history") { cache in
            // A file where the runs folder should be.
            try Data("x".utf8).write(to: cache.appendingPathComponent("runs"))
            #expect(throws: RunHistoryError.self) { try RunHistory(cacheRoot: cache) }
            let opened = HistoryRecorder.open(cacheRoot: cache, trigger: .agent)
            #expect(opened.recorder == nil)
            #expect(opened.notices.first?.contains("this run is not recorded") == true, "\(opened.notices)")
            #expect(!RunHistory.doctorCheck(cacheRoot: cache).ok)
        }
    }

    @Test func oneRecorderKeepsOverlappingRunsApart() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-history") { cache in
            let history = try RunHistory(cacheRoot: cache)
            let recorder = HistoryRecorder(history: history, trigger: "local")
            // As watch does when it starts a rerun before the cancelled run has finished.
            for run in ["a", "b"] { recorder.record(RunEvent(run: run, .runStarted(pipeline: "p", source: "/s", ref: nil, cacheRoot: "/c"))) }
            for run in ["a", "b"] { recorder.record(RunEvent(run: run, .log(stage: "build", stream: "stdout", line: "from \(run)"))) }
            for run in ["a", "b"] { recorder.record(RunEvent(run: run, .runFinished(Self.summary(run: run)))) }

            for run in ["a", "b"] {
                let lines = try String(contentsOf: history.eventsFile(run: run), encoding: .utf8).split(separator: "\n")
                let events = try lines.map { try RunEvent(jsonLine: $0) }
                #expect(events.map(\.name) == ["run-started", "log", "run-finished"])
                #expect(events.allSatisfy { $0.run == run })
                let details = try #require(try history.run(run))
                #expect(history.logLines(run: details).map(\.line) == ["from \(run)"])
                #expect(details.summary?.run == run && details.record.status == "passed")
            }
        }
    }

    /// A run's memory must not grow with what its stages log, so the recorder holds no
    /// line back — each one is in the stage's log file and in events.jsonl once `record` returns.
    @Test func eachLogLineIsOnDiskAsSoonAsItIsRecordedNotAtTheRunsEnd() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-history") { cache in
            let history = try RunHistory(cacheRoot: cache)
            let recorder = HistoryRecorder(history: history, trigger: "agent")
            recorder.record(RunEvent(run: "r", .runStarted(pipeline: "p", source: "/s", ref: nil, cacheRoot: "/c")))
            for number in 1...3 {
                recorder.record(RunEvent(run: "r", .log(stage: "build", stream: "stdout", line: "line \(number)")))
                let log = try String(contentsOf: history.logFile(run: "r", stage: "build"), encoding: .utf8)
                #expect(log == (1...number).map { "line \($0)\n" }.joined(), "after line \(number)")
                let events = try String(contentsOf: history.eventsFile(run: "r"), encoding: .utf8).split(separator: "\n")
                #expect(events.count == 1 + number, "after line \(number)")
                #expect(try RunEvent(jsonLine: events[events.count - 1]).name == "log")
            }
            recorder.record(RunEvent(run: "r", .runFinished(Self.summary(run: "r"))))
        }
    }

    @Test func theListingJSONIsTheSchemaOneLine() throws {
        let record = RunRecord(id: "20261129-065212-4f3a", pipeline: "example", source: "/src/\"q\"", ref: nil, commitSHA: "abc",
                               trigger: "agent", status: "passed", startedAt: try #require(RunEvent.date(rfc3339: "2026-11-29T06:52:12.345Z")),
                               durationMilliseconds: 1234, pid: 1, summary: nil)
        // Byte for byte what `runs ls --json` printed before the listing moved into the library.
        #expect(record.jsonLine == #"{"run":"20261129-065212-4f3a","pipeline":"example","source":"/src/\"q\"","ref":null,"commit":"abc","trigger":"agent","status":"passed","started":"2026-11-29T06:52:12.345Z","duration_ms":1234}"#)
        var running = record
        running.ref = "main"
        running.durationMilliseconds = nil
        #expect(running.jsonLine.hasSuffix(#""ref":"main","commit":"abc","trigger":"agent","status":"passed","started":"2026-11-29T06:52:12.345Z","duration_ms":null}"#))
    }

    @Test func aFollowerSeesEachEventAsItIsWrittenInOrderAndEndsAtRunFinished() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-history") { cache in
            let history = try RunHistory(cacheRoot: cache)
            let recorder = HistoryRecorder(history: history, trigger: "agent")
            recorder.record(RunEvent(run: "live", .runStarted(pipeline: "p", source: "/s", ref: nil, cacheRoot: cache.path)))
            // A re-check far beyond the test's bounds: every event seen in time was announced by inotify.
            let follower = Follower(try history.follow(run: "live", recheckEvery: .seconds(3600)))
            // 30 s: inotify answers in milliseconds; the bound only guards a hang on a loaded machine.
            #expect(await eventually(timeout: .seconds(30)) { follower.lines.count == 1 })
            // One event at a time, each written only after the follower saw the previous one.
            let later: [RunEvent.Body] = [
                .stageStarted(stage: "build", kind: "nix-build"),
                .log(stage: "build", stream: "stderr", line: "line 1"),
                .log(stage: "build", stream: "stdout", line: "line 2"),
                .stageFinished(Self.buildResult),
                .runFinished(Self.summary(run: "live")),
            ]
            var written: [String] = [follower.lines.first ?? ""]
            var latencies: [Duration] = []
            for body in later {
                let event = RunEvent(run: "live", body)
                let writtenAt = ContinuousClock.now
                recorder.record(event)
                written.append(event.jsonLine())
                #expect(await eventually(timeout: .seconds(30)) { follower.lines.count == written.count }, "\(follower.lines)")
                if let seen = follower.seenAt.last { latencies.append(writtenAt.duration(to: seen)) }
            }
            // A figure for the record, not an assertion: on a loaded machine it varies.
            print("follow latency, write to follower: max \(latencies.max() ?? .zero) over \(latencies.count) events")
            #expect(follower.lines == written)
            #expect(await eventually(timeout: .seconds(30)) { follower.ended }, "the follow goes on after run-finished")
            #expect(follower.failure == nil)

            // The log follow of a finished run gives its lines and ends.
            var lines: [LogLine] = []
            for try await line in try history.followLogs(run: "live", stage: "build") { lines.append(line) }
            #expect(lines == [LogLine(stage: "build", stream: "stderr", line: "line 1"), LogLine(stage: "build", stream: "stdout", line: "line 2")])
        }
    }

    /// A dashboard with 100 live feeds of one run holds one inotify instance for them, not 100
    /// (a user has 128 in all): followers of one folder share its watch, and every one of them
    /// still sees every event, woken by inotify alone.
    @Test func followersOfOneRunShareOneWatchAndEachSeesEveryEvent() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-history") { cache in
            let history = try RunHistory(cacheRoot: cache)
            let recorder = HistoryRecorder(history: history, trigger: "agent")
            recorder.record(RunEvent(run: "shared", .runStarted(pipeline: "p", source: "/s", ref: nil, cacheRoot: cache.path)))
            let before = Self.inotifyInstances()
            let followers = try (0..<100).map { _ in Follower(try history.follow(run: "shared", recheckEvery: .seconds(3600))) }
            #expect(await eventually(timeout: .seconds(30)) { followers.allSatisfy { $0.lines.count == 1 } })
            let during = Self.inotifyInstances()
            // Other suites running beside this one open a few of their own: far fewer than 100.
            #expect(during - before < 20, "100 followers opened \(during - before) inotify instances")
            recorder.record(RunEvent(run: "shared", .log(stage: "build", stream: "stdout", line: "to all")))
            recorder.record(RunEvent(run: "shared", .runFinished(Self.summary(run: "shared"))))
            #expect(await eventually(timeout: .seconds(30)) { followers.allSatisfy { $0.ended } })
            #expect(followers.allSatisfy { $0.lines.count == 3 && $0.failure == nil })
        }
    }

    /// Feeds of 100 different runs (a dashboard whose visitors each follow another run) share
    /// one inotify instance too: one watch per run folder, all on the process's one descriptor,
    /// and each follower sees the events of its own run and of no other.
    @Test func followersOfManyRunsShareOneInotifyInstance() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-history") { cache in
            let history = try RunHistory(cacheRoot: cache)
            let recorder = HistoryRecorder(history: history, trigger: "agent")
            let runs = (0..<100).map { "many-\($0)" }
            for run in runs { recorder.record(RunEvent(run: run, .runStarted(pipeline: "p", source: "/s", ref: nil, cacheRoot: cache.path))) }
            let before = Self.inotifyInstances()
            let followers = try runs.map { Follower(try history.follow(run: $0, recheckEvery: .seconds(3600))) }
            #expect(await eventually(timeout: .seconds(30)) { followers.allSatisfy { $0.lines.count == 1 } })
            let during = Self.inotifyInstances()
            // Other suites running beside this one open a few of their own: far fewer than 100.
            #expect(during - before < 20, "followers of 100 runs opened \(during - before) inotify instances")
            for run in runs {
                recorder.record(RunEvent(run: run, .log(stage: "build", stream: "stdout", line: "to \(run)")))
                recorder.record(RunEvent(run: run, .runFinished(Self.summary(run: run))))
            }
            #expect(await eventually(timeout: .seconds(30)) { followers.allSatisfy { $0.ended } })
            for (run, follower) in zip(runs, followers) {
                #expect(follower.lines.count == 3 && follower.failure == nil)
                #expect(follower.lines.dropFirst().first?.contains("to \(run)\"") == true, "\(follower.lines)")
            }
        }
    }

    /// The inotify instances this process holds (`/proc/self/fd` links to `anon_inode:inotify`).
    static func inotifyInstances() -> Int {
        let folder = "/proc/self/fd"
        return ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "\(folder)/\($0)")) == "anon_inode:inotify"
        }.count
    }

    @Test func followingARunWhoseProcessDiesEnds() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-history") { cache in
            let history = try RunHistory(cacheRoot: cache)
            // The run's process: a child that we kill, as kill -9 would end a run.
            let child = Process()
            child.executableURL = URL(fileURLWithPath: "/bin/sleep")
            child.arguments = ["600"]
            try child.run()
            let recorder = HistoryRecorder(history: history, trigger: "agent", pid: child.processIdentifier)
            recorder.record(RunEvent(run: "doomed", .runStarted(pipeline: "p", source: "/s", ref: nil, cacheRoot: cache.path)))
            recorder.record(RunEvent(run: "doomed", .stageStarted(stage: "build", kind: "nix-build")))
            let follower = Follower(try history.follow(run: "doomed", recheckEvery: .milliseconds(200)))
            #expect(await eventually(timeout: .seconds(30)) { follower.lines.count == 2 })
            #expect(!follower.ended)

            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()

            // Generous: the follower notices within one re-check (200 ms) once it is scheduled.
            #expect(await eventually(timeout: .seconds(30)) { follower.ended })
            #expect(follower.failure == nil && follower.lines.count == 2)
            #expect(try history.run("doomed")?.record.status == "abandoned")
        }
    }

    // MARK: Helpers

    static let buildResult = StageResult(name: "build", kind: "nix-build", status: .passed, cached: false, durationMilliseconds: 7,
                                         outputs: [("out", .string("/nix/store/x"))])

    static func summary(run: String) -> RunSummary {
        RunSummary(run: run, pipeline: "p", commit: "abc", status: .passed, durationMilliseconds: 9, stages: [buildResult])
    }

    /// The events of a small run, as the engine would send them.
    @Test func stageDurationHistogramsCountWhatRecordingEachStageCounts() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-history") { cache in
            let history = try RunHistory(cacheRoot: cache)
            let recorder = HistoryRecorder(history: history, trigger: "agent")
            // 40 stages of three kinds (every duration below at least once): on the bounds (50 ms, 250 ms, 1 s, 1 h), a millisecond
            // either side, zero, and past the last bound, so an off-by-one in the comparison or
            // the unit shows as a count that differs.
            let durations: [Int64] = [0, 49, 50, 51, 249, 250, 251, 999, 1000, 1001, 4_999, 5_000, 14_999, 15_000,
                                      59_999, 60_000, 300_000, 899_999, 900_000, 3_600_000, 3_600_001, 7_200_000]
            let kinds = ["checkout", "nix-build", "smoke"]
            for run in 0..<4 {
                let stages = (0..<10).map { index in
                    let duration = durations[(run * 10 + index) % durations.count]
                    return StageResult(name: "s\(index)", kind: kinds[(run + index) % kinds.count], status: .passed, cached: false,
                                       durationMilliseconds: duration)
                }
                let id = "run-\(run)"
                recorder.record(RunEvent(run: id, .runStarted(pipeline: "p", source: "/s", ref: "main", cacheRoot: cache.path)))
                recorder.record(RunEvent(run: id, .runFinished(RunSummary(run: id, pipeline: "p", commit: "", status: .passed,
                                                                          durationMilliseconds: 1, stages: stages))))
            }
            let bounds: [Double] = [0.05, 0.25, 1, 5, 15, 60, 300, 900, 3600]
            // What a Prometheus histogram holds after recording each stage's seconds in turn:
            // a bucket counts every value at or under its bound.
            let stages = try history.stagesOfLatestRuns(100).stages
            #expect(stages.count == 40)
            var expected: [StageDurationHistogram] = []
            for (kind, ofKind) in Dictionary(grouping: stages, by: \.kind).sorted(by: { $0.key < $1.key }) {
                let seconds = ofKind.map { Double($0.durationMilliseconds) / 1000 }
                expected.append(StageDurationHistogram(
                    kind: kind, count: ofKind.count, sumMilliseconds: ofKind.reduce(0) { $0 + $1.durationMilliseconds },
                    buckets: bounds.map { bound in .init(bound: bound, count: seconds.filter { $0 <= bound }.count) }))
            }
            let counted = try history.stageDurationHistograms(bounds: bounds)
            #expect(counted == expected)
            #expect(counted.map(\.kind) == kinds)
            // Not vacuous: the bounds split the fixture's stages (some bucket is neither 0 nor all).
            #expect(counted.contains { histogram in histogram.buckets.contains { $0.count > 0 && $0.count < histogram.count } })
        }
    }

    static func record(run: String, into recorder: HistoryRecorder, finishing: Bool) {
        recorder.record(RunEvent(run: run, .runStarted(pipeline: "p", source: "/s", ref: "main", cacheRoot: "/c")))
        recorder.record(RunEvent(run: run, .log(stage: "build", stream: "stderr", line: "building")))
        guard finishing else { return }
        recorder.record(RunEvent(run: run, .stageFinished(buildResult)))
        recorder.record(RunEvent(run: run, .runFinished(summary(run: run))))
    }
}

/// Reads a followed run's events in a task of its own, so the test can write and check in turn.
final class Follower: Sendable {
    private struct State {
        var lines: [String] = []
        var seenAt: [ContinuousClock.Instant] = []
        var ended = false
        var failure: String?
    }
    private let state = Mutex(State())

    /// Starts reading; the task ends with the sequence.
    init(_ events: AsyncThrowingStream<RunEvent, any Error>) {
        Task { [self] in
            do {
                for try await event in events {
                    state.withLock {
                        $0.lines.append(event.jsonLine())
                        $0.seenAt.append(.now)
                    }
                }
            } catch {
                state.withLock { $0.failure = "\(error)" }
            }
            state.withLock { $0.ended = true }
        }
    }

    /// The event lines seen so far.
    var lines: [String] { state.withLock { $0.lines } }
    /// When each was seen.
    var seenAt: [ContinuousClock.Instant] { state.withLock { $0.seenAt } }
    /// Whether the sequence ended.
    var ended: Bool { state.withLock { $0.ended } }
    /// Why it ended with an error, if it did.
    var failure: String? { state.withLock { $0.failure } }
}
