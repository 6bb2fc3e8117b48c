import BuildCache
import Engine
import Foundation
import GitMirror
import Launcher
import Pipeline
import RunEvents
import RunHistory

/// One pipeline's part of `sutradhar nightly`: a run of the source's ref head with every stage
/// done again, compared with the previous nightly run of the same pipeline.
public enum NightlyRebuild {
    /// What the previous nightly run of a pipeline did, as the run history recorded it. The
    /// caller reads it (the history is a module above this one) and hands it in.
    public struct PreviousRun: Sendable {
        /// Its run ID.
        public let run: String
        /// When it started.
        public let startedAt: Date
        /// The commit it built (empty if its checkout failed).
        public let commit: String
        /// How it ended (`passed`, `failed`, `cancelled`, `abandoned`, `running`).
        public let status: String
        /// Each stage's wall time in milliseconds, by stage name.
        public let stageDurations: [String: Int64]
        /// Whether each checked stage's output was reproducible, by stage name (stages that
        /// were not checked are absent).
        public let reproducible: [String: Bool]

        /// Creates a value.
        public init(run: String, startedAt: Date, commit: String, status: String, stageDurations: [String: Int64],
                    reproducible: [String: Bool] = [:]) {
            self.run = run
            self.startedAt = startedAt
            self.commit = commit
            self.status = status
            self.stageDurations = stageDurations
            self.reproducible = reproducible
        }
    }

    /// How many commits since the previous nightly are described in a report (all are counted).
    public static let commitListLimit = 50

    /// Runs `plan` as a nightly rebuild and gathers its part of the report.
    ///
    /// The run is `Engine.run` with `noCache` set and the definition's own source and ref: the
    /// checkout step resolves the ref against the source's advertised refs and fetches when the
    /// head moved, and the engine applies the pipeline's `cache:` limits after the run, as it
    /// does after every run (what they evict shows up as a warning in the summary). Then
    /// `previous` is asked for the latest earlier nightly run (it receives this run's ID, to
    /// exclude it), and for a git source the mirror lists the commits between the two
    /// (`GitMirror.commits(from:to:limit:)`). Problems of the run end up in the entry.
    ///
    /// - Parameters:
    ///   - definitionFile: the definition's path, as the report should name it.
    ///   - options: the run's options; `noCache` is forced on, `commit` and `sourceOverride` off.
    ///   - launcher: starts and records the run (trigger `nightly`).
    ///   - sink: receives every event of the run, after the history recorded it.
    ///   - previous: the previous nightly run of this pipeline other than the given run ID.
    /// - Throws: `RunRefused` when the launcher is stopping: nothing ran.
    public static func run(_ plan: Plan, definitionFile: String, options: RunOptions, launcher: RunLauncher,
                           sink: @escaping EventSink,
                           previous: @Sendable (_ excluding: String) -> PreviousRun?) async throws(RunRefused) -> NightlyReport.Entry {
        var options = options
        options.noCache = true
        options.commit = nil
        options.sourceOverride = nil
        if plan.definition.nightly.reproduce { options.reproduce = ReproduceSettings(scope: .wholeRun) }
        let source = SourceSelection(definition: plan.definition, options: options)
        let summary = try await launcher.run(plan, options: options, trigger: .nightly, observe: sink)
        let previousRun = previous(summary.run)
        let (commits, note) = await commitsSince(previousRun, summary: summary, source: source, cacheRoot: options.cacheRoot)
        return NightlyReport.Entry(pipeline: plan.definition.name, definitionFile: definitionFile, source: source.description,
                                   ref: source.ref, cacheRoot: options.cacheRoot, summary: summary, previous: previousRun,
                                   commits: commits, commitsNote: note)
    }

    /// The commits between the previous nightly's commit and this one's, or why there is no list.
    private static func commitsSince(_ previous: PreviousRun?, summary: RunSummary, source: SourceSelection,
                                     cacheRoot: URL) async -> (CommitLog?, String?) {
        guard let previous else { return (nil, "no earlier nightly run of this pipeline to compare with") }
        guard !summary.commit.isEmpty else { return (nil, "this run resolved no commit (its checkout did not pass)") }
        guard !previous.commit.isEmpty else { return (nil, "the previous nightly run resolved no commit") }
        guard case .git(let location) = source.mode else {
            return (nil, "the source is a folder built as it is: its snapshots have no history")
        }
        if previous.commit == summary.commit { return (CommitLog(commits: [], total: 0), nil) }
        let mirrorsRoot = cacheRoot.standardizedFileURL.appendingPathComponent(CacheArea.mirrors.rawValue)
        do {
            let log = try await GitMirror(source: location, mirrorsRoot: mirrorsRoot)
                .commits(from: previous.commit, to: summary.commit, limit: commitListLimit)
            return (log, nil)
        } catch {
            return (nil, "the commits could not be listed: \(error)")
        }
    }
}
