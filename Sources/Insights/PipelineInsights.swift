import RunEvents
import Foundation
import RunHistory

/// One pipeline at a glance, from the run history: its recent runs, how often its finished runs
/// pass, and each stage's duration over its last runs (what the dashboard's pipeline page draws
/// and `/api/pipelines/NAME` returns). `Codable` with the CLI's snake_case keys, written in
/// declaration order by `OrderedJSONEncoder`.
public struct PipelineInsights: Codable, Sendable, Equatable {
    /// One run, with the keys (and order) of a `runs ls --json` line.
    public struct Run: Codable, Sendable, Equatable {
        public var run: String
        public var pipeline: String
        public var source: String
        public var ref: String?
        public var commit: String
        /// `agent`, `nightly`, `local` or `manual`.
        public var trigger: String
        /// `running`, `passed`, `failed`, `cancelled` or `abandoned`.
        public var status: String
        /// RFC 3339 with milliseconds, UTC (`RunEvent.rfc3339`).
        public var started: String
        public var durationMilliseconds: Int64?

        enum CodingKeys: String, CodingKey {
            case run, pipeline, source, ref, commit, trigger, status, started, durationMilliseconds = "duration_ms"
        }

        /// The run of `record`.
        public init(_ record: RunRecord) {
            run = record.id
            pipeline = record.pipeline
            source = record.source
            ref = record.ref
            commit = record.commitSHA
            trigger = record.trigger
            status = record.status
            started = RunEvent.rfc3339(record.startedAt)
            durationMilliseconds = record.durationMilliseconds
        }

        /// `ref` and `duration_ms` are written as `null` when absent, as `runs ls --json` does.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(run, forKey: .run)
            try container.encode(pipeline, forKey: .pipeline)
            try container.encode(source, forKey: .source)
            try container.encode(ref, forKey: .ref)
            try container.encode(commit, forKey: .commit)
            try container.encode(trigger, forKey: .trigger)
            try container.encode(status, forKey: .status)
            try container.encode(started, forKey: .started)
            try container.encode(durationMilliseconds, forKey: .durationMilliseconds)
        }
    }

    /// One stage's result in one run: a point of its duration series.
    public struct StagePoint: Codable, Sendable, Equatable {
        public var run: String
        /// When the run started, RFC 3339 UTC (the history keeps no per-stage start).
        public var started: String
        public var durationMilliseconds: Int64
        /// `passed`, `failed`, `skipped` or `cancelled`.
        public var status: String
        /// Whether the result came from the cache (its duration is the cache look-up).
        public var cached: Bool
        /// The run's trigger: `nightly` points are marked in the chart.
        public var trigger: String

        enum CodingKeys: String, CodingKey {
            case run, started, durationMilliseconds = "duration_ms", status, cached, trigger
        }
    }

    /// One stage's durations, oldest run first.
    public struct StageSeries: Codable, Sendable, Equatable {
        public var stage: String
        public var kind: String
        public var points: [StagePoint]
    }

    public var pipeline: String
    /// The newest runs, newest first (at most `recentLimit`).
    public var recentRuns: [Run]
    /// How many runs the pass rate and the series cover (the newest `seriesRuns`).
    public var runsConsidered: Int
    /// Of those, the runs that have ended (anything but `running`; `abandoned` counts as not passed).
    public var finishedRuns: Int
    public var passedRuns: Int
    /// `passed / finished`, nil when no run has finished (never a division by zero).
    public var passRate: Double?
    /// Each stage's series, in the order the stages first appear (oldest run first).
    public var stages: [StageSeries]

    enum CodingKeys: String, CodingKey {
        case pipeline, recentRuns = "recent_runs", runsConsidered = "runs_considered", finishedRuns = "finished_runs"
        case passedRuns = "passed_runs", passRate = "pass_rate", stages
    }

    /// Reads `pipeline`'s runs from `history`: the newest `recentLimit` for the list, and the
    /// newest `seriesRuns` (stages included) for the pass rate and the duration series.
    /// - Throws: `RunHistoryError` if the history cannot be read.
    public static func load(pipeline: String, history: RunHistory, recentLimit: Int = 20,
                            seriesRuns: Int = 30) throws -> PipelineInsights {
        let window = try history.runs(pipeline: pipeline, limit: max(recentLimit, seriesRuns))
        let considered = Array(window.prefix(seriesRuns))
        let finished = considered.filter { $0.status != "running" }
        var series: [StageSeries] = []
        var position: [String: Int] = [:]
        let stages = try history.stages(ofRuns: considered.map(\.id))
        for record in considered.reversed() {
            for stage in stages[record.id] ?? [] {
                let point = StagePoint(run: record.id, started: RunEvent.rfc3339(record.startedAt),
                                       durationMilliseconds: stage.durationMilliseconds, status: stage.status,
                                       cached: stage.cached, trigger: record.trigger)
                if let index = position[stage.name] {
                    series[index].points.append(point)
                } else {
                    position[stage.name] = series.count
                    series.append(StageSeries(stage: stage.name, kind: stage.kind, points: [point]))
                }
            }
        }
        let passed = finished.filter { $0.status == "passed" }.count
        return PipelineInsights(
            pipeline: pipeline, recentRuns: window.prefix(recentLimit).map(Run.init), runsConsidered: considered.count,
            finishedRuns: finished.count, passedRuns: passed,
            passRate: finished.isEmpty ? nil : Double(passed) / Double(finished.count), stages: series)
    }

    /// Every pipeline that has runs in `history` or a definition in `known`, sorted by name:
    /// what the dashboard's pipeline list shows.
    /// - Throws: `RunHistoryError` if the history cannot be read.
    public static func pipelineNames(history: RunHistory, known: [String]) throws -> [String] {
        Set(try history.pipelineNames()).union(known).sorted()
    }
}
