import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Waiting out the copies of a cache's hold locks that child processes inherit.
///
/// A hold is a shared flock(2) on `locks/holds/KIND-KEY.lock`, which belongs to the open file,
/// not to the descriptor: a process this test runner forks at that moment (another test starting
/// a program; Foundation's `Process` closes every descriptor up to the limit, one by one, before
/// exec) keeps the lock alive for a few milliseconds after `releaseHolds()` closed it here. A gc
/// in that window rightly finds the entry in use. Tests that release and then collect call
/// ``waitUntilReleased(cacheRoot:)`` in between, which takes every hold lock exclusively,
/// waiting for such copies to go, and lets it go at once.
public enum CacheHolds {
    /// Returns once no process holds any of `cacheRoot`'s hold locks (each taken exclusively and
    /// released), or after `timeout`: a hold that is really kept is then the gc's to report.
    public static func waitUntilReleased(cacheRoot: URL, timeout: Duration = .seconds(10)) {
        let deadline = ContinuousClock.now + timeout
        let folder = cacheRoot.appendingPathComponent("locks/holds").path
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
            let descriptor = open(folder + "/" + name, O_RDWR | O_CLOEXEC)
            guard descriptor >= 0 else { continue }
            while flock(descriptor, LOCK_EX | LOCK_NB) != 0, ContinuousClock.now < deadline { usleep(5_000) }
            close(descriptor)
        }
    }
}
