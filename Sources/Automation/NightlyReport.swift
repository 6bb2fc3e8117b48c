import Engine
import FileWatching
import Foundation
import GitMirror
import Insights
import RunEvents

/// What one `sutradhar nightly` did: per pipeline, the verdict, each stage's duration against
/// the previous nightly run, and the commits since it. Written as Markdown (for people) and
/// JSON (for tools) under `CACHE/runs/nightly/`.
public struct NightlyReport: Sendable {
    /// How a nightly ended, as a whole: what the CLI turns into its exit code.
    public enum Verdict: Sendable, Equatable {
        /// Every pipeline ran and passed.
        case passed
        /// A pipeline failed (a finding about the code).
        case failed
        /// A pipeline stopped for a reason of the machine (daemon, nix, disk).
        case environmentProblem
        /// Interrupted: a run was cancelled, or pipelines were left out.
        case interrupted

        /// The verdict of `entries` out of `planned` pipelines. Fewer entries than planned means
        /// the nightly was interrupted between two pipelines: never `passed`, whatever the
        /// entries that did run say.
        public init(entries: [Entry], planned: Int) {
            if entries.count < planned || entries.contains(where: { $0.summary.status == .cancelled }) {
                self = .interrupted
            } else if entries.contains(where: { $0.summary.environmentProblem != nil }) {
                self = .environmentProblem
            } else {
                self = entries.allSatisfy { $0.summary.status == .passed } ? .passed : .failed
            }
        }
    }

    /// One pipeline's part.
    public struct Entry: Sendable {
        /// The pipeline's name.
        public let pipeline: String
        /// The definition file.
        public let definitionFile: String
        /// The source built (URL or path).
        public let source: String
        /// The ref resolved (nil: the source's HEAD).
        public let ref: String?
        /// The cache the run used; its report goes there.
        public let cacheRoot: URL
        /// The run's summary.
        public let summary: RunSummary
        /// The previous nightly run, if there was one.
        public let previous: NightlyRebuild.PreviousRun?
        /// The commits since the previous nightly's commit, when they could be listed.
        public let commits: CommitLog?
        /// Why `commits` is nil.
        public let commitsNote: String?

        /// Creates an entry; normally `NightlyRebuild.run` makes it.
        public init(pipeline: String, definitionFile: String, source: String, ref: String?, cacheRoot: URL,
                    summary: RunSummary, previous: NightlyRebuild.PreviousRun?, commits: CommitLog?, commitsNote: String?) {
            self.pipeline = pipeline
            self.definitionFile = definitionFile
            self.source = source
            self.ref = ref
            self.cacheRoot = cacheRoot
            self.summary = summary
            self.previous = previous
            self.commits = commits
            self.commitsNote = commitsNote
        }
    }

    /// When the nightly started.
    public let started: Date
    /// When it finished.
    public let finished: Date
    /// The pipelines, in the order they ran.
    public let entries: [Entry]

    /// Creates a report.
    public init(started: Date, finished: Date, entries: [Entry]) {
        self.started = started
        self.finished = finished
        self.entries = entries
    }

    /// Cancelled if any run was, else failed if any failed, else passed.
    public var status: RunStatus {
        if entries.contains(where: { $0.summary.status == .cancelled }) { return .cancelled }
        if entries.contains(where: { $0.summary.status != .passed }) { return .failed }
        return .passed
    }

    /// Where the reports of a cache go: `CACHE/runs/nightly`.
    public static func folder(cacheRoot: URL) -> URL {
        cacheRoot.appendingPathComponent("runs").appendingPathComponent("nightly")
    }

    // MARK: - Writing

