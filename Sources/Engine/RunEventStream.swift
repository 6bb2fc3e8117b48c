import Pipeline
import RunEvents
import Synchronization

extension Engine {
    /// The most `log` events ``events(_:options:)`` holds for a consumer that has not read them
    /// yet. Past it, a stage's further lines are dropped until the consumer catches up, and then
    /// one line says how many were (see ``LogBacklog``).
    public static let maximumQueuedLogEvents = 10_000

    /// Runs `plan` as an `AsyncSequence` of its events, in order; the last is `runFinished`
    /// (`.runFinished(summary)`). Built on `run(_:options:sink:)`: the run starts when
    /// this is called and ends when the stream finishes. Cancelling the consuming task (or
    /// dropping the stream) cancels the run, which then cleans up as on Ctrl-C (its containers
    /// are removed, the summary says `cancelled`).
    ///
    /// Every event but `log` is kept for a slow consumer, however far behind: events are small
    /// and losing one (a stage's result) is worse than holding a backlog. `log` events are not
    /// small in number — a stage may print millions of lines — so at most
    /// ``maximumQueuedLogEvents`` of them wait; lines beyond are dropped, and counted in a `log`
    /// line of their stage once the consumer has caught up. A consumer that must keep every line
    /// passes a sink to `run(_:options:sink:)`, which writes as the events come (as the CLI and
    /// the run history do).
    public func events(_ plan: Plan, options: RunOptions) -> AsyncStream<RunEvent> {
        events(plan, options: options, maximumQueuedLogEvents: Self.maximumQueuedLogEvents)
    }

    /// ``events(_:options:)`` with another bound on the log events it holds (tests use a small one).
    func events(_ plan: Plan, options: RunOptions, maximumQueuedLogEvents: Int) -> AsyncStream<RunEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: RunEvent.self, bufferingPolicy: .unbounded)
        let backlog = LogBacklog(limit: maximumQueuedLogEvents, continuation: continuation)
        let run = Task {
            _ = await self.run(plan, options: options) { backlog.offer($0) }
            continuation.finish()
        }
        continuation.onTermination = { _ in run.cancel() }
        let reader = BacklogReader(iterator: stream.makeAsyncIterator(), backlog: backlog)
        return AsyncStream(unfolding: { await reader.next() })
    }
}

/// The queue between a run and the consumer of its event stream, counting the `log` events it
/// holds: beyond `limit` a log line is dropped (and counted for its stage); the next event that
/// finds room is preceded by one `log` line per stage saying how many of its lines were dropped.
final class LogBacklog: Sendable {
    private struct State {
        var queued = 0
        var dropped: [String: Int] = [:]
    }
    private let limit: Int
    private let continuation: AsyncStream<RunEvent>.Continuation
    private let state = Mutex(State())

    init(limit: Int, continuation: AsyncStream<RunEvent>.Continuation) {
        self.limit = max(1, limit)
        self.continuation = continuation
    }

    /// Queues `event` for the consumer, or drops it if it is a log line and `limit` are queued.
    func offer(_ event: RunEvent) {
        // Yielded under the lock: events of concurrent stages keep one order, notices included.
        state.withLock { state in
            let stage = Self.logStage(of: event)
            if let stage, state.queued >= limit {
                state.dropped[stage, default: 0] += 1
                return
            }
            for (dropped, count) in state.dropped.sorted(by: { $0.key < $1.key }) {
                let line = "[sutradhar] \(count) log line\(count == 1 ? "" : "s") of this stage dropped here: "
                    + "the reader of this run's event stream fell \(limit) lines behind"
                continuation.yield(RunEvent(run: event.run, .log(stage: dropped, stream: "stderr", line: line)))
                state.queued += 1
            }
            state.dropped = [:]
            continuation.yield(event)
            if stage != nil { state.queued += 1 }
        }
    }

    /// The consumer has taken `event` off the queue.
    func taken(_ event: RunEvent) {
        guard Self.logStage(of: event) != nil else { return }
        state.withLock { $0.queued -= 1 }
    }

    private static func logStage(of event: RunEvent) -> String? {
        if case .log(let stage, _, _) = event.body { return stage }
        return nil
    }
}

/// The one consumer of a backlog's stream, telling the backlog what it took.
///
/// `@unchecked Sendable`: `AsyncStream(unfolding:)` calls `next()` from its one consumer, one
/// call at a time.
private final class BacklogReader: @unchecked Sendable {
    private var iterator: AsyncStream<RunEvent>.Iterator
    private let backlog: LogBacklog

    init(iterator: AsyncStream<RunEvent>.Iterator, backlog: LogBacklog) {
        self.iterator = iterator
        self.backlog = backlog
    }

    func next() async -> RunEvent? {
        var iterator = self.iterator
        let event = await iterator.next()
        self.iterator = iterator
        if let event { backlog.taken(event) }
        return event
    }
}
