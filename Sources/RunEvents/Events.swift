import Foundation

/// How a stage ended.
public enum StageStatus: String, Sendable, CaseIterable {
    case passed, failed, skipped, cancelled
}

/// How a run ended.
public enum RunStatus: String, Sendable, CaseIterable {
    case passed, failed, cancelled
}

/// The result of one stage, as the summary reports it.
public struct StageResult: Sendable {
    /// The pseudo-stage under which the daemon's own record of the run (its audit trail) is logged.
    public static let auditStageName = "docker-audit"

    /// The stage's name (`checkout` for the implicit first step).
    public let name: String
    /// The stage's kind.
    public let kind: String
    /// How it ended.
    public let status: StageStatus
    /// Whether the result came from the cache instead of doing the work.
    public let cached: Bool
    /// Wall time, in milliseconds.
    public let durationMilliseconds: Int64
    /// What the stage produced (e.g. `out` for nix-build: the store path).
    public let outputs: [(String, JSONValue)]
    /// Why it failed, was skipped or cancelled.
    public let error: String?
    /// The `StageErrorCode` of `error`, for machines; set exactly when `error` is.
    public private(set) var code: String?
    /// The `Remedy` of `error` (a setting that would avoid it), for machines and for front ends
    /// to word as their own advice; only with an `error`, and only when a setting would help.
    public private(set) var remedy: String?

    /// Creates a result; `code` says what kind of `error` it is (`internal` when there is an
    /// error and no code), `remedy` which setting would avoid it.
    public init(name: String, kind: String, status: StageStatus, cached: Bool, durationMilliseconds: Int64,
                outputs: [(String, JSONValue)] = [], error: String? = nil, code: StageErrorCode? = nil,
                remedy: Remedy? = nil) {
        self.name = name
        self.kind = kind
        self.status = status
        self.cached = cached
        self.durationMilliseconds = durationMilliseconds
        self.outputs = outputs
        self.error = error
        self.code = error == nil ? nil : (code ?? .internal).rawValue
        self.remedy = error == nil ? nil : remedy?.rawValue
    }

    /// Recreates a result as it was written, keeping a code or remedy this build does not know (a
    /// newer writer's) instead of turning it into `internal` or dropping it.
    init(name: String, kind: String, status: StageStatus, cached: Bool, durationMilliseconds: Int64,
         outputs: [(String, JSONValue)], error: String?, writtenCode: String?, writtenRemedy: String? = nil) {
        self.init(name: name, kind: kind, status: status, cached: cached, durationMilliseconds: durationMilliseconds,
                  outputs: outputs, error: error)
        self.code = writtenCode
        self.remedy = writtenRemedy
    }

    var json: JSONValue {
        var pairs: [(String, JSONValue)] = [
            ("name", .string(name)), ("kind", .string(kind)), ("status", .string(status.rawValue)),
            ("cached", .bool(cached)), ("duration_ms", .int(durationMilliseconds)), ("outputs", .object(outputs)),
        ]
        if let error { pairs.append(("error", .string(error))) }
        if let code { pairs.append(("code", .string(code))) }
        if let remedy { pairs.append(("remedy", .string(remedy))) }
        return .object(pairs)
    }
}

/// The last event of a run: its verdict and every stage's result.
public struct RunSummary: Sendable {
    public let run: String
    public let pipeline: String
    /// The commit built (40 hex), or empty if the source could not be resolved.
    public let commit: String
    public let status: RunStatus
    public let durationMilliseconds: Int64
    public let stages: [StageResult]
    /// Loud warnings the caller must see (e.g. a rootful daemon accepted because the run allowed it).
    public let warnings: [String]
    /// Set when the run could not start because something it needs is missing (exit 3).
    public let environmentProblem: String?
    /// The `Remedy` of `environmentProblem` (a setting that would avoid it), when a setting would
    /// help; kept as written, so a newer writer's remedy survives.
    public let remedy: String?
    /// The W3C trace ID (32 hex) of the run's OpenTelemetry trace, when the run was traced.
    public var traceID: String?

    /// Creates a summary (front ends and tests; the engine makes its own at the end of a run).
    public init(run: String, pipeline: String, commit: String, status: RunStatus, durationMilliseconds: Int64,
                stages: [StageResult], warnings: [String] = [], environmentProblem: String? = nil,
                remedy: String? = nil) {
        self.run = run
        self.pipeline = pipeline
        self.commit = commit
        self.status = status
        self.durationMilliseconds = durationMilliseconds
        self.stages = stages
        self.warnings = warnings
        self.environmentProblem = environmentProblem
        self.remedy = environmentProblem == nil ? nil : remedy
    }
}

