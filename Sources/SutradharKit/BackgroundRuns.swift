import Engine
import Foundation
import Pipeline
import RunHistory
import Synchronization

/// Runs started by a front end that answers before they finish (the dashboard's "run again"):
/// each run is recorded in the history like any other, and `start` returns its ID as soon as
/// the engine has named it, so the caller can point at the run's page. `cancelAllAndWait`
/// cancels them (as Ctrl-C does) and waits for their cleanup, for a server that stops.
public final class BackgroundRuns: Sendable {
    private let tasks = Mutex<[String: Task<RunSummary, Never>]>([:])
    private let stopping = Mutex(false)

    /// No runs yet.
    public init() {}

    /// The IDs of the runs still in flight.
    public var running: [String] { tasks.withLock { Array($0.keys) } }

    /// Starts `plan` with `options`, recorded in the history of `options.cacheRoot` with
    /// `trigger`, and returns the run's ID once its run-started event was emitted (a run that
    /// fails before that, say a bad cache root, still gets an ID and a recorded summary).
    /// - Throws: `BackgroundRunRefused` when stopping.
    public func start(_ plan: Plan, options: RunOptions, trigger: RunTrigger) async throws(BackgroundRunRefused) -> String {
        guard !stopping.withLock({ $0 }) else { throw BackgroundRunRefused(message: "the server is stopping; no new runs") }
        var options = options
        let (recorder, notices) = HistoryRecorder.open(cacheRoot: options.cacheRoot, trigger: trigger.rawValue)
        options.warnings += notices
        let (named, nameIt) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(1))
        let runOptions = options
        let task = Task {
            let summary = await Engine().run(plan, options: runOptions) { event in
                recorder?.record(event)
                if case .runStarted = event.body { nameIt.yield(event.run) }
            }
            nameIt.finish()
            return summary
        }
        let id: String
        if let first = await named.first(where: { _ in true }) {
            id = first
        } else {
            id = await task.value.run  // the engine ended without a run-started event
        }
        nameIt.finish()
        tasks.withLock { $0[id] = task }
        Task { [weak self] in
            _ = await task.value
            _ = self?.tasks.withLock { $0.removeValue(forKey: id) }
        }
        return id
    }

    /// Cancels every run in flight and waits until each has cleaned up; later `start`s are refused.
    public func cancelAllAndWait() async {
        stopping.withLock { $0 = true }
        let running = tasks.withLock { Array($0.values) }
        for task in running { task.cancel() }
        for task in running { _ = await task.value }
    }
}

/// A background run was refused (the front end is stopping).
public struct BackgroundRunRefused: Error, Sendable, CustomStringConvertible {
    /// Why, and what to do.
    public let message: String
    public var description: String { message }
}
