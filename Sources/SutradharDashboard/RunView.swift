import Charts
import Foundation
import SutradharKit

/// A run's page as markup: the verdict, the timeline, the stage table (the live-updated
/// `summary` part) and the logs. Everything from the run is escaped here.
struct RunView {
    let record: RunRecord
    let timeline: RunTimeline
    let history: RunHistory
    /// Where the commit's subject is looked up (nil: the commit shows as its id only).
    let commitSubjects: CommitSubjects?
    /// Where the run's trace is viewed (nil: its ID is shown as text).
    let traceLink: TraceLink?

    init(details: RunDetails, history: RunHistory, commitSubjects: CommitSubjects? = nil, traceLink: TraceLink? = nil) throws {
        self.init(record: details.record, timeline: try RunTimeline.read(run: details.record.id, in: history), history: history,
                  commitSubjects: commitSubjects, traceLink: traceLink)
    }

    init(record: RunRecord, timeline: RunTimeline, history: RunHistory, commitSubjects: CommitSubjects? = nil, traceLink: TraceLink? = nil) {
        self.record = record
        self.timeline = timeline
        self.history = history
        self.commitSubjects = commitSubjects
        self.traceLink = traceLink
    }

    /// The stage the docker audit trail is logged under (see docs/events.md, "docker audit").
    static let auditStage = DockerSession.auditStage

    /// The stages shown in the table and the chart (the audit trail is not a stage one ran).
    var stages: [RunTimeline.Stage] { timeline.stages.filter { $0.name != Self.auditStage } }

    func pageMarkup(allowTrigger: Bool, csrf: String? = nil) -> String {
        """
        <div id="summary">
        \(summaryMarkup())
        </div>
        \(allowTrigger ? triggerMarkup(csrf: csrf) : "")
        \(attestationsMarkup())
        <h2>Logs</h2>
        <section id="logs">
        \(logsMarkup())
        </section>
        \(auditMarkup())
        """
    }

    /// The signed statements the run wrote, each checked with this machine's key: "signed by
    /// KEYID, verified" (or why not). Nothing when the run wrote none.
    func attestationsMarkup(verifyingWith key: VerifyingKey? = AttestationTools.localVerifyingKey()) -> String {
        let attestations = history.attestations(ofRun: record.id, verifyingWith: key)
        guard !attestations.isEmpty else { return "" }
        let rows = attestations.map { attestation in
            let state = attestation.verified == true ? "passed" : (attestation.verified == false ? "failed" : "skipped")
            return "<tr data-attestation=\"\(MarkupText.escaped(attestation.stage))\"><td>\(MarkupText.escaped(attestation.stage))</td>"
                + "<td><code>\(MarkupText.escaped(attestation.predicateType))</code></td>"
                + "<td>\(attestation.subjects.map { "<code>\(MarkupText.escaped($0))</code>" }.joined(separator: "<br>"))</td>"
                + "<td data-status=\"\(state)\">\(MarkupText.escaped(attestation.verdictText))</td></tr>"
        }.joined()
        return """
            <h2>Attestations</h2>
            <table class="attestations"><thead><tr><th>Stage</th><th>Predicate</th><th>Subjects</th><th>Signature</th></tr></thead>
            <tbody>\(rows)</tbody></table>
            <p class="legend">Check one elsewhere with <code>sutradhar attest verify FILE --key PUB.pem --image REF</code> (docs/attestations.md).</p>
            """
    }

