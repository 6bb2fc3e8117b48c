import Engine
import Foundation
import Pipeline
import RunEvents
import RunHistory
import RunTracing
import Synchronization

/// A run the launcher would not start: it is shutting down.
public struct RunRefused: Error, Sendable, CustomStringConvertible {
    /// Why, and what to do.
    public let message: String
    public var description: String { message }
}

/// The one way a run is started, by every front end (the CLI's `run`, `watch` and `nightly`, the
/// MCP server, the dashboard): open the history recorder of the run's cache (what opening it had
/// to repair becomes a warning of the run), run the plan, record every event, hand each to the
/// caller, and keep the run registered until it has cleaned up, so that a front end that stops
/// (`cancelAllAndWait`) cancels it as Ctrl-C does and waits for its containers to be removed.
///
/// Registering happens under the same lock that `cancelAllAndWait` takes, before the run can do
/// anything: a stop and a start never race into a run nobody waits for.
///
/// When the standard `OTEL_*` variables name an OTLP endpoint, every run is also a trace
/// (`RunTracing`): its ID is in the summary's `trace_id`, and the run's task ends only after its
/// spans are sent or the short flush wait is over.
public final class RunLauncher: Sendable {
    private struct State {
        var runs: [UUID: Entry] = [:]
        var stopping = false
    }

    private struct Entry {
        let task: Task<RunSummary, Never>
        var id: String?
    }

    private let state = Shared(State())

    /// A launcher with no runs.
    public init() {}

    /// The IDs of the runs in flight that have been named (emitted their run-started event).
    public var running: [String] { state.withLock { $0.runs.values.compactMap(\.id) } }

    /// Runs `plan` to its end and returns its summary. Cancelling the calling task cancels the run
    /// (its stages stop, its containers are removed); the summary then says `cancelled`.
    /// - Parameters:
    ///   - trigger: what started the run, recorded in the history.
    ///   - observe: receives every event, after the history recorded it.
    /// - Throws: `RunRefused` when the launcher is stopping; nothing was started.
    public func run(_ plan: Plan, options: RunOptions, trigger: RunTrigger,
                    observe: @escaping EventSink = { _ in }) async throws(RunRefused) -> RunSummary {
        let task = try launch(plan, options: options, trigger: trigger, named: { _ in }, observe: observe)
        return await withTaskCancellationHandler { await task.value } onCancel: { task.cancel() }
    }

    /// Starts `plan` and returns the run's ID as soon as the engine has named it, without waiting
    /// for the run to end (the dashboard's "run again"). A run that fails before it is named (a
    /// bad cache root) still gets an ID and a recorded summary.
    /// - Throws: `RunRefused` when the launcher is stopping; nothing was started.
    public func start(_ plan: Plan, options: RunOptions, trigger: RunTrigger,
                      observe: @escaping EventSink = { _ in }) async throws(RunRefused) -> String {
        let (named, nameIt) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(1))
        let task = try launch(plan, options: options, trigger: trigger, named: { nameIt.yield($0) }, observe: observe)
        Task {
            _ = await task.value
            nameIt.finish()
        }
        if let id = await named.first(where: { _ in true }) { return id }
        return await task.value.run
    }

    /// Cancels every run in flight and waits until each has cleaned up; later runs are refused.
    public func cancelAllAndWait() async {
        let tasks = state.withLock { state in
            state.stopping = true
            return state.runs.values.map(\.task)
        }
        for task in tasks { task.cancel() }
        for task in tasks { _ = await task.value }
    }

    /// Opens the recorder, creates the run's task and registers it, all before any of the run's
    /// work: the task waits for its registration (a gate) before the engine starts.
    private func launch(_ plan: Plan, options: RunOptions, trigger: RunTrigger, named: @escaping @Sendable (String) -> Void,
                        observe: @escaping EventSink) throws(RunRefused) -> Task<RunSummary, Never> {
        let key = UUID()
        let refused = state.withLock { $0.stopping }
        if refused { throw RunRefused(message: "shutting down: no new runs are started") }
        var options = options
        let (recorder, notices) = HistoryRecorder.open(cacheRoot: options.cacheRoot, trigger: trigger)
        options.warnings += notices
        let (gate, open) = AsyncStream.makeStream(of: Bool.self, bufferingPolicy: .bufferingNewest(1))
        let launchOptions = options
        let state = self.state
        let task = Task {
            // A refused registration (a stop came in between) runs nothing but still returns a summary.
            var iterator = gate.makeAsyncIterator()
            let accepted = await iterator.next() ?? false
            guard accepted else { return RunSummary.refused(plan: plan) }
            let tracing = Self.startTrace(plan, trigger: trigger, traceparent: launchOptions.traceparent)
            let traceID = tracing?.spans.traceID
            var runOptions = launchOptions
            if let tracing {
                if tracing.propagate { runOptions.propagatedTraceparent = tracing.spans.traceparent }
                runOptions.stepSink = { tracing.spans.observe(step: $0) }
            }
            var summary = await Engine().run(plan, options: runOptions) { event in
                tracing?.spans.observe(event)
                let event = Self.naming(traceID, in: event)
                recorder?.record(event)
                if case .runStarted = event.body {
                    state.withLock { $0.runs[key]?.id = event.run }
                    named(event.run)
                }
                observe(event)
            }
            summary.traceID = traceID
            if let tracing {
                tracing.spans.abandon()
                await tracing.export.finish()
            }
            // Done and cleaned up: no longer in flight (before anyone awaiting the task resumes).
            _ = state.withLock { $0.runs.removeValue(forKey: key) }
            return summary
        }
        let registered = state.withLock { state in
            guard !state.stopping else { return false }
            state.runs[key] = Entry(task: task, id: nil)
            return true
        }
        open.yield(registered)
        open.finish()
        guard registered else {
            task.cancel()
            throw RunRefused(message: "shutting down: no new runs are started")
        }
        return task
    }

    /// The run's spans and their exporter, when the environment asks for traces.
    /// The configuration is the process's environment (a server's `OTEL_*` apply to all its
    /// runs); the parent is the caller's, from the run's options.
    private static func startTrace(_ plan: Plan, trigger: RunTrigger,
                                   traceparent: String?) -> (spans: RunSpans, export: RunTraceExport, propagate: Bool)? {
        guard let settings = TraceSettings.from(environment: ProcessInfo.processInfo.environment),
              let export = RunTraceExport.start(settings) else { return nil }
        let spans = RunSpans(tracer: export.tracer, pipeline: plan.definition.name, trigger: trigger.rawValue,
                             traceparent: traceparent)
        return (spans, export, settings.propagate)
    }

    /// `event` with the trace ID in it, when it is the run's summary and the run is traced.
    private static func naming(_ traceID: String?, in event: RunEvent) -> RunEvent {
        guard let traceID, case .runFinished(var summary) = event.body else { return event }
        summary.traceID = traceID
        return RunEvent(run: event.run, .runFinished(summary), time: event.time)
    }

    private func finished(_ key: UUID) async {
        _ = state.withLock { $0.runs.removeValue(forKey: key) }
    }
}

/// The launcher's state, shared with its runs' tasks.
private final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<Result: Sendable>(_ body: (inout sending Value) -> sending Result) -> sending Result { mutex.withLock(body) }
}

extension RunSummary {
    /// The summary of a run that never started because its launcher was stopping.
    static func refused(plan: Plan) -> RunSummary {
        RunSummary(run: "", pipeline: plan.definition.name, commit: "", status: .cancelled, durationMilliseconds: 0, stages: [], warnings: [])
    }
}
