import Dispatch
import Foundation

/// Turns Ctrl-C (SIGINT) and SIGTERM into Task cancellation, so every scoped resource of the
/// run (containers, subprocesses, locks) is cleaned up on the way out. A second signal while
/// cleanup runs exits at once with 130.
enum Interrupts {
    static func cancellingOnSignal<T: Sendable>(_ body: @escaping @Sendable () async -> T) async -> T {
        let task = Task { await body() }
        let signals = [SIGINT, SIGTERM]
        let queue = DispatchQueue(label: "sutradhar.signals")
        let received = Counter()
        let sources = signals.map { number -> any DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler {
                if received.increment() > 1 {
                    FileHandle.standardError.write(Data("\ninterrupted again: exiting without cleanup\n".utf8))
                    exit(130)
                }
                FileHandle.standardError.write(Data("\ninterrupted: stopping and cleaning up (again to force)\n".utf8))
                task.cancel()
            }
            source.resume()
            return source
        }
        let value = await task.value
        sources.forEach { $0.cancel() }
        return value
    }

    private final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var count = 0
        func increment() -> Int {
            lock.lock()
            defer { lock.unlock() }
            count += 1
            return count
        }
    }
}
