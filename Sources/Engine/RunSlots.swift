import BuildCache
import Foundation

/// A cache-wide limit on concurrent runs: N slot lock files, one held per working run. A run
/// that finds them all held waits (saying so once) instead of failing; a dead run's slot is
/// freed by the kernel with its flock.
enum RunSlots {
    static func withSlot<T: Sendable>(
        in cache: BuildCache, count: Int, onQueued: @Sendable (String) -> Void,
        _ body: () async throws -> T
    ) async throws -> T {
        let folder = cache.folder(.locks)
        var announced = false
        while true {
            for index in 0..<count {
                let url = folder.appendingPathComponent("run-slot-\(index).lock")
                if let held = try await FileLock.withLockIfFree(at: url, body) {
                    return held
                }
            }
            if !announced {
                announced = true
                onQueued("all \(count) run slots of this cache are busy (at most \(count) runs at once); waiting for one")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }
}
