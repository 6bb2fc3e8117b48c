import Charts
import Foundation
import Hummingbird
import NIOCore
import SutradharKit

/// The runs page (`/`) and a run's page (`/runs/ID`), with their live feeds.
public enum RunPages {
    /// How many runs one page of the runs table shows.
    public static let pageSize = 50

    /// Registers `/`, `/runs/:id`, `/runs/:id/logs/:stage` and the live feeds
    /// `/events/runs` and `/runs/:id/events`.
    public static func register(on router: Router<DashboardRequestContext>, services: DashboardServices) {
        router.get("/") { request, context in try runsPage(request, context: context, services: services) }
        router.get("/events/runs") { request, _ in try LiveFeeds.runs(query: RunsQuery(request), services: services) }
        router.get("/runs/:id") { request, context in try runPage(request, context: context, services: services) }
        router.get("/runs/:id/events") { _, context in try LiveFeeds.run(try runID(context), services: services) }
        router.get("/runs/:id/logs/:stage") { _, context in try logFile(context, services: services) }
    }

    // MARK: The runs page

    static func runsPage(_ request: Request, context: DashboardRequestContext, services: DashboardServices) throws -> Response {
        let query = try RunsQuery(request)
        if request.uri.queryParameters.get("fragment") == "rows" {
            return Layout.html(try rows(query, services: services))
        }
        let runs = try services.history.runs(pipeline: query.pipeline, status: query.status, trigger: query.trigger,
                                             limit: pageSize + 1, offset: query.offset)
        let pipelines = (try? services.history.pipelineNames()) ?? []
        let body = """
            <h1>Runs</h1>
            \(filterForm(query, pipelines: pipelines))
            <table id="runs">
            <thead><tr><th>Status</th><th>Pipeline</th><th>Commit</th><th>Trigger</th><th class="number">Duration</th><th>Started</th><th>Run</th></tr></thead>
            <tbody>\(rowsMarkup(Array(runs.prefix(pageSize)), services: services))</tbody>
            </table>
            \(pager(query, hasMore: runs.count > pageSize))
            """
        return Layout.response(title: "Runs", section: .runs, context: context,
                               bodyAttributes: "data-live=\"/events/runs\(MarkupText.escaped(query.queryString(offset: query.offset)))\"", body: body)
    }

    /// The table rows for `query`: what the live feed sends when the history changes.
    static func rows(_ query: RunsQuery, services: DashboardServices) throws -> String {
        rowsMarkup(try services.history.runs(pipeline: query.pipeline, status: query.status, trigger: query.trigger,
                                             limit: pageSize, offset: query.offset), services: services)
    }

    /// The rows of `runs`, each commit with its subject where `services` finds it in a mirror.
    static func rowsMarkup(_ runs: [RunRecord], services: DashboardServices) -> String {
        rowsMarkup(runs, subjects: services.commitSubjects.subjects(for: runs))
    }

    static func rowsMarkup(_ runs: [RunRecord], subjects: [String: String]) -> String {
        guard !runs.isEmpty else { return "<tr class=\"empty\"><td colspan=\"7\">No runs match.</td></tr>" }
        return runs.map { run in
            let id = MarkupText.escaped(run.id)
            let status = MarkupText.escaped(run.status)
            let commit = run.commitSHA.isEmpty ? "–" : commitMarkup(run.commitSHA, subject: subjects[run.commitSHA])
            return "<tr data-run-id=\"\(id)\" data-status=\"\(status)\">"
                + "<td>\(Layout.badge(run.status))</td>"
                + "<td><a href=\"/?pipeline=\(MarkupText.escaped(percentEncoded(run.pipeline)))\">\(MarkupText.escaped(run.pipeline))</a></td>"
                + "<td>\(commit)</td><td>\(MarkupText.escaped(run.trigger))</td>"
                + "<td class=\"number\">\(Formatting.duration(run.durationMilliseconds))</td>"
                + "<td><time datetime=\"\(RunEvent.rfc3339(run.startedAt))\">\(Formatting.time(run.startedAt))</time></td>"
                + "<td><a href=\"/runs/\(id)\"><code>\(id)</code></a></td></tr>"
        }.joined()
    }

