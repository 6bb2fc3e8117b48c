import Testing

@testable import Engine

/// A container's log forwarding is a child of its stage: it never outlives
/// the stage, whatever ends it, and it still reads the stream to its end when the container exits.
@Suite struct LogForwardingTests {
    private struct WaitFailed: Error {}

    @Test func aWaitThatFailsStopsTheForwardingBeforeTheStageEnds() async {
        let forwarding = EndlessForwarding()
        await #expect(throws: WaitFailed.self) {
            try await withLogForwarding(forwarding.run) {
                await forwarding.started.value
                // What a wait on a daemon that went away throws: neither a result nor a cancellation.
                throw WaitFailed()
            }
        }
        #expect(forwarding.ended.value, "the log forwarding was still running after its stage had ended")
    }

    @Test func cancellingTheStageStopsTheForwarding() async {
        let forwarding = EndlessForwarding()
        let stage = Task {
            try await withLogForwarding(forwarding.run) {
                await forwarding.started.value
                try await Task.sleep(for: .seconds(3600))
            }
        }
        await forwarding.started.value
        stage.cancel()
        _ = await stage.result
        #expect(forwarding.ended.value, "the log forwarding was still running after its stage was cancelled")
    }

    @Test func aWaitThatReturnsLetsTheForwardingReadToTheEndOfTheStream() async throws {
        let exited = OneShot<Void>()
        let lines = Shared<[String]>([])
        let code = try await withLogForwarding({
            // The daemon sends a container's last lines after it exited, then ends the stream.
            await exited.value
            lines.append("the last line")
        }) {
            exited.set(())
            return 0
        }
        #expect(code == 0)
        #expect(lines.value == ["the last line"], "the stream's last lines were dropped")
    }
}

/// A log stream that never ends on its own (a daemon that keeps the connection open): it ends
/// only when its task is cancelled, and says so.
private final class EndlessForwarding: Sendable {
    let started = OneShot<Void>()
    let ended = Shared<Bool>(false)
    private let cancelled = OneShot<Void>()

    var run: @Sendable () async -> Void {
        { [self] in
            started.set(())
            await withTaskCancellationHandler {
                await cancelled.value
            } onCancel: {
                cancelled.set(())
            }
            ended.set(true)
        }
    }
}
