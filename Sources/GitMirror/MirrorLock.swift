import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Holds an exclusive `flock(2)` on `<mirror>.lock` while `body` runs.
///
/// flock locks belong to an open file description, so this serialises threads of one process (each
/// opens the file itself) as well as separate processes sharing the mirrors folder. The lock file is
/// never deleted: removing it while another process waits on it would let two holders in at once.
/// Waiting polls with `LOCK_NB` so a cancelled task stops waiting.
func withMirrorLock<T>(_ mirrorPath: URL, cancellation: CancellationFlag, _ body: () throws -> T) throws -> T {
    let lockPath = mirrorPath.path + ".lock"
    let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    guard fd >= 0 else {
        throw GitError(code: .io,
                       message: "Cannot open the mirror lock file \(lockPath); check that the mirrors folder is writable.",
                       cause: String(cString: strerror(errno)))
    }
    defer { close(fd) }  // closing the descriptor releases the lock
    while flock(fd, LOCK_EX | LOCK_NB) != 0 {
        let error = errno
        guard error == EWOULDBLOCK || error == EINTR else {
            throw GitError(code: .io, message: "Cannot lock the mirror lock file \(lockPath).",
                           cause: String(cString: strerror(error)))
        }
        try cancellation.check()
        usleep(20_000)
    }
    return try body()
}

/// Removes `url` and everything under it, if it exists; first renames it aside so a crash midway
/// never leaves a half-deleted directory under the original name.
func removeTree(_ url: URL) throws {
    let fileManager = FileManager.default
    guard fileManager.fileExists(atPath: url.path) else { return }
    let aside = url.deletingLastPathComponent()
        .appendingPathComponent(".\(url.lastPathComponent).trash-\(UUID().uuidString)")
    do {
        try fileManager.moveItem(at: url, to: aside)
        try fileManager.removeItem(at: aside)
    } catch {
        throw GitError(code: .io, message: "Cannot remove \(url.path); remove it by hand and retry.",
                       cause: "\(error)")
    }
}

/// A fresh path beside `url` for building something that is renamed onto `url` when complete.
/// Starts with a dot and names `url` so stale ones from a killed run can be found and removed.
func temporarySibling(of url: URL) -> URL {
    url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(UUID().uuidString)")
}

/// Removes leftovers of `temporarySibling(of:)` and `removeTree` from runs that were killed.
/// Only call while holding the lock that guards `url`.
func removeStaleSiblings(of url: URL) {
    let parent = url.deletingLastPathComponent()
    let prefixes = [".\(url.lastPathComponent).tmp-", ".\(url.lastPathComponent).trash-"]
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: parent.path) else { return }
    for name in names where prefixes.contains(where: name.hasPrefix) {
        try? FileManager.default.removeItem(at: parent.appendingPathComponent(name))
    }
}

/// Renames `from` onto `to` with rename(2), which is atomic within a file system and refuses to
/// replace a non-empty directory.
func renameIntoPlace(_ from: URL, _ to: URL) throws {
    guard rename(from.path, to.path) == 0 else {
        let reason = String(cString: strerror(errno))
        throw GitError(code: .io, message: "Cannot move \(from.path) into place at \(to.path).", cause: reason)
    }
}
