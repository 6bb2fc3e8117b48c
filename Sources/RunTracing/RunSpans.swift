import Foundation
import RunEvents
import Synchronization
import Tracing

/// Turns one run's events into spans, following OpenTelemetry's CI/CD conventions: a root span
/// for the run (`cicd.pipeline.*`, `vcs.*`) and a child span per stage (`cicd.pipeline.task.*`).
/// Warnings and queueing become span events; a failed stage records an `exception` event and an
/// error status. Knows no exporter: any `Tracer` serves, so tests can use an in-memory one.
///
/// `observe` is called from many tasks at once (the engine's sink): the open spans sit behind a lock.
public final class RunSpans: Sendable {
    private struct State {
        var stages: [String: any Span] = [:]
        /// Stages already ended: a step that ends after its stage (a container removed after the
        /// verdict) is still its child.
        var endedStages: [String: any Span] = [:]
        var runID = ""
        var ended = false
        /// Since when, and why, the run has waited for a run slot (`queued`), until its next event.
        var queued: (since: Date, reason: String)?
    }

    private let tracer: any Tracer
    private let root: any Span
    private let state = Mutex(State())
    /// The W3C trace ID (32 hex) of the run's trace, when the tracer's propagator writes `traceparent`.
    public let traceID: String?
    /// The root span's W3C trace context, to hand to what the run starts (nix, containers).
    public let traceparent: String?

    /// Starts the run's root span, a child of `traceparent` when one is given (W3C trace context).
    /// - Parameters:
    ///   - pipeline: the pipeline's name (`cicd.pipeline.name`).
    ///   - trigger: what started the run (`sutradhar.run.trigger`).
    public init(tracer: any Tracer, pipeline: String, trigger: String, traceparent: String?) {
        self.tracer = tracer
        var parent = InstrumentationContext.topLevel
        if let traceparent {
            tracer.extract(["traceparent": traceparent], into: &parent, using: HeaderExtractor())
        }
        root = tracer.startSpan("\(Self.action) \(pipeline)", context: parent, ofKind: .server)
        root.attributes["cicd.pipeline.name"] = SpanAttribute.string(pipeline)
        root.attributes["cicd.pipeline.action.name"] = SpanAttribute.string(Self.action)
        root.attributes["sutradhar.run.trigger"] = SpanAttribute.string(trigger)
        var headers: [String: String] = [:]
        tracer.inject(root.context, into: &headers, using: HeaderInjector())
        self.traceparent = headers["traceparent"]
        traceID = headers["traceparent"].flatMap(Self.traceID(inTraceparent:))
    }

    /// What a run does, in the conventions' words (`cicd.pipeline.action.name`).
    static let action = "BUILD"

    /// Adds what `event` tells to the spans: stages open and close, warnings become events, the
    /// run's end closes the root span (and any stage span an interruption left open).
    public func observe(_ event: RunEvent) {
        if case .queued = event.body {} else if let wait = state.withLock({ state in defer { state.queued = nil }; return state.queued }) {
            // The wait for a run slot ends with the run's next event: a span of its own.
            let span = tracer.startSpan("queue wait", context: root.context, ofKind: .internal, at: Self.instant(wait.since))
            span.attributes["sutradhar.reason"] = SpanAttribute.string(wait.reason)
            span.end(at: Self.instant(event.time))
        }
        switch event.body {
        case .runStarted(_, let source, let ref, _):
            state.withLock { $0.runID = event.run }
            root.attributes["cicd.pipeline.run.id"] = SpanAttribute.string(event.run)
            root.attributes["vcs.repository.url.full"] = SpanAttribute.string(Self.repositoryURL(source))
            if let ref { root.attributes["vcs.ref.head.name"] = SpanAttribute.string(ref) }
        case .queued(let reason):
            root.addEvent(SpanEvent(name: "queued", attributes: ["sutradhar.reason": .string(reason)]))
            state.withLock { $0.queued = ($0.queued?.since ?? event.time, reason) }
        case .stageStarted(let stage, let kind):
            let span = startStage(stage, kind: kind)
            state.withLock { $0.stages[stage] = span }
        case .stageWaiting(let stage, let reason, _):
            let span = state.withLock { $0.stages[stage] } ?? root
            span.addEvent(SpanEvent(name: "waiting", attributes: ["sutradhar.reason": .string(reason)]))
        case .log:
            break
        case .warning(let stage, let message):
            let span = stage.flatMap { name in state.withLock { $0.stages[name] } } ?? root
            span.addEvent(SpanEvent(name: "warning", attributes: ["sutradhar.warning": .string(message)]))
        case .stageFinished(let result):
            // A stage that never started (skipped, cancelled before it ran) still gets its span.
            let span = state.withLock { $0.stages.removeValue(forKey: result.name) } ?? startStage(result.name, kind: result.kind)
            state.withLock { $0.endedStages[result.name] = span }
            finishStage(span, result)
        case .runFinished(let summary):
            finishRun(summary)
        }
    }

    /// Adds a timed step inside a stage (the nix build, the image upload, the probe) as a child
    /// span of the stage's span, with the step's own start and end.
    public func observe(step: StageStep) {
        let parent = state.withLock { $0.stages[step.stage] ?? $0.endedStages[step.stage] } ?? root
        let span = tracer.startSpan(step.name, context: parent.context, ofKind: .internal, at: Self.instant(step.start))
        span.attributes["cicd.pipeline.task.name"] = SpanAttribute.string(step.stage)
        if step.failed { span.setStatus(SpanStatus(code: .error)) }
        span.end(at: Self.instant(step.end))
    }