    /// The verdict, the timeline and the stage table: what the live feed replaces.
    func summaryMarkup() -> String {
        let id = MarkupText.escaped(record.id)
        let commit = record.commitSHA.isEmpty ? (timeline.summary?.commit ?? "") : record.commitSHA
        var facts = ["pipeline <a href=\"/pipelines/\(MarkupText.escaped(RunPages.percentEncoded(record.pipeline)))\">\(MarkupText.escaped(record.pipeline))</a>",
                     "trigger \(MarkupText.escaped(record.trigger))",
                     "started <time datetime=\"\(RunEvent.rfc3339(record.startedAt))\">\(Formatting.time(record.startedAt))</time>"]
        if !commit.isEmpty {
            facts.insert("commit \(RunPages.commitMarkup(commit, subject: commitSubjects?.subject(source: record.source, sha: commit)))", at: 1)
        }
        facts.append("source <code>\(MarkupText.escaped(record.source))</code>\(record.ref.map { " at <code>\(MarkupText.escaped($0))</code>" } ?? "")")
        if let duration = record.durationMilliseconds ?? timeline.summary?.durationMilliseconds { facts.append("took \(Formatting.duration(duration))") }
        // Only a well-formed ID is shown or linked: the history file is input like any other.
        if let traceID = timeline.summary?.traceID, TraceLink.isTraceID(traceID) {
            let code = "<code class=\"trace\">\(traceID)</code>"
            facts.append("trace " + (traceLink?.url(for: traceID).map { "<a href=\"\(MarkupText.escaped($0))\" rel=\"noreferrer\">\(code)</a>" } ?? code))
        }
        var parts = ["""
            <div id="verdict" class="verdict" data-status="\(MarkupText.escaped(record.status))">
            <h1>Run <code>\(id)</code></h1> \(Layout.badge(record.status))
            </div>
            <p class="facts">\(facts.joined(separator: " · "))</p>
            """]
        if let problem = timeline.summary?.environmentProblem {
            parts.append("<p class=\"error\">environment problem: \(MarkupText.escaped(problem))</p>")
        }
        for warning in timeline.warnings { parts.append("<p class=\"warning\">warning: \(MarkupText.escaped(warning))</p>") }
        parts.append("<h2>Timeline</h2>")
        parts.append(chart().svg(id: "timeline"))
        if !timeline.timed {
            parts.append("<p class=\"legend\">This run was recorded before start and finish times were kept: each bar shows only how long its stage took.</p>")
        }
        parts.append("<p class=\"legend\">Bars run from a stage's start to its finish; amber: waiting for a lock another run holds; grey row: queued for a run slot; dashed: cached.</p>")
        parts.append("<h2>Stages</h2>")
        parts.append(stageTable())
        return parts.joined(separator: "\n")
    }

    func chart() -> GanttChart {
        let origin = timeline.started ?? record.startedAt
        let now = timeline.finished ?? timeline.lastEvent ?? origin
        func offset(_ date: Date?) -> Double { max(0, (date ?? now).timeIntervalSince(origin)) }
        let rows = stages.map { stage in
            let duration = Double(stage.result?.durationMilliseconds ?? 0) / 1000
            guard timeline.timed else {
                // Only durations are known: each bar from the run's start, as long as the stage took.
                return GanttChart.Row(name: stage.name, start: 0, end: duration, status: stage.status, cached: stage.cached)
            }
            let end = stage.finished ?? max(now, Date())
            let start = stage.started ?? stage.finished.map { $0.addingTimeInterval(-duration) } ?? origin
            return GanttChart.Row(name: stage.name, start: offset(start), end: offset(end), status: stage.status, cached: stage.cached,
                                  waits: stage.waits.map { offset($0.start)...max(offset($0.start), offset($0.end ?? end)) })
        }
        return GanttChart(rows: rows, queued: timeline.queued.map { offset($0.start)...max(offset($0.start), offset($0.end ?? now)) })
    }