    /// Writes `DATE.md` and `DATE.json` (the local date the nightly started) into `folder`,
    /// creating it. A later nightly of the same day writes `DATE-HHMMSS.md|.json` instead of
    /// replacing the first. Each file is written to a temporary name and renamed into place.
    /// - Returns: the two files.
    /// - Throws: `CallerError` `.io` if the folder or a file cannot be written.
    public func write(into folder: URL) throws(CallerError) -> (markdown: URL, json: URL) {
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let local = LocalTime(started)
            var base = local.date
            var counter = 1
            while FileManager.default.fileExists(atPath: folder.appendingPathComponent(base + ".md").path)
                    || FileManager.default.fileExists(atPath: folder.appendingPathComponent(base + ".json").path) {
                counter += 1
                base = "\(local.date)-\(local.compactTime)" + (counter > 2 ? "-\(counter - 1)" : "")
            }
            let markdownURL = folder.appendingPathComponent(base + ".md")
            let jsonURL = folder.appendingPathComponent(base + ".json")
            try Data(json().serialized().appending("\n").utf8).write(to: jsonURL, options: .atomic)
            try Data(markdown().utf8).write(to: markdownURL, options: .atomic)
            return (markdownURL, jsonURL)
        } catch {
            throw CallerError(.io, "cannot write the nightly report into \(folder.path); check that the cache folder is writable",
                              cause: "\(error)")
        }
    }

    // MARK: - JSON

    /// The report as JSON (keys in a fixed order; `schema` 1).
    public func json() -> JSONValue {
        .object([
            ("schema", 1), ("date", .string(LocalTime(started).date)),
            ("started", .string(RunEvent.rfc3339(started))), ("finished", .string(RunEvent.rfc3339(finished))),
            ("status", .string(status.rawValue)),
            ("pipelines", .array(entries.map(\.json))),
        ])
    }

    // MARK: - Markdown

    /// The report as Markdown: a table of every pipeline, then a section per pipeline.
    public func markdown() -> String {
        let passed = entries.filter { $0.summary.status == .passed }.count
        var text = "# Nightly rebuild, \(LocalTime(started).date)\n\n"
        text += "\(entries.count) pipeline\(entries.count == 1 ? "" : "s"): \(passed) passed, \(entries.count - passed) did not. "
        text += "Started \(RunEvent.rfc3339(started)), took \(ReportFormat.milliseconds(Int64(finished.timeIntervalSince(started) * 1000))). "
        text += "Every stage was run again (`--no-cache`).\n\n"
        text += "| Pipeline | Status | Commit | Duration | Previous nightly | Commits since |\n"
        text += "|---|---|---|---|---|---|\n"
        for entry in entries {
            let previous = entry.previous.map { "\($0.status), \(ReportFormat.milliseconds(entry.previousTotal ?? 0))" } ?? "none"
            let since = entry.commits.map { String($0.total) } ?? "?"
            text += "| \(ReportFormat.cell(entry.pipeline)) | \(ReportFormat.verdict(entry.summary.status.rawValue)) | "
                + "\(ReportFormat.code(String(entry.summary.commit.prefix(12)))) | \(ReportFormat.milliseconds(entry.summary.durationMilliseconds)) | "
                + "\(previous) | \(since) |\n"
        }
        for entry in entries { text += "\n" + entry.markdownSection }
        return text
    }
}

extension NightlyReport {
    /// Whether each checked stage of a run was reproducible, by stage name (stages that were not
    /// checked are absent).
    public static func reproducibility(of summary: RunSummary) -> [String: Bool] {
        ReproducibilityFindings(summary: summary)?.byStage ?? [:]
    }
}

/// The reproducibility part of one pipeline's nightly: what was checked, what missed, and what
/// changed since the previous night.
struct NightlyReproducibility {
    let findings: ReproducibilityFindings
    /// Stages reproducible the previous night and not now, and the other way round; nil when the
    /// previous night checked nothing.
    let newlyUnreproducible: [String]?
    let fixed: [String]?

    /// Nil when the run checked no stage.
    init?(summary: RunSummary, previous: NightlyRebuild.PreviousRun?) {
        guard let findings = ReproducibilityFindings(summary: summary) else { return nil }
        self.findings = findings
        let now = findings.byStage
        if let before = previous?.reproducible, !before.isEmpty {
            newlyUnreproducible = now.filter { !$0.value && before[$0.key] == true }.map(\.key).sorted()
            fixed = now.filter { $0.value && before[$0.key] == false }.map(\.key).sorted()
        } else {
            newlyUnreproducible = nil
            fixed = nil
        }
    }


    /// The drift line: what changed since the previous night.
    var drift: String {
        guard let newlyUnreproducible, let fixed else { return "Drift: the previous night checked nothing to compare with." }
        if newlyUnreproducible.isEmpty && fixed.isEmpty { return "Drift: none since the previous night." }
        var parts: [String] = []
        if !newlyUnreproducible.isEmpty { parts.append("newly unreproducible: " + newlyUnreproducible.map(ReportFormat.code).joined(separator: ", ")) }
        if !fixed.isEmpty { parts.append("fixed: " + fixed.map(ReportFormat.code).joined(separator: ", ")) }
        return "Drift since the previous night: " + parts.joined(separator: "; ") + "."
    }

