import Dispatch
import Foundation
import Synchronization

/// SIGINT (Ctrl-C) and SIGTERM, for the whole process. `install()` runs first thing in `main`,
/// before the arguments are parsed, so there is no moment at which a signal takes the default
/// action (exit 143 for SIGTERM, with nothing cleaned up and nothing said). What a signal does
/// depends on what is running:
/// - inside `handling(onSignal:_:)`, the first signal calls `onSignal` (a run cancels its Task, so
///   every scoped resource — containers, subprocesses, locks — is cleaned up on the way out);
/// - outside it, nothing has been started that needs cleaning up, so the process exits with 130;
/// - a second signal, while cleanup runs, exits at once with 130.
enum Interrupts {
    /// Takes SIGINT and SIGTERM over from their default action. Call once, before anything else.
    static func install() {
        router.install()
    }

    /// Runs `body`; the first SIGINT or SIGTERM while it runs calls `onSignal` instead of exiting.
    static func handling<T>(onSignal: @escaping @Sendable (Int32) -> Void, _ body: () async throws -> T) async rethrows -> T {
        router.setAction(onSignal)
        defer { router.setAction(nil) }
        return try await body()
    }

    /// Runs `body` in a Task that the first SIGINT or SIGTERM cancels.
    static func cancellingOnSignal<T: Sendable>(_ body: @escaping @Sendable () async -> T) async -> T {
        let task = Task { await body() }
        return await handling(onSignal: { _ in
            FileHandle.standardError.write(Data("\ninterrupted: stopping and cleaning up (again to force)\n".utf8))
            task.cancel()
        }) {
            await task.value
        }
    }

    private static let router = SignalRouter()

    /// The process's one handler of SIGINT and SIGTERM and what it should do now.
    private final class SignalRouter: Sendable {
        private struct State {
            var sources: [any DispatchSourceSignal] = []
            var action: (@Sendable (Int32) -> Void)?
            var received = 0
        }
        private let state = Mutex(State())

        func install() {
            state.withLock { state in
                guard state.sources.isEmpty else { return }
                let queue = DispatchQueue(label: "sutradhar.signals")
                state.sources = [SIGINT, SIGTERM].map { number in
                    // The dispatch source only sees the signal once its default action is off.
                    signal(number, SIG_IGN)
                    let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
                    source.setEventHandler { [self] in handle(number) }
                    source.resume()
                    return source
                }
            }
        }

        func setAction(_ newAction: (@Sendable (Int32) -> Void)?) {
            state.withLock { $0.action = newAction }
        }

        private func handle(_ number: Int32) {
            let (isFirst, action) = state.withLock { state in
                state.received += 1
                return (state.received == 1, state.action)
            }
            guard isFirst else {
                FileHandle.standardError.write(Data("\ninterrupted again: exiting without cleanup\n".utf8))
                Foundation.exit(130)
            }
            guard let action else {
                FileHandle.standardError.write(Data("\ninterrupted\n".utf8))
                Foundation.exit(130)
            }
            action(number)
        }
    }
}