    func stageTable() -> String {
        let rows = stages.map { stage -> String in
            let name = MarkupText.escaped(stage.name)
            let status = stage.waiting ? "running" : stage.status
            let duration = stage.result.map { Formatting.duration($0.durationMilliseconds) }
                ?? stage.started.map { "\(Formatting.duration(Int64(Date().timeIntervalSince($0) * 1000)))…" } ?? "–"
            var error = ""
            if let result = stage.result, let message = result.error {
                error = "<p class=\"error\"><code>\(MarkupText.escaped(result.code ?? "error"))</code> \(MarkupText.escaped(message))</p>"
            }
            let note = stage.waiting ? " <span class=\"badge status-waiting\">waiting</span>" : ""
            return "<tr data-stage=\"\(name)\" data-status=\"\(MarkupText.escaped(status))\">"
                + "<td><a href=\"#log-\(name)\">\(name)</a></td><td>\(MarkupText.escaped(stage.kind ?? ""))</td>"
                + "<td>\(Layout.badge(status))\(note)\(stage.cached ? " <span class=\"cached\">cached</span>" : "")</td>"
                + "<td class=\"number\">\(duration)</td><td>\(outputs(stage.result))\(error)</td></tr>"
        }
        return """
            <table id="stages">
            <thead><tr><th>Stage</th><th>Kind</th><th>Status</th><th class="number">Duration</th><th>Outputs</th></tr></thead>
            <tbody>\(rows.joined(separator: "\n"))</tbody>
            </table>
            """
    }

    /// A stage's outputs as a definition list: store path, image ID, probe attempts, limits and
    /// whether each is enforced — whatever the stage reported, by its own names.
    func outputs(_ result: StageResult?) -> String {
        guard let result, !result.outputs.isEmpty else { return "" }
        let items = result.outputs.map { key, value in
            "<dt>\(MarkupText.escaped(key))</dt><dd><code>\(MarkupText.escaped(Self.text(value)))</code></dd>"
        }
        return "<dl class=\"outputs\">\(items.joined())</dl>"
    }

    static func text(_ value: JSONValue) -> String {
        if let string = value.stringValue { return string }
        return value.serialized()
    }

    /// Each stage's log (the failing stage's open), as the files hold it now; `data-lines`
    /// says how many lines are shown, so the live script appends only what follows.
    func logsMarkup() -> String {
        let failed = stages.first { $0.status == "failed" }?.name
        var names = stages.map(\.name)
        let folder = history.folder.appendingPathComponent(record.id)
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
            .filter { $0.hasSuffix(".log") }.map { String($0.dropLast(4)) }.sorted()
        names += files.filter { !names.contains($0) && $0 != Self.auditStage }
        return names.map { name in
            let (text, lines, truncated) = Self.log(history.logFile(run: record.id, stage: name))
            let escaped = MarkupText.escaped(name)
            let more = truncated ? "<p class=\"legend\">Only the end is shown: <a href=\"/runs/\(MarkupText.escaped(record.id))/logs/\(escaped)\">the whole log</a>.</p>" : ""
            let error = stages.first { $0.name == name }?.result.flatMap { result in
                result.error.map { "<p class=\"error\"><code>\(MarkupText.escaped(result.code ?? "error"))</code> \(MarkupText.escaped($0))</p>" }
            } ?? ""
            return "<details id=\"log-\(escaped)\"\(name == failed ? " open" : "")><summary>\(escaped)</summary>\(error)\(more)"
                + "<pre data-log-stage=\"\(escaped)\" data-lines=\"\(lines)\">\(MarkupText.escaped(text))</pre></details>"
        }.joined(separator: "\n")
    }

    /// The docker audit trail: the daemon's own record of what the run did.
    func auditMarkup() -> String {
        let (text, _, _) = Self.log(history.logFile(run: record.id, stage: Self.auditStage))
        guard !text.isEmpty else { return "" }
        return "<h2>Docker audit trail</h2><pre id=\"audit\">\(MarkupText.escaped(text))</pre>"
    }

    /// The end of a log (at most `StageLogWindow.maximumBytes`), how many lines the file has,
    /// and whether the beginning was left out.
    static func log(_ file: URL) -> (text: String, lines: Int, truncated: Bool) {
        let tail = StageLogWindow.tail(file, lines: Int.max / 2)
        guard tail.totalBytes > 0 else { return ("", 0, false) }
        return (tail.text, newlines(in: file), tail.offset > 0)
    }

    /// The newlines in `file`, counted in 1 MiB reads with `memchr`: memory stays flat and a
    /// 100 MB log is counted in a fraction of a second (the live script skips that many lines
    /// of the feed's replay).
    static func newlines(in file: URL) -> Int {
        guard let handle = FileHandle(forReadingAtPath: file.path) else { return 0 }
        defer { try? handle.close() }
        var count = 0
        while let chunk = try? handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            chunk.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
                guard var cursor = bytes.baseAddress else { return }
                let end = cursor + bytes.count
                while cursor < end, let found = memchr(cursor, Int32(UInt8(ascii: "\n")), end - cursor) {
                    count += 1
                    cursor = UnsafeRawPointer(found) + 1
                }
            }
        }
        return count
    }

    func triggerMarkup(csrf: String?) -> String {
        let id = MarkupText.escaped(record.id)
        let failed = stages.contains { $0.status == "failed" }
        let field = Layout.csrfField(csrf)
        return "<div class=\"triggers\">"
            + "<form method=\"post\" action=\"/runs/\(id)/rerun\">\(field)<button type=\"submit\">Run again</button></form>"
            + (failed ? "<form method=\"post\" action=\"/runs/\(id)/rerun-failed\">\(field)<button type=\"submit\">Run only the failed stages</button></form>" : "")
            + "</div>"
    }
}
