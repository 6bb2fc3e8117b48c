#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One process seen under `/proc`, with what identifies it across PID reuse.
struct ProcessRecord: Sendable, Hashable {
    let pid: pid_t
    let parentPID: pid_t
    let processGroupID: pid_t
    /// Clock ticks after boot at which the process started (field 22 of `/proc/PID/stat`):
    /// a PID with another start time is another process.
    let startTime: UInt64
}

/// Finds and kills the processes that a `nix` process started.
///
/// Why this exists: nix puts every local builder in a session of its own (`setsid`), so a
/// signal to nix's process group does not reach the builders. On SIGTERM nix kills them itself,
/// but if nix has to be SIGKILLed its builders would be orphaned and run on. So at cancellation
/// the tree below nix is noted, and after nix is reaped whatever of it still lives is SIGKILLed.
/// Linux only (it reads `/proc`); elsewhere the snapshot is empty and nothing is swept.
enum ProcessTree {
    /// Reads `/proc/PID/stat` of one process; `nil` if it is gone or unreadable.
    static func record(of pid: pid_t) -> ProcessRecord? {
        guard let text = readSmallFile("/proc/\(pid)/stat") else { return nil }
        return parseStat(text)
    }

    /// Parses a `/proc/PID/stat` line. The command name (field 2) is in parentheses and may
    /// itself hold spaces and parentheses, so fields are counted from the last `)`.
    static func parseStat(_ text: String) -> ProcessRecord? {
        guard let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")"),
              let pid = pid_t(text[..<open].trimmingCharacters(in: " "))
        else { return nil }
        // After ")": state(3) ppid(4) pgrp(5) session(6) … starttime(22).
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count >= 20,
              let parent = pid_t(fields[1]),
              let group = pid_t(fields[2]),
              let start = UInt64(fields[19])
        else { return nil }
        return ProcessRecord(pid: pid, parentPID: parent, processGroupID: group, startTime: start)
    }

    /// Every living process below `root` (not `root` itself), found by following parent PIDs.
    static func descendants(of root: pid_t) -> [ProcessRecord] {
        let all = allProcesses()
        var childrenByParent: [pid_t: [ProcessRecord]] = [:]
        for record in all {
            childrenByParent[record.parentPID, default: []].append(record)
        }
        var found: [ProcessRecord] = []
        var queue: [pid_t] = [root]
        var seen: Set<pid_t> = [root]
        while let parent = queue.popLast() {
            for child in childrenByParent[parent] ?? [] where seen.insert(child.pid).inserted {
                found.append(child)
                queue.append(child.pid)
            }
        }
        return found
    }

    /// SIGKILLs each recorded process that still runs as the same process (same start time),
    /// and the process group it leads, then waits up to `wait` for them to disappear.
    /// Failures (already gone, not permitted) are ignored: this is a last resort.
    static func killSurvivors(_ records: [ProcessRecord], wait: Duration = .seconds(2)) async {
        var signalled: [ProcessRecord] = []
        for record in records {
            guard let now = Self.record(of: record.pid), now.startTime == record.startTime else { continue }
            if now.processGroupID == record.pid {
                // A group leader still alive: its group cannot be a recycled ID.
                _ = kill(-record.pid, SIGKILL)
            }
            _ = kill(record.pid, SIGKILL)
            signalled.append(record)
        }
        let deadline = ContinuousClock.now + wait
        while ContinuousClock.now < deadline, signalled.contains(where: isRunning) {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Whether the recorded process still exists and is not a zombie waiting to be reaped.
    static func isRunning(_ record: ProcessRecord) -> Bool {
        guard let text = readSmallFile("/proc/\(record.pid)/stat"),
              let now = parseStat(text), now.startTime == record.startTime,
              let close = text.lastIndex(of: ")")
        else { return false }
        let state = text[text.index(after: close)...].split(separator: " ").first
        return state != "Z" && state != "X"
    }

    private static func allProcesses() -> [ProcessRecord] {
        guard let directory = opendir("/proc") else { return [] }
        defer { closedir(directory) }
        var records: [ProcessRecord] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if let pid = pid_t(name), let record = record(of: pid) {
                records.append(record)
            }
        }
        return records
    }

    /// Reads a small procfs file with plain system calls (procfs reports size 0, and this runs
    /// from a cancellation handler, where a short synchronous read is what is wanted).
    private static func readSmallFile(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count], as: UTF8.self)
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in character: Character) -> Substring {
        var result = self
        while result.first == character { result.removeFirst() }
        while result.last == character { result.removeLast() }
        return result
    }
}
