import Charts
import Foundation
import Synchronization
import HTTPTypes
import Hummingbird
import SutradharKit

/// The server-sent event feeds the live script follows. Nothing polls the history: the runs
/// feed is woken by `RunHistory.changes()` (inotify on the history folder), a run's feed by
/// `RunHistory.follow(run:)` (inotify on the run's events file).
enum LiveFeeds {
    /// How often an idle feed sends a comment, so that a browser that went away is noticed
    /// (the write fails) and its watch released.
    static let keepAliveEvery = 15

    /// `/events/runs`: a `rows` event with the runs table's new rows (for the page's filters and
    /// offset) whenever they differ from what the page was last sent.
    static func runs(query: RunsQuery, services: DashboardServices,
                     recheckEvery: Duration = RunHistory.followRecheckInterval) throws -> Response {
        let first = try RunPages.rows(query, services: services)
        try checkRoom(services)
        let changes = services.history.changes(recheckEvery: recheckEvery)
        return stream(announcing: false) { writer in try await services.feeds.holding {
            var last = first
            var idle = 0
            var watching = false
            for try await _ in changes {
                let rows = try RunPages.rows(query, services: services)
                if !watching {
                    // The first wakeup says the watch is in place: from here no change is missed.
                    watching = true
                    if rows != last { try await writer.write(ByteBuffer(string: message("rows", rows))) }
                    last = rows
                    try await writer.write(ByteBuffer(string: announcement))
                } else if rows != last {
                    last = rows
                    idle = 0
                    try await writer.write(ByteBuffer(string: message("rows", rows)))
                } else {
                    idle += 1
                    // Ticks come every followRecheckInterval (2 s) at least.
                    if idle * 2 >= keepAliveEvery {
                        idle = 0
                        try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    }
                }
            }
        } }
    }

    /// `/runs/ID/events`: the run as it happens — `log` events (`{"stage","line"}` JSON) for
    /// every log line from the first, a `summary` event (the verdict, timeline and stage table)
    /// at each stage start, wait and finish, and `done` after the run finished.
    static func run(_ id: String, services: DashboardServices) throws -> Response {
        guard let details = try services.history.run(id), details.record.id == id else { throw HTTPError(.notFound) }
        try checkRoom(services)
        let events = try services.history.follow(run: id)
        let history = services.history
        return stream { writer in try await services.feeds.holding {
            var timeline = RunTimeline()
            var seen = 0  // events of the run so far: every feed of it reads the same sequence
            for try await event in events {
                // A feed of a long finished run can have a million events ready at once: let
                // page requests (on the same few threads) in between them.
                await Task.yield()
                timeline.apply(event)
                seen += 1
                switch event.body {
                case .log(let stage, _, let line):
                    let payload = JSONValue.object([("stage", .string(stage)), ("line", .string(line))]).serialized()
                    try await writer.write(ByteBuffer(string: message("log", payload)))
                case .stageStarted, .stageWaiting, .stageFinished:
                    let summary = services.summaries.message(run: id, afterEvents: seen) {
                        RunView(record: details.record, timeline: timeline, history: history, commitSubjects: services.commitSubjects,
                                       traceLink: services.configuration.traceLink).summaryMarkup()
                    }
                    try await writer.write(summary)
                case .runFinished(let summary):
                    let summary = services.summaries.message(run: id, afterEvents: seen) {
                        // The recorder writes this event before it updates the run's row: the row
                        // may still say running here, so the summary's own verdict and commit win.
                        var record = (try? history.run(id))?.record ?? details.record
                        record.status = summary.status.rawValue
                        if !summary.commit.isEmpty { record.commitSHA = summary.commit }
                        if record.durationMilliseconds == nil { record.durationMilliseconds = summary.durationMilliseconds }
                        return RunView(record: record, timeline: timeline, history: history, commitSubjects: services.commitSubjects,
                                       traceLink: services.configuration.traceLink).summaryMarkup()
                    }
                    try await writer.write(summary)
                default:
                    break
                }
            }
            try await writer.write(ByteBuffer(string: message("done", "")))
        } }
    }

