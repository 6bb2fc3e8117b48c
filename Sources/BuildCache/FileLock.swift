import Foundation

/// An exclusive lock on a file with flock(2): released by the kernel when the process dies, so
/// a lock is never held by a dead run and never broken by a guessed timeout.
public enum FileLock {
    /// Runs `body` holding the lock at `url`, polling without blocking a thread, so that waiting
    /// honours cancellation. `onWait` is called once if the lock is busy.
    /// - Throws: `CacheError` if the lock file cannot be opened, `CancellationError` if cancelled
    ///   while waiting, or what `body` throws.
    public static func withLock<T: Sendable>(
        at url: URL,
        onWait: @Sendable () -> Void = {},
        _ body: () async throws -> T
    ) async throws -> T {
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let descriptor = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw CacheError(.lockFailed, "cannot open the lock file \(url.path): \(String(cString: strerror(errno)))",
                             root: url.deletingLastPathComponent().path)
        }
        defer { close(descriptor) }  // closing releases the lock
        var announced = false
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                throw CacheError(.lockFailed, "cannot lock \(url.path): \(String(cString: strerror(errno)))",
                                 root: url.deletingLastPathComponent().path)
            }
            if !announced {
                announced = true
                onWait()
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await body()
    }
}
