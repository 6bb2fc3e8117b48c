import RunEvents
import Foundation

/// Where a run's time went: when it was queued, when each stage started, waited for a lock and
/// finished, and how it ended. Built from the run's `events.jsonl` (`read(run:in:)`), or event
/// by event (`apply(_:)`) by a follower of a run in progress; front ends draw it (the
/// dashboard's Gantt chart).
public struct RunTimeline: Sendable {
    /// A span of time; `end` is nil while it lasts.
    public struct Interval: Sendable, Equatable {
        /// When it began.
        public let start: Date
        /// When it ended; nil while it lasts.
        public var end: Date?
        /// Why (the queued or waiting event's reason).
        public let reason: String
    }

    /// One stage as the events tell it.
    public struct Stage: Sendable {
        /// The stage's name (`checkout` for the implicit first step).
        public let name: String
        /// Its kind, once it started (or from its result).
        public var kind: String?
        /// When it started; nil for a stage skipped without starting.
        public var started: Date?
        /// When it finished; nil while it runs.
        public var finished: Date?
        /// The times it waited for a lock another run held (each ends at the stage's next event).
        public var waits: [Interval] = []
        /// Its result, once finished: status, outputs, error and code.
        public var result: StageResult?

        /// `running` until it finished, then `passed`, `failed`, `skipped` or `cancelled`.
        public var status: String { result?.status.rawValue ?? "running" }
        /// Whether the result came from the cache.
        public var cached: Bool { result?.cached ?? false }
        /// Whether it is waiting for a lock now.
        public var waiting: Bool { waits.last.map { $0.end == nil } ?? false }
    }

    /// When the run started.
    public private(set) var started: Date?
    /// The times the run waited for a run slot before its first stage (`queued` events).
    public private(set) var queued: [Interval] = []
    /// The stages, in the order they started (a stage skipped without starting, when it finished).
    public private(set) var stages: [Stage] = []
    /// When the run finished; nil while it runs.
    public private(set) var finished: Date?
    /// The run-finished event's summary, once finished.
    public private(set) var summary: RunSummary?
    /// The warnings the run gave, in order.
    public private(set) var warnings: [String] = []
    /// The time of the last event applied.
    public private(set) var lastEvent: Date?
    /// False for a run recorded before events files were kept: only its summary is known, so
    /// the stages have durations but no start or finish times of their own.
    public private(set) var timed = true

    /// An empty timeline, to `apply` events to.
    public init() {}

    /// The stage named, if it has appeared.
    public func stage(named name: String) -> Stage? { stages.first { $0.name == name } }

    /// What "run only the failed stages" runs again: the stages that failed and those skipped or
    /// cancelled because of them — not the checkout (every run makes its own) nor the docker
    /// audit trail (a pseudo-stage of log lines, not a stage of the definition).
    public var stagesToRunAgain: [String] {
        stages.filter { ["failed", "skipped", "cancelled"].contains($0.status) && $0.name != "checkout" && $0.name != StageResult.auditStageName }
            .map(\.name)
    }

    /// Takes one event into account.
    public mutating func apply(_ event: RunEvent) {
        lastEvent = event.time
        switch event.body {
        case .runStarted:
            started = event.time
        case .queued(let reason):
            queued.append(Interval(start: event.time, end: nil, reason: reason))
        case .stageStarted(let name, let kind):
            closeQueue(at: event.time)
            update(name, at: event.time) { stage in
                stage.kind = kind
                stage.started = stage.started ?? event.time
            }
        case .stageWaiting(let name, let reason, _):
            update(name, at: event.time) { stage in stage.waits.append(Interval(start: event.time, end: nil, reason: reason)) }
        case .log(let name, _, _):
            if stages.contains(where: { $0.name == name && $0.waiting }) { update(name, at: event.time) { _ in } }
        case .warning(_, let message):
            warnings.append(message)
        case .stageFinished(let result):
            update(result.name, at: event.time) { stage in
                stage.kind = stage.kind ?? result.kind
                stage.finished = event.time
                stage.result = result
            }
        case .runFinished(let summary):
            closeQueue(at: event.time)
            finished = event.time
            self.summary = summary
            for index in stages.indices where stages[index].finished == nil {
                // A stage the summary reports but whose own event was lost (or never written).
                if let result = summary.stages.first(where: { $0.name == stages[index].name }) { stages[index].result = result }
                stages[index].finished = event.time
                closeWait(&stages[index], at: event.time)
            }
            for result in summary.stages where !stages.contains(where: { $0.name == result.name }) {
                var stage = Stage(name: result.name, kind: result.kind)
                stage.finished = event.time
                stage.result = result
                stages.append(stage)
            }
        }
    }

    /// Applies `body` to the stage `name` (adding it if new), first ending a wait it was in:
    /// any later event of a waiting stage means it got the lock.
    private mutating func update(_ name: String, at time: Date, _ body: (inout Stage) -> Void) {
        let index = stages.firstIndex { $0.name == name } ?? {
            stages.append(Stage(name: name))
            return stages.count - 1
        }()
        closeWait(&stages[index], at: time)
        body(&stages[index])
    }

    private func closeWait(_ stage: inout Stage, at time: Date) {
        if let last = stage.waits.indices.last, stage.waits[last].end == nil { stage.waits[last].end = time }
    }

    private mutating func closeQueue(at time: Date) {
        if let last = queued.indices.last, queued[last].end == nil { queued[last].end = time }
    }

    /// The timeline of run `id` from its `events.jsonl` as it is now (a run in progress gives
    /// the stages so far). A run recorded before events files were written gives what its
    /// summary says (stages without start times). Log lines are skipped without being decoded
    /// unless a stage is waiting, so a run with a long log reads quickly.
    /// - Throws: `RunHistoryError` if there is no such run or the history cannot be read.
    public static func read(run id: String, in history: RunHistory) throws -> RunTimeline {
        guard let details = try history.run(id) else {
            throw RunHistoryError("no run '\(id)' in \(history.folder.path); list the runs with 'runs ls'")
        }
        var timeline = RunTimeline()
        // Every event line starts with its name (`RunEvent.jsonLine`), so this prefix is exact:
        // a log line (most of a big run's events) is passed over without being decoded.
        let logPrefix = Array(#"{"event":"log""#.utf8)
        let found = FileLines.forEach(in: history.eventsFile(run: details.record.id)) { line in
            if line.count >= logPrefix.count, let start = line.baseAddress, memcmp(start, logPrefix, logPrefix.count) == 0,
               !timeline.stages.contains(where: \.waiting) { return }
            guard let event = try? RunEvent(jsonLine: String(decoding: line, as: UTF8.self)) else { return }
            timeline.apply(event)
        }
        guard found else {
            timeline.started = details.record.startedAt
            timeline.timed = false
            if let summary = details.summary {
                timeline.apply(RunEvent(run: details.record.id, .runFinished(summary),
                                        time: details.record.startedAt.addingTimeInterval(Double(summary.durationMilliseconds) / 1000)))
            }
            return timeline
        }
        if timeline.started == nil { timeline.started = details.record.startedAt }
        return timeline
    }
}
