import Dispatch
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import DockerEngine

/// Every call to the daemon is bounded by a deadline; streamed bodies are read one chunk at a time
/// under it. A call that ends first must leave nothing behind until its deadline (each
/// chunk of a followed log left a `Task.sleep` job alive for an hour, ~700 bytes per log line).
@Suite struct DeadlineTests {
    private let host = DockerHost(socketPath: "/nonexistent/docker.sock", origin: .flag, reason: "test")

    @Test func callsThatEndBeforeTheirDeadlineLeaveNoTimerArmed() async throws {
        let loop = TimerCountingEventLoop(MultiThreadedEventLoopGroup.singleton.any())
        for number in 1...100 {
            let value = try await withDeadline(Deadline(after: .seconds(3600)), "GET /test", "read a chunk", host: host, on: loop) {
                number
            }
            #expect(value == number)
        }
        #expect(loop.counts.scheduled == 100, "the calls were not bounded by the loop's timers")
        #expect(loop.counts.armed == 0, "\(loop.counts.armed) timers of finished calls are still armed")
    }

    @Test func theReadsOfAStreamedBodyShareOneTimer() async throws {
        let loop = TimerCountingEventLoop(MultiThreadedEventLoopGroup.singleton.any())
        let deadline = Deadline(after: .seconds(3600))
        let timer = DeadlineTimer(deadline.instant, on: loop)
        for number in 1...100 {
            let value = try await withDeadline(deadline, "GET /test", "read a chunk", host: host, timer: timer) { number }
            #expect(value == number)
        }
        #expect(loop.counts.scheduled == 1, "each read armed a timer of its own")
        timer.cancel()
        #expect(loop.counts.armed == 0)
    }

    @Test func aCallStillRunningAtItsDeadlineTimesOutAndIsCancelled() async throws {
        let loop = TimerCountingEventLoop(MultiThreadedEventLoopGroup.singleton.any())
        let error = await #expect(throws: DockerError.self) {
            try await withDeadline(Deadline(after: .milliseconds(20)), "GET /test", "read a chunk", host: host, on: loop) {
                // Ends only when cancelled.
                try await Task.sleep(for: .seconds(3600))
                return 0
            }
        }
        #expect(error?.code == .timeout)
        #expect(loop.counts.armed == 0)
    }
}

/// An event loop that runs everything on `base` and counts the timers scheduled on it and those
/// still armed (neither fired nor cancelled).
private final class TimerCountingEventLoop: EventLoop, Sendable {
    private let base: any EventLoop
    private let state = Mutex((scheduled: 0, next: 0, armed: Set<Int>()))

    init(_ base: any EventLoop) { self.base = base }

    var counts: (scheduled: Int, armed: Int) { state.withLock { ($0.scheduled, $0.armed.count) } }

    var inEventLoop: Bool { base.inEventLoop }

    func execute(_ task: @escaping @Sendable () -> Void) { base.execute(task) }

    func scheduleTask<T>(deadline: NIODeadline, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
        let id = state.withLock { state -> Int in
            state.scheduled += 1
            state.next += 1
            state.armed.insert(state.next)
            return state.next
        }
        let promise = makePromise(of: T.self)
        let inner = base.scheduleTask(deadline: deadline) { [self] () -> Void in
            guard disarm(id) else { return }
            // On the loop's thread: the value need not be Sendable.
            do { promise.assumeIsolated().succeed(try task()) } catch { promise.fail(error) }
        }
        return Scheduled(promise: promise, cancellationTask: { [self] in
            inner.cancel()
            _ = disarm(id)
        })
    }

    /// Whether timer `id` was still armed.
    private func disarm(_ id: Int) -> Bool {
        state.withLock { $0.armed.remove(id) } != nil
    }

    func scheduleTask<T>(in delay: TimeAmount, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
        scheduleTask(deadline: .now() + delay, task)
    }

    func shutdownGracefully(queue: DispatchQueue, _ callback: @escaping @Sendable ((any Error)?) -> Void) {
        queue.async { callback(nil) }
    }
}
