import RunEvents
import Foundation
import Glibc
import Synchronization

/// An event consumer that records a run as it happens: at its start the run's row (in the
/// database and as `run.json`), then every event appended to `events.jsonl` (what followers
/// watch) and each log line to its stage's file, and stages and summary at the end. Recording
/// never fails a run: a write error is reported once on stderr and that kind of recording stops.
public final class HistoryRecorder: Sendable {
    /// The history it records into.
    public let history: RunHistory
    private let trigger: String
    private let pid: Int32
    private let state = Mutex(State())

    /// Open files by run: one recorder may see several runs (watch, nightly), even overlapping.
    private struct State {
        var logs: [String: [String: FileHandle]] = [:]
        var events: [String: FileHandle] = [:]
        var databaseBroken = false
        var filesBroken = false
    }

    /// Records into `history`, marking runs with `trigger`. `pid` is the process running them:
    /// a follower ends, and `runs ls` says `abandoned`, when it is gone (tests name another).
    public init(history: RunHistory, trigger: String, pid: Int32 = getpid()) {
        self.history = history
        self.trigger = trigger
        self.pid = pid
    }

    /// What opening the history had to repair; the caller puts them in the run's warnings
    /// (`RunOptions.warnings`), so they reach the events and the summary.
    public var notices: [String] { history.notices }

    /// Opens the history of `cacheRoot` for recording runs with `trigger`. A history that cannot
    /// be opened never stops a build: the recorder is nil and the notices say the run is not
    /// recorded, and why.
    public static func open(cacheRoot: URL, trigger: RunTrigger) -> (recorder: HistoryRecorder?, notices: [String]) {
        do {
            // No quick_check on a run's path: see `RunHistory.IntegrityCheck.never`.
            let history = try RunHistory(cacheRoot: cacheRoot, integrity: .never)
            return (HistoryRecorder(history: history, trigger: trigger.rawValue), history.notices)
        } catch {
            return (nil, ["\(error); this run is not recorded in the run history"])
        }
    }

    /// Consumes one event.
    public func record(_ event: RunEvent) {
        if case .runStarted(let pipeline, let source, let ref, _) = event.body {
            let record = RunRecord(id: event.run, pipeline: pipeline, source: source, ref: ref, commitSHA: "",
                                   trigger: trigger, status: "running", startedAt: event.time,
                                   durationMilliseconds: nil, pid: pid, summary: nil)
            // The folder first: it is what a rebuilt database is made from.
            writingFiles { try startFolder(of: record) }
            writingDatabase { try history.insert(record) }
        }
        let line = event.jsonLine()
        writingFiles {
            try state.withLock { state in try state.events[event.run]?.write(contentsOf: Data((line + "\n").utf8)) }
            if case .log(let stage, _, let text) = event.body { try append(text, run: event.run, stage: stage) }
        }
        if case .runFinished(let summary) = event.body {
            // The very line the run printed (same time stamp), for `runs show --json`.
            writingDatabase { try history.finish(run: event.run, summary: summary, summaryLine: line) }
            state.withLock { state in
                state.logs.removeValue(forKey: event.run)?.values.forEach { try? $0.close() }
                try? state.events.removeValue(forKey: event.run)?.close()
            }
        }
    }

    private func writingFiles(_ body: () throws -> Void) {
        writing(body, broken: \.filesBroken, warning: "not writing this run's events and logs to the history")
    }

    private func writingDatabase(_ body: () throws -> Void) {
        writing(body, broken: \.databaseBroken, warning: "not recording this run in the history")
    }

    /// Runs `body` unless that kind of write already failed; on its first failure, says so once.
    private func writing(_ body: () throws -> Void, broken: any WritableKeyPath<State, Bool> & Sendable, warning: String) {
        guard !state.withLock({ $0[keyPath: broken] }) else { return }
        do {
            try body()
        } catch {
            state.withLock { $0[keyPath: broken] = true }
            FileHandle.standardError.write(Data("warning: \(warning): \(error)\n".utf8))
        }
    }

    /// Creates the run's folder with its `run.json` and an empty `events.jsonl`, kept open.
    private func startFolder(of record: RunRecord) throws {
        let events = history.eventsFile(run: record.id)
        let folder = events.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try JSONEncoder().encode(record).write(to: folder.appendingPathComponent(RunFiles.record))
        let handle = try Self.createFile(events)
        state.withLock { $0.events[record.id] = handle }
    }

    private func append(_ line: String, run: String, stage: String) throws {
        try state.withLock { state in
            let handle: FileHandle
            if let open = state.logs[run]?[stage] {
                handle = open
            } else {
                let url = history.logFile(run: run, stage: stage)
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                // A stage's log file is new: one per run and stage, opened once.
                handle = try Self.createFile(url)
                state.logs[run, default: [:]][stage] = handle
            }
            try handle.write(contentsOf: Data((line + "\n").utf8))
        }
    }

    /// Creates a new file in place (FileManager.createFile would write a temporary file and
    /// rename it: a rename and an fsync per stage for a file nothing else reads mid-write).
    private static func createFile(_ url: URL) throws -> FileHandle {
        let descriptor = Glibc.open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [
                NSFilePathErrorKey: url.path, NSUnderlyingErrorKey: POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO),
            ])
        }
        return FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
    }
}
