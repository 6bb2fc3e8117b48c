import Foundation
import Subprocess

#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Runs `diffoscope` (Debian: `apt-get install diffoscope-minimal`) to explain how two builds
/// differ, writing its text report (and an HTML one on request) to files.
public struct Diffoscope: Sendable {
    /// The environment variable that chooses diffoscope: `off` never runs it, a path runs that
    /// executable; unset looks `diffoscope` up on `PATH`.
    public static let environmentVariable = "SUTRADHAR_DIFFOSCOPE"
    /// The hint given when diffoscope is not there.
    public static let installHint = "install diffoscope for a report that explains each difference "
        + "(Debian: apt-get install diffoscope-minimal)"
    /// The largest report diffoscope may write (its `--max-report-size`), so a huge difference
    /// cannot fill the disk.
    public static let maxReportBytes = 20 << 20

    /// The executable's path.
    public let executable: String

    /// The diffoscope `environment` asks for, or nil when it is turned off or not installed.
    public static func locate(environment: [String: String]) -> Diffoscope? {
        let chosen = environment[environmentVariable] ?? ""
        if chosen == "off" { return nil }
        if chosen.contains("/") {
            return FileManager.default.isExecutableFile(atPath: chosen) ? Diffoscope(executable: chosen) : nil
        }
        let path = environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for folder in path.split(separator: ":") {
            let candidate = "\(folder)/diffoscope"
            if FileManager.default.isExecutableFile(atPath: candidate) { return Diffoscope(executable: candidate) }
        }
        return nil
    }

    /// Compares `first` and `second`, writing the text report to `text` and, if given, the HTML
    /// report to `html`. diffoscope runs in a session of its own and is stopped (SIGTERM, then
    /// SIGKILL) when the calling task is cancelled.
    /// - Returns: whether diffoscope found a difference (exit 1) rather than none (exit 0).
    /// - Throws: `ReproduceError` when it cannot run or fails (exit 2 or a signal).
    public func compare(_ first: String, _ second: String, text: URL, html: URL?) async throws -> Bool {
        var arguments = ["--text", text.path, "--max-report-size", String(Self.maxReportBytes), "--no-progress"]
        if let html { arguments += ["--html", html.path] }
        arguments += [first, second]
        var platformOptions = PlatformOptions()
        platformOptions.createSession = true
        platformOptions.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: .seconds(3))]
        let status: TerminationStatus
        let errorText: String
        do {
            let outcome = try await run(.path(FilePath(executable)), arguments: Arguments(arguments),
                                        platformOptions: platformOptions, input: .none, output: .discarded,
                                        error: .string(limit: 64 << 10))
            status = outcome.terminationStatus
            errorText = outcome.standardError
        } catch {
            throw ReproduceError("could not run \(executable): \(error)")
        }
        switch status {
        case .exited(0): return false
        case .exited(1): return true
        default:
            let words = errorText.split(separator: "\n").suffix(3).joined(separator: " ")
            throw ReproduceError("diffoscope failed (\(status)): \(words)")
        }
    }
}
