import RunEvents
import FileWatching
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One line of a stage's log.
public struct LogLine: Sendable, Equatable {
    /// The stage that logged it.
    public let stage: String
    /// `stdout` or `stderr`; nil when read from a stage's log file, which does not keep it.
    public let stream: String?
    /// The line, without its newline.
    public let line: String

    /// Creates a line.
    public init(stage: String, stream: String?, line: String) {
        self.stage = stage
        self.stream = stream
        self.line = line
    }
}

extension RunHistory {
    /// How often a follower looks again without being told: the safety net for a change that
    /// inotify cannot report (a writer on another machine sharing the cache over NFS) and the
    /// interval at which a follower notices that the run's process died (a kill -9 writes nothing).
    public static let followRecheckInterval: Duration = .seconds(2)

    /// The events of a run, from its first, as they are written, ending after the run-finished
    /// event, or once the run's process is gone (the run was abandoned) and everything it wrote
    /// has been read.
    ///
    /// Driven by the writer: `HistoryRecorder` appends each event to the run's `events.jsonl`,
    /// which is watched with inotify(7), so a follower sees an event as soon as it is written;
    /// besides, it reads again every `recheckEvery` (default `followRecheckInterval`, 2 s). So
    /// the latency is that of inotify (immediate) on one machine, and at most `recheckEvery` in
    /// any case; an abandoned run ends the sequence within `recheckEvery` of its process dying.
    /// A run recorded before events files were written yields its summary (if it finished) and ends.
    /// - Throws: `RunHistoryError` if there is no such run or the history cannot be read; while
    ///   iterating, `EventDecodingError` for a line that is not an event, or `CallerError` if the
    ///   folder cannot be watched.
    public func follow(run id: String, recheckEvery: Duration = RunHistory.followRecheckInterval) throws
        -> AsyncThrowingStream<RunEvent, any Error> {
        guard let details = try run(id) else {
            throw RunHistoryError("no run '\(id)' in \(folder.path); list the runs with 'runs ls'")
        }
        let record = details.record
        let events = eventsFile(run: record.id)
        guard FileManager.default.fileExists(atPath: events.path) || record.status == "running" else {
            let (stream, continuation) = AsyncThrowingStream.makeStream(of: RunEvent.self)
            if let line = record.summary, let event = try? RunEvent(jsonLine: line) { continuation.yield(event) }
            continuation.finish()
            return stream
        }
        // Pulled, not pushed: the file is read only as fast as the follower takes events, so a
        // follower that stops reading (a stalled browser on a 100 MB run) holds a file offset,
        // not the run's events in memory.
        let tail = try EventsTail(events, pid: record.pid, recheckEvery: recheckEvery)
        return AsyncThrowingStream(unfolding: { try await tail.next() })
    }

    /// The log lines of a run (of one stage if `stage` is given), as `follow(run:)` sees them:
    /// from the first, ending with the run.
    /// - Throws: as `follow(run:)`.
    public func followLogs(run id: String, stage: String? = nil, recheckEvery: Duration = RunHistory.followRecheckInterval) throws
        -> AsyncThrowingStream<LogLine, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: LogLine.self)
        if let details = try run(id), details.record.status != "running",
           !FileManager.default.fileExists(atPath: eventsFile(run: details.record.id).path) {
            // Recorded before events files were written: its stage files hold every line.
            logLines(run: details, stage: stage).forEach { continuation.yield($0) }
            continuation.finish()
            return stream
        }
        let events = PulledEvents(try follow(run: id, recheckEvery: recheckEvery))
        return AsyncThrowingStream(unfolding: {
            while let event = try await events.next() {
                if case .log(let name, let output, let line) = event.body, stage == nil || stage == name {
                    return LogLine(stage: name, stream: output, line: line)
                }
            }
            return nil
        })
    }

    /// Every log line of a finished (or running) run as its stage files hold it now: stage by
    /// stage, in the order the stages finished, then any other stage's file by name. Only names
    /// of `stageNames(run:)` are read: an unknown `stage` gives no lines.
    public func logLines(run details: RunDetails, stage: String? = nil) -> [LogLine] {
        var lines: [LogLine] = []
        forEachLogLine(run: details, stage: stage) { lines.append($0) }
        return lines
    }

    /// Calls `body` with every log line of the run, as `logLines` orders them, reading each file
    /// in 1 MiB pieces: memory does not grow with the size of a log (`runs logs` of a 100 MB log).
    public func forEachLogLine(run details: RunDetails, stage: String? = nil, _ body: (LogLine) -> Void) {
        let known = stageNames(run: details)
        let names = stage.map { known.contains($0) ? [$0] : [] } ?? known
        for name in names {
            FileLines.forEach(in: logFile(run: details.record.id, stage: name)) { line in
                body(LogLine(stage: name, stream: nil, line: String(decoding: line, as: UTF8.self)))
            }
        }
    }

    /// The stages of a run that have a log: its recorded stages that wrote one, in the order they
    /// finished, then every other `.log` file of its folder (the checkout step, the audit trail)
    /// by name. The one list a caller's stage name is checked against: a name is joined into a
    /// path only after it matched, so `../x` never leaves the run's folder.
    public func stageNames(run details: RunDetails) -> [String] {
        let runFolder = folder.appendingPathComponent(details.record.id)
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: runFolder.path)) ?? [])
            .filter { $0.hasSuffix(".log") }.map { String($0.dropLast(4)) }
        let recorded = details.stages.map(\.name)
        return recorded.filter(files.contains) + files.filter { !recorded.contains($0) }.sorted()
    }

    /// The log file of `stage` in the run, when the run has that stage (a recorded stage, or one
    /// of `stageNames(run:)`); nil for any other name, which is never joined into a path.
    public func stageLogFile(run details: RunDetails, stage: String) -> URL? {
        guard details.stages.contains(where: { $0.name == stage }) || stageNames(run: details).contains(stage) else { return nil }
        return logFile(run: details.record.id, stage: stage)
    }

}

