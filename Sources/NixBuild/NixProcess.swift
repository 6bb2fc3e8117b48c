#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A nix process named so that it can be found again by a later process: its PID and its start
/// time, which together never match a recycled PID. A run killed with SIGKILL cannot stop the
/// nix it started itself (nix runs in its own session); its watchdog does (``ParentWatchdog``).
/// Should that fail too (the watchdog killed along with it), the next run that takes the same
/// build's lock finds the record and stops it, so nothing Sutradhar started outlives it for long.
public struct NixProcess: Sendable, Equatable, CustomStringConvertible {
    let record: ProcessRecord

    /// The running process `pid`, or nil if there is none.
    public init?(pid: Int32) {
        guard let record = ProcessTree.record(of: pid) else { return nil }
        self.record = record
    }

    /// Reads the form written by `description`: `PID STARTTIME`.
    public init?(parsing text: String) {
        let fields = text.split(whereSeparator: \.isWhitespace)
        guard fields.count == 2, let pid = Int32(fields[0]), let start = UInt64(fields[1]) else { return nil }
        record = ProcessRecord(pid: pid, parentPID: 0, processGroupID: pid, startTime: start)
    }

    /// `PID STARTTIME`.
    public var description: String { "\(record.pid) \(record.startTime)" }

    /// The PID.
    public var pid: Int32 { record.pid }

    /// Whether that very process (same start time) still runs.
    public var isRunning: Bool { ProcessTree.isRunning(record) }

    /// Stops the process, its process group and its descendants: SIGTERM to the group, a grace
    /// period for nix to stop its builders, then SIGKILL to whatever remains.
    /// - Returns: whether it was still running.
    @discardableResult
    public func stop(grace: Duration = .seconds(3)) async -> Bool {
        guard isRunning else { return false }
        let family = [record] + ProcessTree.descendants(of: record.pid)
        _ = kill(-record.pid, SIGTERM)
        _ = kill(record.pid, SIGTERM)
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline, family.contains(where: ProcessTree.isRunning) {
            try? await Task.sleep(for: .milliseconds(50))
        }
        await ProcessTree.killSurvivors(family)
        return true
    }
}
