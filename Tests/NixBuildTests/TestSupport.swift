import Foundation
import NixBuild
import Synchronization
import SutradharTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Collects the lines a build logs, from whichever task delivers them.
final class LineRecorder: Sendable {
    private let storage = Mutex<[String]>([])

    var lines: [String] { storage.withLock { $0 } }

    var log: @Sendable (String) -> Void {
        { line in self.storage.withLock { $0.append(line) } }
    }
}

/// What every nix-running test passes: no binary caches (there is no internet here).
let offlineOptions = [NixOption(name: "substituters", value: "")]

/// Cancels `build` and expects it to end within `limit` with a `.cancelled` NixError, with
/// every one of `processes` gone.
func expectCancellationStops(
    _ build: Task<NixBuildResult, any Error>,
    processes: [Int32],
    within limit: Duration,
    sourceLocation: SourceLocation = #_sourceLocation
) async {
    let started = ContinuousClock.now
    build.cancel()
    let error = await #expect(throws: NixError.self, sourceLocation: sourceLocation) { try await build.value }
    #expect(error?.code == .cancelled, sourceLocation: sourceLocation)
    #expect(ContinuousClock.now - started < limit, sourceLocation: sourceLocation)
    // Through a nix-daemon (NIX_REMOTE=daemon, as CI runs) the builders are the daemon's children:
    // it stops them when its client hangs up, a moment after nix itself has gone.
    for pid in processes {
        let gone = await eventually(timeout: .seconds(10)) { processIsGone(pid) }
        #expect(gone, "process \(pid) survived the cancellation", sourceLocation: sourceLocation)
    }
}

/// Writes an executable shell script standing in for `nix`, in a new temporary folder.
func writeFakeNix(_ body: String) throws -> URL {
    let folder = try NixFixtures.makeTemporaryDirectory(prefix: "sutradhar-fake-nix")
    let script = folder.appendingPathComponent("nix")
    // Written through a close-on-exec descriptor: other tests spawn processes meanwhile, and a
    // child that inherited a descriptor open for writing would make exec fail with ETXTBSY.
    let descriptor = open(script.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o755)
    guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    defer { close(descriptor) }
    let text = Array(("#!/bin/sh\nPATH=/usr/bin:/bin\n" + body + "\n").utf8)
    guard write(descriptor, text, text.count) == text.count else { throw POSIXError(.EIO) }
    return script
}

/// Runs a tiny command (git) to completion; its output is small and discarded.
func runTool(_ arguments: [String], in directory: URL) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    process.currentDirectoryURL = directory
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw ToolFailed(command: arguments, status: process.terminationStatus)
    }
}

struct ToolFailed: Error, CustomStringConvertible {
    let command: [String]
    let status: Int32
    var description: String { "\(command.joined(separator: " ")) exited with \(status)" }
}

/// The PIDs of the living (not zombie) processes whose process group is `group`, from `/proc`.
func processes(inGroup group: Int32) -> [Int32] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return names.compactMap(Int32.init).filter { pid in
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")")
        else { return false }
        // After ")": state(3) ppid(4) pgrp(5).
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 2 && fields[0] != "Z" && Int32(fields[2]) == group
    }
}