/// A run's events file read as it grows, one event per `next()`, woken by inotify on its folder
/// and every `recheckEvery`. Nothing is read ahead of the follower but one piece of the file.
///
/// `@unchecked Sendable`: `AsyncThrowingStream(unfolding:)` calls `next()` once at a time, and
/// nothing else touches the mutable state.
private final class EventsTail: @unchecked Sendable {
    private var lines: LineTail
    private var ready: ArraySlice<String> = []
    private var wakeups: AsyncStream<Void>.Iterator
    private var watching: [Task<Void, Never>]
    private let pid: Int32
    private var awake = false
    private var runGone = false
    private var ended = false

    init(_ events: URL, pid: Int32, recheckEvery: Duration) throws {
        let folder = events.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        // Watching starts before the first read (the watch's first element says it is in
        // place), so nothing written in between is missed. No debounce: a follower wants each
        // line at once, not once the writer pauses. One watch per folder for the whole process,
        // however many follow it (SharedFolderWatches); if there is none to be had, the
        // recheck below still reads every `recheckEvery`.
        let changes = SharedFolderWatches.shared.changes(under: folder, debounce: .zero, recursive: true)
        let (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        watching = [
            Task {
                for await _ in changes { wake.yield() }
                wake.yield()  // the watch ended (or never began): read once now, then on the recheck
            },
            Task {
                while (try? await Task.sleep(for: recheckEvery)) != nil { wake.yield() }
            },
        ]
        self.wakeups = wakeups.makeAsyncIterator()
        self.lines = LineTail(url: events)
        self.pid = pid
    }

    deinit { watching.forEach { $0.cancel() } }

    /// The next event; nil after the run-finished event, or once the run's process is gone and
    /// everything it wrote has been read.
    func next() async throws -> RunEvent? {
        while !ended {
            if let line = ready.popFirst() {
                let event = try RunEvent(jsonLine: line)
                if case .runFinished = event.body { ended = true }
                return event
            }
            if awake {
                ready = lines.readLines()[...]
                if !ready.isEmpty { continue }
                if runGone { break }
            }
            guard await wakeups.next() != nil else { break }
            try Task.checkCancellation()
            awake = true
            // Liveness first, then the read: whatever the process wrote before dying is read.
            runGone = kill(pid, 0) != 0 && errno == ESRCH
        }
        ended = true
        watching.forEach { $0.cancel() }
        return nil
    }
}

/// The iterator of a stream, shared with the `unfolding` closure of another (which calls it
/// once at a time).
private final class PulledEvents: @unchecked Sendable {
    private var iterator: AsyncThrowingStream<RunEvent, any Error>.Iterator

    init(_ events: AsyncThrowingStream<RunEvent, any Error>) { iterator = events.makeAsyncIterator() }

    func next() async throws -> RunEvent? { try await iterator.next() }
}

/// The complete lines appended to a file since the last read, at most `pieceBytes` of the file
/// at a time; a partial last line is kept until its newline arrives.
private struct LineTail {
    let url: URL
    private var offset: UInt64 = 0
    private var partial = Data()
    /// The most read at once, and the longest line kept (an events line is far shorter; a
    /// longer one is cut, and then fails to decode as an event).
    private let pieceBytes = 1 << 20

    init(url: URL) { self.url = url }

    mutating func readLines() -> [String] {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return [] }
        defer { try? handle.close() }
        guard (try? handle.seek(toOffset: offset)) != nil, let data = try? handle.read(upToCount: pieceBytes), !data.isEmpty else { return [] }
        offset += UInt64(data.count)
        partial.append(data)
        guard let last = partial.lastIndex(of: UInt8(ascii: "\n")) else {
            if partial.count > pieceBytes { partial = Data(partial.prefix(pieceBytes)) }
            return []
        }
        let complete = partial[partial.startIndex..<last]
        partial = Data(partial[(last + 1)...])
        return complete.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).map { String(decoding: $0, as: UTF8.self) }
    }
}