/// One thing that happened during a run. The JSON form (`jsonLine`) is a contract: docs/events.md
/// documents it field by field.
public struct RunEvent: Sendable {
    /// What happened.
    public enum Body: Sendable {
        case runStarted(pipeline: String, source: String, ref: String?, cacheRoot: String)
        case queued(reason: String)
        case stageStarted(stage: String, kind: String)
        case stageWaiting(stage: String, reason: String, heldBy: LockHolder?)
        case log(stage: String, stream: String, line: String)
        case warning(stage: String?, message: String)
        case stageFinished(StageResult)
        case runFinished(RunSummary)
    }

    /// When it happened.
    public let time: Date
    /// The run's ID.
    public let run: String
    /// What happened.
    public let body: Body

    /// Creates an event stamped now.
    public init(run: String, _ body: Body, time: Date = Date()) {
        self.time = time
        self.run = run
        self.body = body
    }

    /// The event's name in the JSON stream.
    public var name: String {
        switch body {
        case .runStarted: return "run-started"
        case .queued: return "queued"
        case .stageStarted: return "stage-started"
        case .stageWaiting: return "stage-waiting"
        case .log: return "log"
        case .warning: return "warning"
        case .stageFinished: return "stage-finished"
        case .runFinished: return "run-finished"
        }
    }

    /// The event as one line of JSON (no newline): `event`, `schema`, `time` (RFC 3339, UTC, milliseconds) and `run` first.
    public func jsonLine() -> String {
        var pairs: [(String, JSONValue)] = [
            ("event", .string(name)), ("schema", 1), ("time", .string(RunEvent.rfc3339(time))), ("run", .string(run)),
        ]
        switch body {
        case .runStarted(let pipeline, let source, let ref, let cacheRoot):
            pairs += [("pipeline", .string(pipeline)), ("source", .string(source)), ("ref", ref.map(JSONValue.string) ?? .null),
                      ("cache_root", .string(cacheRoot))]
        case .queued(let reason):
            pairs += [("reason", .string(reason))]
        case .stageStarted(let stage, let kind):
            pairs += [("stage", .string(stage)), ("kind", .string(kind))]
        case .stageWaiting(let stage, let reason, let heldBy):
            let holder = heldBy.map { JSONValue.object([("run", .string($0.run)), ("stage", .string($0.stage))]) }
            pairs += [("stage", .string(stage)), ("reason", .string(reason)), ("held_by", holder ?? .null)]
        case .log(let stage, let stream, let line):
            pairs += [("stage", .string(stage)), ("stream", .string(stream)), ("line", .string(line))]
        case .warning(let stage, let message):
            pairs += [("stage", stage.map(JSONValue.string) ?? .null), ("message", .string(message))]
        case .stageFinished(let result):
            guard case .object(let fields) = result.json else { break }
            pairs += [("stage", .string(result.name))] + fields.filter { $0.0 != "name" }
        case .runFinished(let summary):
            pairs += [("pipeline", .string(summary.pipeline)), ("commit", .string(summary.commit)),
                      ("status", .string(summary.status.rawValue)), ("duration_ms", .int(summary.durationMilliseconds)),
                      ("stages", .array(summary.stages.map(\.json))),
                      ("warnings", .array(summary.warnings.map(JSONValue.string)))]
            if let problem = summary.environmentProblem { pairs.append(("environment_problem", .string(problem))) }
            if let remedy = summary.remedy { pairs.append(("remedy", .string(remedy))) }
            if let traceID = summary.traceID { pairs.append(("trace_id", .string(traceID))) }
        }
        return JSONValue.object(pairs).serialized()
    }

    /// RFC 3339 in UTC with milliseconds, e.g. `2026-11-29T06:52:12.345Z`.
    public static func rfc3339(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        // Floor division: before 1970 `/` and `%` would round toward zero and give a negative fraction.
        let fraction = (milliseconds % 1000 + 1000) % 1000
        var seconds = time_t((milliseconds - fraction) / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(fraction), 3))Z"
    }
}

/// Where a run's events go. Called from many tasks at once: implementations synchronise.
public typealias EventSink = @Sendable (RunEvent) -> Void
