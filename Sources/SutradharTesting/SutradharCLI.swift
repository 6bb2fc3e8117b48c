import Foundation

/// Runs the built `sutradhar` executable as a user would, for end-to-end tests.
public enum SutradharCLI {
    /// What a finished invocation printed and how it exited.
    public struct Result: Sendable {
        public let exitCode: Int32
        public let stdout: String
        public let stderr: String

        /// The stdout lines parsed as JSON objects (for `--json` runs); non-JSON lines are skipped.
        public var events: [[String: Any]] {
            stdout.split(separator: "\n").compactMap { line in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
            }
        }

        /// The last `run-finished` event.
        public var summary: [String: Any]? {
            events.last { $0["event"] as? String == "run-finished" }
        }

        /// The summary's entry for stage `name`.
        public func stage(_ name: String) -> [String: Any]? {
            (summary?["stages"] as? [[String: Any]])?.first { $0["name"] as? String == name }
        }
    }

    /// The repository's root folder (found from this file's path).
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The built executable: beside the test bundle, in the same build folder.
    public static var executable: URL {
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var folder = testBinary.deletingLastPathComponent()
        // On Linux the test runner is `…/debug/NAMEPackageTests.xctest`; elsewhere it may sit deeper.
        for _ in 0..<4 {
            let candidate = folder.appendingPathComponent("sutradhar")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            folder = folder.deletingLastPathComponent()
        }
        return repositoryRoot.appendingPathComponent(".build/debug/sutradhar")
    }

    /// Starts `sutradhar ARGUMENTS` without waiting; stdout and stderr go to files that
    /// `finish` reads, so a chatty run never blocks on a full pipe. A `launcher` (a command and
    /// its arguments, e.g. `second-host.sh exec`) runs the executable instead of this process.
    public static func start(_ arguments: [String], environment: [String: String] = [:],
                             workingDirectory: URL? = nil, launcher: [String] = []) throws -> Invocation {
        let process = Process()
        process.executableURL = launcher.first.map(URL.init(fileURLWithPath:)) ?? executable
        process.arguments = launcher.isEmpty ? arguments : launcher.dropFirst() + [executable.path] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        process.currentDirectoryURL = workingDirectory ?? repositoryRoot
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sutradhar-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let stdoutURL = folder.appendingPathComponent("stdout"), stderrURL = folder.appendingPathComponent("stderr")
        FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: stdoutURL)
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return Invocation(process: process, folder: folder)
    }

    /// Runs `sutradhar ARGUMENTS` to completion (killed after `timeout`).
    public static func run(_ arguments: [String], environment: [String: String] = [:],
                           workingDirectory: URL? = nil, timeout: Duration = .seconds(300),
                           launcher: [String] = []) async throws -> Result {
        let invocation = try start(arguments, environment: environment, workingDirectory: workingDirectory, launcher: launcher)
        return await invocation.finish(timeout: timeout)
    }

    /// A running `sutradhar`.
    public final class Invocation: @unchecked Sendable {
        public let process: Process
        let folder: URL

        init(process: Process, folder: URL) {
            self.process = process
            self.folder = folder
        }

        /// What it has printed on stdout so far.
        public var stdoutSoFar: String {
            (try? String(contentsOf: folder.appendingPathComponent("stdout"), encoding: .utf8)) ?? ""
        }

        /// What it has printed on stderr so far.
        public var stderrSoFar: String {
            (try? String(contentsOf: folder.appendingPathComponent("stderr"), encoding: .utf8)) ?? ""
        }

        /// Sends a signal (e.g. SIGINT, as Ctrl-C does).
        public func signal(_ number: Int32) {
            kill(process.processIdentifier, number)
        }

        /// Waits until stdout contains `text` (true) or `timeout` passes (false).
        public func waitForOutput(containing text: String, timeout: Duration = .seconds(120)) async -> Bool {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if stdoutSoFar.contains(text) { return true }
                if !process.isRunning { return stdoutSoFar.contains(text) }
                try? await Task.sleep(for: .milliseconds(50))
            }
            return false
        }

        /// Waits for the exit (SIGKILL after `timeout`) and collects the output.
        public func finish(timeout: Duration = .seconds(300)) async -> Result {
            let deadline = ContinuousClock.now + timeout
            while process.isRunning, ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(20))
            }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
            }
            let ended = process.waitForExit(until: .now + .seconds(10))
            let stdout = stdoutSoFar
            var stderr = (try? String(contentsOf: folder.appendingPathComponent("stderr"), encoding: .utf8)) ?? ""
            try? FileManager.default.removeItem(at: folder)
            guard ended else {
                stderr += "\n[test harness] still not seen to exit 10 s after SIGKILL (a process it started may hold "
                    + "the descriptor Foundation watches for its exit)"
                return Result(exitCode: -1, stdout: stdout, stderr: stderr)
            }
            return Result(exitCode: process.terminationStatus, stdout: stdout, stderr: stderr)
        }
    }
}

/// The bundled example flake (Examples/hello-server) as a git repository in a temporary
/// folder, as a user's flake repository would be.
public enum ExampleRepository {
    /// Copies Examples/hello-server into `directory`, makes it a repository with one commit on
    /// `main`, and returns it.
    public static func make(at directory: URL) throws -> GitFixtureRepository {
        let source = SutradharCLI.repositoryRoot.appendingPathComponent("Examples/hello-server")
        try FileManager.default.createDirectory(at: directory.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: source, to: directory)
        let repository = try GitFixtureRepository(at: directory)
        _ = try repository.git("add", "-A")
        _ = try repository.git("commit", "-q", "-m", "hello-server")
        return repository
    }
}