    static func instant(_ date: Date) -> DefaultTracerClock.Timestamp {
        DefaultTracerClock.Timestamp(nanosecondsSinceEpoch: UInt64(max(0, date.timeIntervalSince1970) * 1_000_000_000))
    }

    /// Ends the spans of a run that stopped without a run-finished event (it cannot happen in a
    /// run the engine finishes; kept so that no span is left open).
    public func abandon() {
        let (open, ended) = state.withLock { state in
            defer { state.stages = [:]; state.ended = true }
            return (Array(state.stages.values), state.ended)
        }
        guard !ended else { return }
        for span in open { span.end() }
        root.attributes["cicd.pipeline.result"] = SpanAttribute.string("error")
        root.end()
    }

    private func startStage(_ stage: String, kind: String) -> any Span {
        let span = tracer.startSpan(stage, context: root.context, ofKind: .internal)
        let runID = state.withLock { $0.runID }
        span.attributes["cicd.pipeline.task.name"] = SpanAttribute.string(stage)
        span.attributes["cicd.pipeline.task.run.id"] = SpanAttribute.string("\(runID)/\(stage)")
        span.attributes["cicd.pipeline.task.type"] = SpanAttribute.string(Self.taskType(kind: kind))
        span.attributes["sutradhar.stage.kind"] = SpanAttribute.string(kind)
        return span
    }

    private func finishStage(_ span: any Span, _ result: StageResult) {
        span.attributes["cicd.pipeline.task.run.result"] = SpanAttribute.string(Self.taskResult(result))
        span.attributes["sutradhar.stage.cached"] = SpanAttribute.bool(result.cached)
        if let code = result.code { span.attributes["error.type"] = SpanAttribute.string(code) }
        if result.status == .failed, let error = result.error {
            // The conventions' exception event, typed by the stage's error code rather than a Swift type name.
            span.addEvent(SpanEvent(name: "exception", attributes: [
                "exception.type": .string(result.code ?? "internal"), "exception.message": .string(error),
            ]))
            span.setStatus(SpanStatus(code: .error, message: error))
        }
        span.end()
    }

    private func finishRun(_ summary: RunSummary) {
        let open = state.withLock { state in
            defer { state.stages = [:]; state.ended = true }
            return Array(state.stages.values)
        }
        for span in open { span.end() }
        if !summary.commit.isEmpty { root.attributes["vcs.ref.head.revision"] = SpanAttribute.string(summary.commit) }
        let result = Self.pipelineResult(summary)
        root.attributes["cicd.pipeline.result"] = SpanAttribute.string(result)
        if result == "failure" || result == "error" {
            let failed = summary.stages.filter { $0.status == .failed }.map(\.name)
            let message = summary.environmentProblem ?? "failed: \(failed.joined(separator: ", "))"
            if summary.environmentProblem != nil { root.attributes["error.type"] = SpanAttribute.string("environment") }
            root.setStatus(SpanStatus(code: .error, message: message))
        }
        root.end()
    }

    /// `cicd.pipeline.task.type`: the conventions know build, test and deploy; smoke tests and
    /// one-shot containers (a test suite in the image) are tests, everything else builds.
    static func taskType(kind: String) -> String {
        kind == "smoke" || kind == "container" ? "test" : "build"
    }

    /// `cicd.pipeline.task.run.result`: success, failure, error (the machine, not the commit),
    /// timeout, cancellation or skip.
    static func taskResult(_ result: StageResult) -> String {
        switch result.status {
        case .passed: return "success"
        case .skipped: return "skip"
        case .cancelled: return "cancellation"
        case .failed:
            if result.code == "timeout" { return "timeout" }
            if result.code == "internal" || result.code.flatMap(StageErrorCode.init(rawValue:))?.isEnvironmentProblem == true {
                return "error"
            }
            return "failure"
        }
    }

    /// `cicd.pipeline.result`: as a stage's, for the whole run.
    static func pipelineResult(_ summary: RunSummary) -> String {
        switch summary.status {
        case .passed: return "success"
        case .cancelled: return "cancellation"
        case .failed:
            if summary.environmentProblem != nil { return "error" }
            let failed = summary.stages.filter { $0.status == .failed }
            if !failed.isEmpty, failed.allSatisfy({ taskResult($0) == "timeout" }) { return "timeout" }
            if failed.contains(where: { taskResult($0) == "failure" }) { return "failure" }
            return failed.isEmpty ? "failure" : "error"
        }
    }

    /// A source as a URL: a folder on this machine becomes a `file://` URL.
    static func repositoryURL(_ source: String) -> String {
        source.hasPrefix("/") ? "file://\(source)" : source
    }

    /// The trace ID of a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`).
    static func traceID(inTraceparent value: String) -> String? {
        let parts = value.split(separator: "-")
        guard parts.count == 4, parts[1].count == 32 else { return nil }
        return String(parts[1])
    }
}

/// Reads W3C headers from a dictionary (the `TRACEPARENT` variable, lower-cased as the header).
struct HeaderExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key.lowercased()] }
}

/// Writes W3C headers into a dictionary, to read the trace ID back.
struct HeaderInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key.lowercased()] = value }
}