    /// One server-sent event: its name, and `data` split into `data:` lines (a carriage
    /// return, which would end a line early, becomes a newline).
    ///
    /// One pass over the UTF-8 bytes: the stage table of a run page is tens of kilobytes, and a
    /// server with 200 feeds of a run formats it at every stage event.
    static func message(_ name: String, _ data: String) -> String {
        var bytes: [UInt8] = Array("event: \(name)\ndata: ".utf8)
        bytes.reserveCapacity(bytes.count + data.utf8.count + 64)
        var afterCarriageReturn = false
        for byte in data.utf8 {
            switch byte {
            case UInt8(ascii: "\r"):
                bytes.append(contentsOf: "\ndata: ".utf8)
                afterCarriageReturn = true
                continue
            case UInt8(ascii: "\n"):
                if !afterCarriageReturn { bytes.append(contentsOf: "\ndata: ".utf8) }
            default:
                bytes.append(byte)
            }
            afterCarriageReturn = false
        }
        bytes.append(contentsOf: "\n\n".utf8)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A `text/event-stream` response written by `body`, finished when it returns.
    /// The comment that opens a feed (and says a runs feed is watching) and the browser's
    /// reconnection delay.
    static let announcement = ": sutradhar live feed\nretry: 2000\n\n"

    /// A `text/event-stream` response written by `body`, finished when it returns; it starts
    /// with `announcement` unless `body` sends it itself.
    static func stream(announcing: Bool = true, _ body: @escaping @Sendable (inout any ResponseBodyWriter) async throws -> Void) -> Response {
        Response(status: .ok,
                 headers: [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-store", HTTPField.Name("X-Accel-Buffering")!: "no"],
                 body: ResponseBody { writer in
                     if announcing { try await writer.write(ByteBuffer(string: announcement)) }
                     try await body(&writer)
                     try await writer.finish(nil)
                 })
    }

    /// Refuses a new feed with 503 when `FeedSlots.maximum` are open. Feeds of one page or one
    /// run share one file watch (the history's `SharedFolderWatches`), but each holds a
    /// connection, a task and its reads.
    static func checkRoom(_ services: DashboardServices) throws {
        guard services.feeds.open < FeedSlots.maximum else {
            throw HTTPError(.serviceUnavailable, message: "\(FeedSlots.maximum) live feeds are open on this server already; close some dashboard tabs (pages still work without their live updates: reload them)")
        }
    }
}

/// The live feeds open on one server, counted while their bodies are written.
final class FeedSlots: Sendable {
    /// The most feeds at once.
    static let maximum = 256
    private let count = Mutex(0)

    var open: Int { count.withLock { $0 } }

    /// Runs `body` as one open feed.
    func holding<T>(_ body: () async throws -> T) async rethrows -> T {
        count.withLock { $0 += 1 }
        defer { count.withLock { $0 -= 1 } }
        return try await body()
    }
}

/// The `summary` message (the stage table) each run's feeds last sent, keyed by how many of the
/// run's events it shows. Every feed of a run reads the same events in the same order, so the
/// message after its Nth event is the same for all of them: 200 feeds of one run render and
/// format it once, not 200 times, and share its bytes, so the server stays free to answer
/// pages while a stage ends.
final class SharedSummaries: Sendable {
    private let latest = Mutex<[String: (events: Int, message: ByteBuffer)]>([:])

    /// The `summary` message for `run` after `events` events, its markup made by `render`
    /// unless a feed already made it.
    func message(run: String, afterEvents events: Int, _ render: () -> String) -> ByteBuffer {
        if let made = latest.withLock({ $0[run] }), made.events == events { return made.message }
        let message = ByteBuffer(string: LiveFeeds.message("summary", render()))
        latest.withLock { latest in
            // One entry per run followed; a server that followed many runs forgets the older ones.
            if latest.count >= FeedSlots.maximum, latest[run] == nil { latest.removeAll() }
            if (latest[run]?.events ?? 0) <= events { latest[run] = (events, message) }
        }
        return message
    }
}