    /// A commit as the pages show it: the short id (the whole one in its title), then its
    /// subject where known. The subject is the run's (the committer's) text: escaped, and cut
    /// short by the stylesheet (`.subject`), the whole of it in its title.
    static func commitMarkup(_ sha: String, subject: String?) -> String {
        let id = "<code title=\"\(MarkupText.escaped(sha))\">\(MarkupText.escaped(String(sha.prefix(12))))</code>"
        guard let subject, !subject.isEmpty else { return id }
        let text = MarkupText.escaped(subject)
        return "\(id) <span class=\"subject\" title=\"\(text)\">\(text)</span>"
    }

    static func filterForm(_ query: RunsQuery, pipelines: [String]) -> String {
        func select(_ name: String, _ label: String, _ values: [String], _ chosen: String?) -> String {
            let options = ([""] + values).map { value in
                "<option value=\"\(MarkupText.escaped(value))\"\(value == (chosen ?? "") ? " selected" : "")>\(value.isEmpty ? "any" : MarkupText.escaped(value))</option>"
            }.joined()
            return "<label>\(label)<select name=\"\(name)\">\(options)</select></label>"
        }
        let known = query.pipeline.map { pipelines.contains($0) ? pipelines : pipelines + [$0] } ?? pipelines
        return "<form class=\"filters\" method=\"get\" action=\"/\">"
            + select("pipeline", "Pipeline", known, query.pipeline)
            + select("status", "Status", RunHistory.statuses, query.status)
            + select("trigger", "Trigger", RunHistory.triggers, query.trigger)
            + "<button type=\"submit\">Filter</button></form>"
    }

    static func pager(_ query: RunsQuery, hasMore: Bool) -> String {
        var links: [String] = []
        if query.offset > 0 {
            links.append("<a rel=\"prev\" href=\"/\(MarkupText.escaped(query.queryString(offset: max(0, query.offset - pageSize))))\">← newer</a>")
        }
        if hasMore {
            links.append("<a rel=\"next\" href=\"/\(MarkupText.escaped(query.queryString(offset: query.offset + pageSize)))\">older →</a>")
        }
        return "<nav class=\"pager\">\(links.joined())</nav>"
    }

    // MARK: A run's page

    static func runPage(_ request: Request, context: DashboardRequestContext, services: DashboardServices) throws -> Response {
        let id = try runID(context)
        guard let details = try services.history.run(id), details.record.id == id else { throw HTTPError(.notFound) }
        let view = try RunView(details: details, history: services.history, commitSubjects: services.commitSubjects,
                               traceLink: services.configuration.traceLink)
        if request.uri.queryParameters.get("fragment") == "summary" { return Layout.html(view.summaryMarkup()) }
        let live = details.record.status == "running" ? "data-live=\"/runs/\(MarkupText.escaped(id))/events\"" : ""
        return Layout.response(title: "\(details.record.pipeline) \(id)", section: .runs, context: context, bodyAttributes: live,
                               body: view.pageMarkup(allowTrigger: services.configuration.allowTrigger, csrf: context.csrfToken))
    }

