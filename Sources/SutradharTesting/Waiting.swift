import Foundation

/// Whether a process is gone: no such PID, or a zombie waiting to be reaped.
public func processIsGone(_ pid: Int32) -> Bool {
    if kill(pid, 0) != 0 { return true }
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")")
    else { return true }
    return stat[stat.index(after: close)...].split(separator: " ").first == "Z"
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes; returns whether it held.
public func eventually(timeout: Duration, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return condition()
}

extension Process {
    /// Waits until the process has ended or `deadline` passes; returns whether it ended.
    ///
    /// Unlike `waitUntilExit`, this never waits for good. On Linux, Foundation learns of a child's
    /// exit through a socket the child inherits, so a daemon the child started that kept the
    /// socket (sshd from a set-up script, say) keeps `isRunning` true after the child is gone.
    public func waitForExit(until deadline: ContinuousClock.Instant) -> Bool {
        while isRunning {
            if ContinuousClock.now >= deadline { return false }
            usleep(20_000)
        }
        return true
    }
}