    var markdown: String {
        var text = "\n### Reproducibility\n\n\(findings.headline).\n\n"
        let misses = findings.stages.filter { !$0.reproducible }
        for miss in misses {
            // Names come from inside a build's output: no control character reaches the Markdown.
            let files = miss.differences.prefix(10).map { ReportFormat.code(ReportFormat.printable($0)) }.joined(separator: ", ")
            let more = miss.differences.count > 10 ? " and \(miss.differences.count - 10) more" : ""
            text += "- \(ReportFormat.code(miss.name)) is not reproducible: \(files.isEmpty ? "the outputs differ" : files)\(more)"
            text += miss.report.map { "; report: [\($0)](file://\($0))" } ?? ""
            text += "\n"
        }
        if !misses.isEmpty { text += "\n" }
        return text + drift + "\n"
    }

    var json: JSONValue {
        guard case .object(var pairs) = findings.json else { return findings.json }
        pairs.append(("newly_unreproducible", newlyUnreproducible.map { .array($0.map(JSONValue.string)) } ?? .null))
        pairs.append(("fixed", fixed.map { .array($0.map(JSONValue.string)) } ?? .null))
        return .object(pairs)
    }
}

extension NightlyReport.Entry {
    /// The previous nightly's total of the stages this run also has, for the overview.
    var previousTotal: Int64? {
        guard let previous else { return nil }
        return summary.stages.compactMap { previous.stageDurations[$0.name] }.reduce(0, +)
    }

    var json: JSONValue {
        var pairs: [(String, JSONValue)] = [
            ("pipeline", .string(pipeline)), ("definition", .string(definitionFile)), ("source", .string(source)),
            ("ref", ref.map(JSONValue.string) ?? .null), ("run", .string(summary.run)), ("status", .string(summary.status.rawValue)),
            ("commit", .string(summary.commit)), ("duration_ms", .int(summary.durationMilliseconds)),
        ]
        if let problem = summary.environmentProblem { pairs.append(("environment_problem", .string(problem))) }
        pairs.append(("previous", previous.map { previous in
            .object([("run", .string(previous.run)), ("started", .string(RunEvent.rfc3339(previous.startedAt))),
                     ("commit", .string(previous.commit)), ("status", .string(previous.status))])
        } ?? .null))
        pairs.append(("commits_since_previous", commits.map { log in
            .object([("total", .int(Int64(log.total))), ("listed", .array(log.commits.map { commit in
                .object([("sha", .string(commit.sha)), ("subject", .string(commit.subject)),
                         ("author", .string(commit.author)), ("time", .string(RunEvent.rfc3339(commit.time)))])
            }))])
        } ?? .null))
        if let commitsNote { pairs.append(("commits_note", .string(commitsNote))) }
        pairs.append(("stages", .array(summary.stages.map { stage in
            let before = previous?.stageDurations[stage.name]
            var fields: [(String, JSONValue)] = [
                ("name", .string(stage.name)), ("kind", .string(stage.kind)), ("status", .string(stage.status.rawValue)),
                ("cached", .bool(stage.cached)), ("duration_ms", .int(stage.durationMilliseconds)),
                ("previous_duration_ms", before.map(JSONValue.int) ?? .null),
                ("change_ms", before.map { .int(stage.durationMilliseconds - $0) } ?? .null),
            ]
            if let error = stage.error { fields.append(("error", .string(error))) }
            return .object(fields)
        })))
        pairs.append(("warnings", .array(summary.warnings.map(JSONValue.string))))
        if let reproducibility = NightlyReproducibility(summary: summary, previous: previous) {
            pairs.append(("reproducibility", reproducibility.json))
        }
        return .object(pairs)
    }

