import RunEvents
import Foundation
import RunHistory

/// What a run's reproducibility checks found, read from its stages' outputs (`reproducible`,
/// `differing_files` or `differing_layers`, `report`): the one reading every front end shares —
/// the nightly report, MCP `get_run`, the dashboard and `/metrics`.
public struct ReproducibilityFindings: Sendable {
    /// One checked stage.
    public struct Stage: Sendable {
        /// The stage's name.
        public let name: String
        /// Whether its two builds were the same.
        public let reproducible: Bool
        /// Where they differ (files inside layers, or layers), empty when reproducible.
        public let differences: [String]
        /// The report to read (diffoscope's when there is one, else the file-level one), if any.
        public let report: String?
    }

    /// The checked stages, in the order they finished.
    public let stages: [Stage]

    /// How many outputs were checked.
    public var checked: Int { stages.count }
    /// How many of them were reproducible.
    public var reproducible: Int { stages.filter(\.reproducible).count }
    /// `N of M outputs reproducible`.
    public var headline: String { "\(reproducible) of \(checked) output\(checked == 1 ? "" : "s") reproducible" }

    /// The findings of `summary`; nil when the run checked nothing.
    public init?(summary: RunSummary) {
        let stages = summary.stages.compactMap { stage -> Stage? in
            func value(_ key: String) -> JSONValue? { stage.outputs.first { $0.0 == key }?.1 }
            guard case .bool(let flag)? = value("reproducible") else { return nil }
            var differences: [String] = []
            if case .array(let values)? = value("differing_files") ?? value("differing_layers") {
                differences = values.compactMap(\.stringValue)
            }
            return Stage(name: stage.name, reproducible: flag, differences: differences,
                         report: (value("diffoscope_report") ?? value("report"))?.stringValue)
        }
        guard !stages.isEmpty else { return nil }
        self.stages = stages
    }

    /// Whether each checked stage was reproducible, by name.
    public var byStage: [String: Bool] {
        Dictionary(stages.map { ($0.name, $0.reproducible) }, uniquingKeysWith: { first, _ in first })
    }

    /// `{checked, reproducible, stages: [{stage, reproducible, differences, report}]}`.
    public var json: JSONValue {
        .object([
            ("checked", .int(Int64(checked))), ("reproducible", .int(Int64(reproducible))),
            ("stages", .array(stages.map { stage in
                .object([("stage", .string(stage.name)), ("reproducible", .bool(stage.reproducible)),
                         ("differences", .array(stage.differences.map(JSONValue.string))),
                         ("report", stage.report.map(JSONValue.string) ?? .null)])
            })),
        ])
    }
}

/// A pipeline's reproducibility over time, from the run history: the runs that checked anything
/// (`sutradhar reproduce`, or a nightly with `nightly: { reproduce: true }`), newest first.
public struct ReproducibilityHistory: Sendable {
    /// One run that checked.
    public struct Check: Sendable {
        public let run: String
        public let startedAt: Date
        public let commit: String
        public let findings: ReproducibilityFindings
    }

    /// How many recent runs of a pipeline are looked through for checks.
    public static let runsLookedAt = 200

    /// The pipeline's checks among its latest ``runsLookedAt`` runs, newest first, at most `limit`.
    /// Only the summaries stored in the history's database are read (no log file).
    /// - Throws: `RunHistoryError` if the history cannot be read.
    public static func checks(of pipeline: String, in history: RunHistory, limit: Int = 30) throws -> [Check] {
        var checks: [Check] = []
        for record in try history.runs(pipeline: pipeline, limit: runsLookedAt) where checks.count < limit {
            // Cheap before decoding: only a run whose summary has a `reproducible` output checked anything.
            guard let text = record.summary, text.contains("\"reproducible\":"),
                  let summary = try? RunSummary(runFinishedLine: text),
                  let findings = ReproducibilityFindings(summary: summary) else { continue }
            checks.append(Check(run: record.id, startedAt: record.startedAt, commit: record.commitSHA, findings: findings))
        }
        return checks
    }

    /// The latest check of every pipeline in the history that has one.
    /// - Throws: `RunHistoryError` if the history cannot be read.
    public static func latestPerPipeline(in history: RunHistory) throws -> [(pipeline: String, check: Check)] {
        let pipelines = Set(try history.runCounts().map(\.pipeline)).sorted()
        return try pipelines.compactMap { pipeline in
            try checks(of: pipeline, in: history, limit: 1).first.map { (pipeline, $0) }
        }
    }
}