    /// A stage's whole log as plain text.
    static func logFile(_ context: DashboardRequestContext, services: DashboardServices) throws -> Response {
        let id = try runID(context)
        guard let stage = context.parameters.get("stage") else { throw HTTPError(.notFound) }
        guard let details = try services.history.run(id), details.record.id == id,
              let file = services.history.stageLogFile(run: details, stage: stage) else { throw HTTPError(.notFound) }
        let descriptor = open(file.path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw HTTPError(.notFound) }
        // Streamed in 32 KiB pieces, each read only once the connection's event loop has taken
        // the last: a write returns as soon as it is queued for that loop, and the writer stops
        // only once the socket's buffer is full, so without the wait a busy loop lets a fast
        // reader's pieces pile up in its queue (8 readers of a 100 MB log: 460 MiB). With it,
        // a 100 MB log costs no 100 MB here, whatever the reader's pace.
        let eventLoop = context.eventLoop
        return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init { writer in
            defer { close(descriptor) }
            let pieceBytes = 32 * 1024
            var buffer = ByteBufferAllocator().buffer(capacity: pieceBytes)
            while true {
                buffer.clear()
                let count = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: pieceBytes) { free in
                    read(descriptor, free.baseAddress, min(free.count, pieceBytes))
                }
                // A failed read ends the response without its end: the client sees it cut.
                guard count >= 0 else { throw HTTPError(.internalServerError, message: "reading the log failed") }
                guard count > 0 else { break }
                try await writer.write(buffer)
                try await eventLoop.submit {}.get()
            }
            try await writer.finish(nil)
        })
    }

    /// The `:id` parameter, if it is a run ID at all (else 404: nothing else reaches the history).
    static func runID(_ context: DashboardRequestContext) throws -> String {
        guard let id = context.parameters.get("id"), RunHistory.isValidRunID(id) else { throw HTTPError(.notFound) }
        return id
    }

    static func percentEncoded(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? ""
    }
}

/// The filters and page of the runs table, from the query string (`pipeline`, `status`,
/// `trigger`, `offset`); an unknown status or trigger is a 400 naming the ones there are.
struct RunsQuery: Sendable, Equatable {
    var pipeline: String?
    var status: String?
    var trigger: String?
    var offset: Int

    init(pipeline: String? = nil, status: String? = nil, trigger: String? = nil, offset: Int = 0) {
        self.pipeline = pipeline
        self.status = status
        self.trigger = trigger
        self.offset = offset
    }

    init(_ request: Request) throws {
        let parameters = request.uri.queryParameters
        func value(_ name: String) -> String? {
            parameters.get(name).flatMap { $0.isEmpty ? nil : $0 }
        }
        self.init(pipeline: value("pipeline"), status: value("status"), trigger: value("trigger"), offset: max(0, Int(value("offset") ?? "0") ?? 0))
        if let status, !RunHistory.statuses.contains(status) {
            throw HTTPError(.badRequest, message: "status '\(status)' is not one of \(RunHistory.statuses.joined(separator: ", "))")
        }
        if let trigger, !RunHistory.triggers.contains(trigger) {
            throw HTTPError(.badRequest, message: "trigger '\(trigger)' is not one of \(RunHistory.triggers.joined(separator: ", "))")
        }
    }

    /// `?pipeline=…&status=…&trigger=…&offset=…` (only what is set), percent-encoded.
    func queryString(offset: Int) -> String {
        let pairs = [("pipeline", pipeline), ("status", status), ("trigger", trigger), ("offset", offset > 0 ? String(offset) : nil)]
            .compactMap { name, value in value.map { "\(name)=\(RunPages.percentEncoded($0))" } }
        return pairs.isEmpty ? "" : "?" + pairs.joined(separator: "&")
    }
}

/// How times and durations read on the pages.
enum Formatting {
    static func duration(_ milliseconds: Int64?) -> String {
        guard let milliseconds else { return "–" }
        if milliseconds < 1000 { return "\(milliseconds) ms" }
        let seconds = Double(milliseconds) / 1000
        if seconds < 60 { return String(format: "%.1f s", seconds) }
        return String(format: "%dm %02ds", Int(seconds) / 60, Int(seconds) % 60)
    }

    /// `2026-12-02 00:22:17Z`: UTC, to the second.
    static func time(_ date: Date) -> String {
        let text = RunEvent.rfc3339(date)
        return String(text.prefix(19)).replacingOccurrences(of: "T", with: " ") + "Z"
    }
}