    var markdownSection: String {
        var text = "## \(pipeline): \(ReportFormat.verdict(summary.status.rawValue))\n\n"
        text += "Run \(ReportFormat.code(summary.run)) of \(ReportFormat.code(definitionFile)), source \(ReportFormat.code(source))"
        text += ref.map { " at \(ReportFormat.code($0))" } ?? ""
        text += summary.commit.isEmpty ? ", no commit resolved.\n" : ", commit \(ReportFormat.code(summary.commit)).\n"
        if let problem = summary.environmentProblem {
            text += "\n**Environment problem:** \(problem)\n"
        }
        if let previous {
            text += "\nPrevious nightly: run \(ReportFormat.code(previous.run)), \(RunEvent.rfc3339(previous.startedAt)), "
                + "\(previous.status)\(previous.commit.isEmpty ? "" : " at \(ReportFormat.code(String(previous.commit.prefix(12))))").\n"
        } else {
            text += "\nNo earlier nightly run of this pipeline to compare with.\n"
        }
        text += "\n| Stage | Kind | Status | Duration | Previous | Change |\n|---|---|---|---|---|---|\n"
        for stage in summary.stages {
            let before = previous?.stageDurations[stage.name]
            text += "| \(ReportFormat.cell(stage.name)) | \(stage.kind) | \(ReportFormat.verdict(stage.status.rawValue)) | "
                + "\(ReportFormat.milliseconds(stage.durationMilliseconds)) | \(before.map(ReportFormat.milliseconds) ?? "–") | "
                + "\(before.map { ReportFormat.change(from: $0, to: stage.durationMilliseconds) } ?? "–") |\n"
        }
        let unhappy = summary.stages.filter { $0.status == .failed }
        if !unhappy.isEmpty {
            text += "\n"
            for stage in unhappy {
                text += "- \(ReportFormat.code(stage.name)) failed: \(stage.error ?? "no reason given"). Its log: "
                    + "`sutradhar runs logs \(summary.run) --stage \(stage.name) --cache-dir \(cacheRoot.path)`\n"
            }
        }
        if !summary.warnings.isEmpty {
            text += "\nWarnings:\n\n" + summary.warnings.map { "- \($0)\n" }.joined()
        }
        if let reproducibility = NightlyReproducibility(summary: summary, previous: previous) {
            text += reproducibility.markdown
        }
        if let commits {
            switch commits.total {
            case 0:
                text += "\nNo new commits since the previous nightly.\n"
            default:
                text += "\n\(commits.total) commit\(commits.total == 1 ? "" : "s") since the previous nightly"
                text += commits.total > commits.commits.count ? " (the newest \(commits.commits.count) listed):\n\n" : ":\n\n"
                for commit in commits.commits {
                    text += "- \(ReportFormat.code(String(commit.sha.prefix(12)))) \(commit.subject) (\(commit.author))\n"
                }
            }
        } else if let commitsNote, previous != nil {
            text += "\nCommits since the previous nightly: unknown (\(commitsNote)).\n"
        }
        return text
    }
}

/// The local calendar date and time of an instant, for report names (a nightly at 03:00 belongs
/// to the user's day, not UTC's).
struct LocalTime {
    /// `YYYY-MM-DD`.
    let date: String
    /// `HHMMSS`.
    let compactTime: String

    init(_ instant: Date) {
        var seconds = time_t(instant.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        localtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int = 2) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        date = "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1))-\(pad(parts.tm_mday))"
        compactTime = "\(pad(parts.tm_hour))\(pad(parts.tm_min))\(pad(parts.tm_sec))"
    }
}

/// Markdown helpers for the report.
enum ReportFormat {
    /// `850ms`, `12.3s`, `4m05s`.
    static func milliseconds(_ value: Int64) -> String {
        if value < 1000 { return "\(value)ms" }
        if value < 60_000 { return String(format: "%.1fs", Double(value) / 1000) }
        let seconds = value / 1000
        return "\(seconds / 60)m\(seconds % 60 < 10 ? "0" : "")\(seconds % 60)s"
    }

    /// `+1.2s (+15%)`, `-300ms (-4%)`.
    static func change(from before: Int64, to after: Int64) -> String {
        let delta = after - before
        let sign = delta < 0 ? "-" : "+"
        var text = sign + milliseconds(abs(delta))
        if before > 0 {
            let percent = Int((Double(delta) / Double(before) * 100).rounded())
            text += " (\(percent < 0 ? "" : "+")\(percent)%)"
        }
        return text
    }

    /// A status in bold when it is not `passed`, so failures stand out in the tables.
    static func verdict(_ status: String) -> String {
        status == "passed" ? status : "**\(status)**"
    }

    /// Inline code; empty text becomes a dash.
    static func code(_ text: String) -> String {
        text.isEmpty ? "–" : "`\(text.replacingOccurrences(of: "`", with: "'"))`"
    }

    /// Text with every control character (a newline in a file name) shown as `?`.
    static func printable(_ text: String) -> String {
        String(text.unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : Character($0) })
    }

    /// Text safe inside a table cell.
    static func cell(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|")
    }
}
