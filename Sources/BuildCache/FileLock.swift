import Foundation

/// An exclusive lock on a file with flock(2): released by the kernel when the process dies, so
/// a lock is never held by a dead run and never broken by a guessed timeout.
public enum FileLock {
    /// Runs `body` holding the lock at `url`, polling without blocking a thread, so that waiting
    /// honours cancellation. While it holds the lock, `holder` (a short line naming who holds
    /// it) is the lock file's content; `onWait` is called once if the lock is busy, with the
    /// current holder's line if it wrote one.
    /// - Throws: `CacheError` if the lock file cannot be opened, `CancellationError` if cancelled
    ///   while waiting, or what `body` throws.
    public static func withLock<T: Sendable>(
        at url: URL,
        holder: String? = nil,
        onWait: @Sendable (_ heldBy: String?) -> Void = { _ in },
        _ body: () async throws -> T
    ) async throws -> T {
        let descriptor = try openLockFile(url)
        defer { close(descriptor) }  // closing releases the lock
        var announced = false
        while try !tryLock(descriptor, url) {
            if !announced {
                announced = true
                onWait(readHolder(descriptor))
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        guard let holder else { return try await body() }
        writeHolder(holder, to: descriptor)
        defer { writeHolder("", to: descriptor) }  // a free lock names nobody
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

    /// Runs `body` holding the lock at `url`, waiting in flock(2) on the calling thread. Only for
    /// short critical sections in synchronous code (opening a database), where the holder is
    /// never a long-running process.
    /// - Throws: `CacheError` if the lock file cannot be opened or locked, or what `body` throws.
    public static func withBlockingLock<T, E: Error>(at url: URL, _ body: () throws(E) -> T) throws -> T {
        guard case .locked(let descriptor) = LockFiles.acquire(url.path, exclusive: true, blocking: true) else {
            throw CacheError(.lockFailed, "cannot lock \(url.path); check that \(url.deletingLastPathComponent().path) is writable",
                             root: url.deletingLastPathComponent().path)
        }
        defer { close(descriptor) }  // closing releases the lock
        return try body()
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

    /// The holder's line, or nil if it wrote none. Informational only: the file is read without
    /// the lock, so it may name a holder that has just left.
    private static func readHolder(_ descriptor: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = pread(descriptor, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        let line = String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return line.isEmpty ? nil : line
    }

    /// Replaces the lock file's content with `line` (best effort: the lock does not depend on it).
    private static func writeHolder(_ line: String, to descriptor: Int32) {
        _ = ftruncate(descriptor, 0)
        guard !line.isEmpty else { return }
        let bytes = Array((line + "\n").utf8)
        _ = pwrite(descriptor, bytes, bytes.count, 0)
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
