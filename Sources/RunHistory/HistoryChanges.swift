import FileWatching
import RunEvents
import Foundation
import GRDB

extension RunHistory {
    /// Whether `id` can be a run ID: what `Engine` makes (`20261129-065212-4f3a`: digits,
    /// lowercase hex, `-`), up to 64 characters. A front end checks an ID from a URL with this
    /// before it reaches the history, so no `/`, `.` or `..` ever names a file.
    public static func isValidRunID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 64 && id.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) || $0 == 45 }
    }

    /// The pipelines that have runs, by name.
    /// - Throws: `RunHistoryError` if the database cannot be read.
    public func pipelineNames() throws -> [String] {
        try runsDatabaseRead { db in try String.fetchAll(db, sql: "SELECT DISTINCT pipeline FROM run ORDER BY pipeline") }
    }

    /// Wakes at each change of the history anywhere on this machine: a run started (its folder
    /// is created) or finished (the database is written), by any process (the CLI, an agent,
    /// nightly, MCP). Each element says something may have changed; the reader reads again.
    ///
    /// inotify(7) on the history folder only (not each run's folder: one watch whatever the
    /// number of runs), debounced by `debounce` so a burst is one wakeup; besides, it wakes
    /// every `recheckEvery` (default `followRecheckInterval`, 2 s), the safety net for what
    /// inotify cannot see: a run abandoned by a kill -9 writes nothing, and a writer on another
    /// machine sharing the cache over NFS is not reported. Ends when the consumer stops.
    /// The first element comes as soon as the watch is in place: a reader that reads then
    /// misses no change made after it.
    /// A folder that cannot be watched (no inotify instance left) is not an error: the reader is
    /// then woken by the recheck alone.
    public func changes(debounce: Duration = .milliseconds(50), recheckEvery: Duration = RunHistory.followRecheckInterval)
        -> AsyncThrowingStream<Void, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let folder = folder
        let task = Task {
            do {
                // One watch of the folder for the whole process (SharedFolderWatches); its first
                // element (nil) says it is in place.
                let changes = SharedFolderWatches.shared.changes(under: folder, debounce: debounce, recursive: false)
                do {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            // The shared-memory index changes when anyone (this reader too) opens
                            // the database: not a change of the history.
                            for await batch in changes {
                                guard let batch else {
                                    continuation.yield()
                                    continue
                                }
                                if batch.overflowed || batch.paths.contains(where: { !$0.hasSuffix("-shm") }) { continuation.yield() }
                            }
                            // No watch to be had: the recheck below keeps waking the reader.
                            continuation.yield()
                        }
                        group.addTask {
                            while true {
                                try await Task.sleep(for: recheckEvery)
                                continuation.yield()
                            }
                        }
                        // Until the reader stops (cancellation): the recheck never ends by itself.
                        try await group.waitForAll()
                    }
                }
                continuation.finish()
            } catch is CancellationError {
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}
