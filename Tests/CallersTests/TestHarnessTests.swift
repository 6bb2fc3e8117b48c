import Foundation
import SutradharTesting
import Testing

/// What CI's test command promises about hangs (docs/development.md): a pass that hangs fails,
/// naming the tests that never finished, instead of running into CI's time limit; and the test
/// helpers never wait for good for a program they started.
@Suite struct TestHarnessTests {
    static let watchdog = SutradharCLI.repositoryRoot.appendingPathComponent("scripts/test-watchdog.sh").path

    @Test func aHangingPassIsKilledAndNamesTheTestsThatNeverFinished() async throws {
        let pass = #"echo "◇ Test fine() started."; echo "✔ Test fine() passed after 0.1 seconds."; "#
            + #"echo "◇ Test stuck(x:) started."; exec sleep 600"#
        let (status, output) = try await ScriptRunner.run("/bin/bash", ["-c", "source '\(Self.watchdog)'; run_pass 2 bash -c '\(pass)'"],
                                                          timeout: .seconds(120))
        #expect(status != 0, "a hung pass must fail the run: \(output)")
        #expect(output.contains("[test] HANG: this pass has run for 2 s"), "\(output)")
        let unfinished = output.components(separatedBy: "never finished:\n").last?.components(separatedBy: "[test] processes").first ?? ""
        #expect(unfinished.contains("stuck(x:)") && !unfinished.contains("fine()"), "\(output)")
        #expect(output.contains("sleep 600"), "the processes of the pass are listed: \(output)")
    }

    @Test func aPassThatEndsInTimeKeepsItsOwnStatus() async throws {
        let (status, output) = try await ScriptRunner.run("/bin/bash", ["-c", "source '\(Self.watchdog)'; run_pass 60 bash -c 'echo hi; exit 3'"])
        #expect(status == 3, "\(output)")
        #expect(output.contains("hi") && !output.contains("HANG"), "\(output)")
    }

    @Test func aToolThatDoesNotEndInTimeIsKilledAndReported() throws {
        let started = ContinuousClock.now
        #expect(throws: DockerTestSupportError.self) {
            try DockerTestSupport.run("/bin/sleep", ["600"], timeout: .seconds(1))
        }
        // Bounded generously: the point is that it did not wait the 600 s.
        #expect(ContinuousClock.now - started < .seconds(120))
    }
}
