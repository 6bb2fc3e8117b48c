import Engine
import Foundation
import Synchronization

/// An event consumer that records a run as it happens: the run row at start, each log line
/// appended to its stage's file, stages and summary at the end. Recording never fails a run:
/// a write error is reported once on stderr and recording stops.
public final class HistoryRecorder: Sendable {
    private let history: RunHistory
    private let trigger: String
    private let state = Mutex(State())

    private struct State {
        var files: [String: FileHandle] = [:]
        var broken = false
    }

    /// Records into `history`, marking runs with `trigger`.
    public init(history: RunHistory, trigger: String) {
        self.history = history
        self.trigger = trigger
    }

    /// Consumes one event.
    public func record(_ event: RunEvent) {
        guard !state.withLock({ $0.broken }) else { return }
        do {
            switch event.body {
            case .runStarted(let pipeline, let source, let ref, _):
                try history.insert(RunRecord(id: event.run, pipeline: pipeline, source: source, ref: ref, commitSHA: "",
                                             trigger: trigger, status: "running", startedAt: event.time,
                                             durationMilliseconds: nil, pid: getpid(), summary: nil))
            case .log(let stage, _, let line):
                try append(line, run: event.run, stage: stage)
            case .runFinished(let summary):
                // The very line the run printed (same time stamp), for `runs show --json`.
                try history.finish(run: event.run, summary: summary, summaryLine: event.jsonLine())
                state.withLock { state in
                    state.files.values.forEach { try? $0.close() }
                    state.files.removeAll()
                }
            default:
                break
            }
        } catch {
            state.withLock { $0.broken = true }
            FileHandle.standardError.write(Data("warning: not recording this run in the history: \(error)\n".utf8))
        }
    }

    private func append(_ line: String, run: String, stage: String) throws {
        try state.withLock { state in
            let handle: FileHandle
            if let open = state.files[stage] {
                handle = open
            } else {
                let url = history.logFile(run: run, stage: stage)
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                // A stage's log file is new: one per run and stage, opened once. Created in
                // place (FileManager.createFile would write a temporary file and rename it).
                let descriptor = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
                guard descriptor >= 0 else {
                    throw CocoaError(.fileWriteUnknown, userInfo: [
                        NSFilePathErrorKey: url.path, NSUnderlyingErrorKey: POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO),
                    ])
                }
                handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
                state.files[stage] = handle
            }
            try handle.write(contentsOf: Data((line + "\n").utf8))
        }
    }
}
