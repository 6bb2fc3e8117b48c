import Foundation

extension FileLock {
    /// Runs `body` holding the lock at `url` if it is free right now; returns nil at once if
    /// another process (or task) holds it.
    /// - Throws: `CacheError` if the lock file cannot be opened, or what `body` throws.
    public static func withLockIfFree<T: Sendable>(at url: URL, _ body: () async throws -> T) async throws -> T? {
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let descriptor = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw CacheError(.lockFailed, "cannot open the lock file \(url.path): \(String(cString: strerror(errno)))",
                             root: url.deletingLastPathComponent().path)
        }
        defer { close(descriptor) }  // closing releases the lock
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else { return nil }
        return try await body()
    }
}
