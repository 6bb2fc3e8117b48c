import Engine
import Foundation
import RunEvents
import RunHistory
import SutradharTesting
import Testing

/// SIGINT and SIGTERM are taken over first thing in `main` (the chaos suite saw a SIGTERM at
/// start-up take the default action: exit 143, nothing said). A command that started nothing to
/// clean up — here `runs logs --follow`, which only reads — must still exit 130 on SIGTERM.
@Suite struct SignalExitTests {
    @Test func sigtermToACommandThatStartedNothingExits130() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-signal") { cache in
            let history = try RunHistory(cacheRoot: cache)
            // A run recorded by this (live) process: it stays "running", so --follow waits.
            let recorder = HistoryRecorder(history: history, trigger: "agent")
            let run = "20261202-000000-5157"
            recorder.record(RunEvent(run: run, .runStarted(pipeline: "web", source: "/s", ref: nil, cacheRoot: cache.path)))
            recorder.record(RunEvent(run: run, .log(stage: "build", stream: "stderr", line: "first line")))
            let follow = try SutradharCLI.start(["runs", "logs", run, "--follow", "--cache-dir", cache.path])
            let following = await follow.waitForOutput(containing: "first line", timeout: .seconds(60))
            follow.signal(SIGTERM)
            let result = await follow.finish(timeout: .seconds(30))
            #expect(following, "runs logs --follow did not print the run's line: \("stdout: \(result.stdout) stderr: \(result.stderr)")")
            #expect(result.exitCode == 130, "stdout: \(result.stdout) stderr: \(result.stderr)")
        }
    }
}
