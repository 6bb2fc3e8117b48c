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
        let descriptor = try openLockFile(url)
        defer { close(descriptor) }  // closing releases the lock
        var announced = false
        while try !tryLock(descriptor, url) {
            if !announced {
                announced = true
                onWait()
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await body()
    }

    /// Runs `body` holding the lock at `url` if it is free right now; returns nil at once if
    /// another process (or task) holds it.
    /// - Throws: `CacheError` if the lock file cannot be opened, or what `body` throws.
    public static func withLockIfFree<T: Sendable>(at url: URL, _ body: () async throws -> T) async throws -> T? {
        let descriptor = try openLockFile(url)
        defer { close(descriptor) }  // closing releases the lock
        guard try tryLock(descriptor, url) else { return nil }
        return try await body()
    }

    private static func openLockFile(_ url: URL) throws(CacheError) -> Int32 {
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let descriptor = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw CacheError(.lockFailed, "cannot open the lock file \(url.path): \(String(cString: strerror(errno)))",
                             root: url.deletingLastPathComponent().path)
        }
        return descriptor
    }

    /// Takes the lock without waiting: true if taken, false if another holder has it.
    private static func tryLock(_ descriptor: Int32, _ url: URL) throws(CacheError) -> Bool {
        if flock(descriptor, LOCK_EX | LOCK_NB) == 0 { return true }
        guard errno == EWOULDBLOCK || errno == EINTR else {
            throw CacheError(.lockFailed, "cannot lock \(url.path): \(String(cString: strerror(errno)))",
                             root: url.deletingLastPathComponent().path)
        }
        return false
    }
}
