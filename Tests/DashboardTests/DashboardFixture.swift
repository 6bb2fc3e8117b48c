import Foundation
import Hummingbird
import HummingbirdTesting
import SutradharDashboard
import SutradharKit
import SutradharTesting

#if canImport(Glibc)
import Glibc
#endif

/// A temporary cache with three runs recorded through the real `HistoryRecorder`, as the
/// engine would send their events: one passed (a cached stage, a lock wait), one failed (its
/// error text and a log line are `<script>` tags), one still running (this process).
struct DashboardFixture {
    let cache: URL
    let history: RunHistory

    static let passed = "20261201-100000-aaaa"
    static let failed = "20261201-110000-bbbb"
    static let running = "20261201-120000-cccc"
    static let hostile = "<script>alert(1)</script>"
    static let start = Date(timeIntervalSince1970: 1_796_000_000)

    /// Runs `body` with a fresh fixture, removed afterwards.
    static func with<T>(_ body: (DashboardFixture) async throws -> T) async throws -> T {
        try await GitFixtures.withTemporaryDirectory("sutradhar-dashboard") { cache in
            let history = try RunHistory(cacheRoot: cache)
            let fixture = DashboardFixture(cache: cache, history: history)
            fixture.recordPassed()
            fixture.recordFailed()
            fixture.recordRunning()
            return try await body(fixture)
        }
    }

    func at(_ seconds: Double) -> Date { Self.start.addingTimeInterval(seconds) }

    func recordPassed() {
        let recorder = HistoryRecorder(history: history, trigger: "nightly")
        let id = Self.passed
        let build = StageResult(name: "build", kind: "nix-build", status: .passed, cached: true, durationMilliseconds: 1000,
                                outputs: [("out", .string("/nix/store/abc-hello"))])
        let smoke = StageResult(name: "smoke", kind: "container", status: .passed, cached: false, durationMilliseconds: 4000,
                                outputs: [("image", .string("sha256:1234")), ("probe_attempts", .int(2))])
        let checkout = StageResult(name: "checkout", kind: "checkout", status: .passed, cached: false, durationMilliseconds: 500)
        let events: [(Double, RunEvent.Body)] = [
            (0, .runStarted(pipeline: "example", source: "/src", ref: "main", cacheRoot: cache.path)),
            (0.1, .queued(reason: "2 runs are working on this cache")),
            (1, .stageStarted(stage: "checkout", kind: "checkout")),
            (1.5, .stageFinished(checkout)),
            (1.5, .stageStarted(stage: "build", kind: "nix-build")),
            (2.5, .stageFinished(build)),
            (2.5, .stageStarted(stage: "smoke", kind: "container")),
            (2.6, .stageWaiting(stage: "smoke", reason: "run x (stage smoke) is loading the same image; waiting for it", heldBy: nil)),
            (4, .log(stage: "smoke", stream: "stdout", line: "smoke ok")),
            (6.5, .stageFinished(smoke)),
            (7, .runFinished(RunSummary(run: id, pipeline: "example", commit: String(repeating: "a", count: 40), status: .passed,
                                        durationMilliseconds: 7000, stages: [checkout, build, smoke]))),
        ]
        for (time, body) in events { recorder.record(RunEvent(run: id, body, time: at(time))) }
    }

    func recordFailed() {
        let recorder = HistoryRecorder(history: history, trigger: "manual")
        let id = Self.failed
        let checkout = StageResult(name: "checkout", kind: "checkout", status: .passed, cached: false, durationMilliseconds: 500)
        let smoke = StageResult(name: "smoke", kind: "container", status: .failed, cached: false, durationMilliseconds: 2000,
                                error: "probe failed: \(Self.hostile)", code: .probeFailed)
        let events: [(Double, RunEvent.Body)] = [
            (3600, .runStarted(pipeline: "example", source: "/src", ref: "main", cacheRoot: cache.path)),
            (3600.5, .stageStarted(stage: "checkout", kind: "checkout")),
            (3601, .stageFinished(checkout)),
            (3601, .stageStarted(stage: "smoke", kind: "container")),
            (3602, .log(stage: "smoke", stream: "stderr", line: Self.hostile)),
            (3603, .stageFinished(smoke)),
            (3603, .log(stage: "docker-audit", stream: "stdout", line: "container create sutradhar-smoke")),
            (3604, .runFinished(RunSummary(run: id, pipeline: "example", commit: String(repeating: "b", count: 40), status: .failed,
                                           durationMilliseconds: 4000, stages: [checkout, smoke]))),
        ]
        for (time, body) in events { recorder.record(RunEvent(run: id, body, time: at(time))) }
    }

    /// A run in progress: recorded as run by this (living) process.
    func recordRunning() {
        let recorder = HistoryRecorder(history: history, trigger: "agent", pid: getpid())
        let id = Self.running
        recorder.record(RunEvent(run: id, .runStarted(pipeline: "other", source: "/src", ref: nil, cacheRoot: cache.path), time: at(7200)))
        recorder.record(RunEvent(run: id, .stageStarted(stage: "build", kind: "nix-build"), time: at(7201)))
        recorder.record(RunEvent(run: id, .log(stage: "build", stream: "stderr", line: "building"), time: at(7202)))
    }

    func configuration(token: String? = nil, allowTrigger: Bool = false) -> DashboardConfiguration {
        DashboardConfiguration(cacheRoot: cache, definitionsFolder: cache, token: token, allowTrigger: allowTrigger)
    }

    /// The router on this cache, under HummingbirdTesting.
    func test<T>(token: String? = nil, allowTrigger: Bool = false, _ body: @Sendable (any TestClientProtocol) async throws -> T) async throws -> T {
        let services = try DashboardServices(configuration: configuration(token: token, allowTrigger: allowTrigger))
        let application = Application(router: Dashboard.makeRouter(services: services))
        return try await application.test(.router, body)
    }
}

extension TestResponse {
    /// The body as text.
    var text: String { String(buffer: body) }
}
