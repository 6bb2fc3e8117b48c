import RunEvents
import FileWatching
import Foundation
import Synchronization

/// One inotify watch per folder, shared by everyone who follows that folder, and one inotify
/// instance for all of them: 200 dashboard feeds of one run, or of 200 runs, hold one instance,
/// not 200 (a user has 128 in all, and `sutradhar runs logs --follow` of the same user needs them
/// too). A folder's watch starts with its first subscriber and stops with its last.
///
/// A subscriber's first element says the watch is in place (a read after it misses nothing);
/// each later element is a settled batch of changes. If the folder cannot be watched the stream
/// just ends: followers keep their periodic recheck, so they slow down instead of failing.
final class SharedFolderWatches: Sendable {
    /// The process's watches.
    static let shared = SharedFolderWatches()

    private struct Key: Hashable {
        let folder: String
        let debounce: Duration
        let recursive: Bool
    }

    private struct Watch {
        /// Tells this watch from a later one of the same folder (the task of a stopped watch may
        /// still be ending when a new subscriber starts the next).
        let generation = UUID()
        var subscribers: [UUID: AsyncStream<FileChanges?>.Continuation] = [:]
        var ready = false
        var task: Task<Void, Never>?
    }

    private let watches = Mutex<[Key: Watch]>([:])

    /// How many folders are watched now.
    var count: Int { watches.withLock { $0.count } }

    /// Changes under `folder`: `nil` first, once the watch is in place, then each settled batch.
    func changes(under folder: URL, debounce: Duration, recursive: Bool) -> AsyncStream<FileChanges?> {
        let key = Key(folder: folder.standardizedFileURL.path, debounce: debounce, recursive: recursive)
        let id = UUID()
        let (stream, continuation) = AsyncStream.makeStream(of: FileChanges?.self, bufferingPolicy: .bufferingNewest(16))
        let start = watches.withLock { watches -> UUID? in
            var watch = watches[key] ?? Watch()
            watch.subscribers[id] = continuation
            if watch.ready { continuation.yield(nil) }
            let isNew = watch.task == nil
            watches[key] = watch
            return isNew ? watch.generation : nil
        }
        if let generation = start {
            let task = Task { [weak self] () -> Void in await self?.run(key, generation) }
            watches.withLock { watches in
                if watches[key]?.generation == generation { watches[key]?.task = task }
            }
        }
        continuation.onTermination = { [weak self] _ in self?.unsubscribe(id, from: key) }
        return stream
    }

    private func run(_ key: Key, _ generation: UUID) async {
        do {
            try await FileWatcher.withChanges(under: URL(fileURLWithPath: key.folder), debounce: key.debounce, recursive: key.recursive,
                                             descriptor: .processWide) { changes in
                broadcast(key, generation, nil, markReady: true)
                for await batch in changes { broadcast(key, generation, batch, markReady: false) }
            }
        } catch {
            // Not watchable (out of inotify instances, folder gone): the followers poll instead.
        }
        let ended = watches.withLock { watches -> Watch? in
            guard watches[key]?.generation == generation else { return nil }
            return watches.removeValue(forKey: key)
        }
        ended?.subscribers.values.forEach { $0.finish() }
    }

    private func broadcast(_ key: Key, _ generation: UUID, _ batch: FileChanges?, markReady: Bool) {
        let subscribers = watches.withLock { watches -> [AsyncStream<FileChanges?>.Continuation] in
            guard var watch = watches[key], watch.generation == generation else { return [] }
            if markReady {
                watch.ready = true
                watches[key] = watch
            }
            return Array(watch.subscribers.values)
        }
        for subscriber in subscribers { subscriber.yield(batch) }
    }

    private func unsubscribe(_ id: UUID, from key: Key) {
        let task = watches.withLock { watches -> Task<Void, Never>? in
            guard var watch = watches[key] else { return nil }
            watch.subscribers.removeValue(forKey: id)
            guard watch.subscribers.isEmpty else {
                watches[key] = watch
                return nil
            }
            watches.removeValue(forKey: key)
            return watch.task
        }
        task?.cancel()
    }
}
