import Foundation
import Synchronization

/// flock(2) on lock files that may be deleted: after locking, the descriptor's inode is compared
/// with the path's, and a lock taken on a file that was unlinked meanwhile is dropped and taken
/// again on the new file. This is what lets gc delete the hold file of an entry it evicted
/// without ever letting a reader and gc both believe they hold the same entry.
enum LockFiles {
    /// What `acquire` got.
    enum Outcome {
        /// The lock, held through this descriptor until it is closed.
        case locked(Int32)
        /// Another descriptor holds a conflicting lock (non-blocking calls only).
        case busy
        /// The lock file cannot be opened or locked (errno's text).
        case failed(String)
    }

    /// Takes `LOCK_SH` or `LOCK_EX` on `path`, creating the file (and its folder) if needed;
    /// `blocking` waits in flock(2) (used only for short waits: gc holds an entry exclusively
    /// only while it removes it).
    static func acquire(_ path: String, exclusive: Bool, blocking: Bool) -> Outcome {
        let folder = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        while true {
            let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else { return .failed(String(cString: strerror(errno))) }
            let operation = (exclusive ? LOCK_EX : LOCK_SH) | (blocking ? 0 : LOCK_NB)
            var result = flock(descriptor, operation)
            while result != 0 && errno == EINTR { result = flock(descriptor, operation) }
            if result != 0 {
                let code = errno
                close(descriptor)
                return code == EWOULDBLOCK ? .busy : .failed(String(cString: strerror(code)))
            }
            var held = stat(), current = stat()
            if fstat(descriptor, &held) == 0, stat(path, &current) == 0, held.st_ino == current.st_ino, held.st_dev == current.st_dev {
                return .locked(descriptor)
            }
            // The file was removed (an entry evicted) while we waited: lock the new one.
            close(descriptor)
        }
    }
}

/// The shared locks a run holds on the cache entries it uses: taken on first use, released
/// when the run ends (`BuildCache.releaseHolds()`) or, at the latest, by the kernel when the
/// process dies — so gc, which needs the lock exclusively, never removes what a live run uses.
final class EntryHolds: Sendable {
    private let descriptors = Mutex<[String: Int32]>([:])

    /// Takes a shared lock on `path` unless this process already holds it. Returns false if
    /// the lock file cannot be used (a read-only or full cache); the caller then works unprotected.
    @discardableResult
    func hold(_ path: String) -> Bool {
        if descriptors.withLock({ $0[path] != nil }) { return true }
        guard case .locked(let descriptor) = LockFiles.acquire(path, exclusive: false, blocking: true) else { return false }
        let duplicate = descriptors.withLock { held -> Bool in
            if held[path] != nil { return true }
            held[path] = descriptor
            return false
        }
        if duplicate { close(descriptor) }
        return true
    }

    /// Whether this process holds `path`.
    func holds(_ path: String) -> Bool {
        descriptors.withLock { $0[path] != nil }
    }

    /// Releases every hold.
    func releaseAll() {
        let all = descriptors.withLock { held -> [Int32] in
            defer { held = [:] }
            return Array(held.values)
        }
        all.forEach { close($0) }
    }

    deinit { releaseAll() }
}
