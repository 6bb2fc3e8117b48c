import Foundation
import Subprocess
import Synchronization

#if canImport(System)
import System
#else
import SystemPackage
#endif

/// What one finished `nix` run left behind.
struct NixRunOutcome: Sendable {
    /// The argument list as run, starting with the executable, for error messages.
    let command: [String]
    let status: TerminationStatus
    /// Standard output, at most ``Nix/standardOutputLimit`` bytes.
    let standardOutput: [UInt8]
    /// Whether nix printed more than ``Nix/standardOutputLimit`` bytes (the rest was dropped).
    let standardOutputOverflowed: Bool
    /// The last lines of standard error.
    let logTail: [String]

    var exitCode: Int32? {
        if case .exited(let code) = status { return code }
        return nil
    }
}

/// Output gathered while nix runs. Shared between the reading tasks and the code that reports
/// an error, so a cancelled or failed run still has its log tail.
private final class OutputCollector: Sendable {
    private struct State {
        var tail: LogTail
        var standardOutput: [UInt8] = []
        var overflowed = false
        var written = 0
        var descendantsAtCancellation: [ProcessRecord] = []
    }
    private let state: Mutex<State>
    private let standardOutputLimit: Int
    /// Where stdout goes instead of memory, if anywhere (a file nix's answer is streamed to).
    private let standardOutputFile: Int32?

    init(tailLimit: Int, standardOutputLimit: Int, standardOutputFile: Int32? = nil) {
        self.state = Mutex(State(tail: LogTail(limit: tailLimit)))
        self.standardOutputLimit = standardOutputLimit
        self.standardOutputFile = standardOutputFile
    }

    func appendOutput(_ bytes: UnsafeRawBufferPointer) {
        state.withLock { state in
            if let file = standardOutputFile {
                guard !state.overflowed else { return }
                state.written += bytes.count
                state.overflowed = state.written > standardOutputLimit || !Self.writeAll(bytes, to: file)
                return
            }
            let room = standardOutputLimit - state.standardOutput.count
            if bytes.count > room {
                state.overflowed = true
            }
            state.standardOutput.append(contentsOf: bytes.prefix(max(0, room)))
        }
    }

    private static func writeAll(_ bytes: UnsafeRawBufferPointer, to file: Int32) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let count = write(file, bytes.baseAddress! + offset, bytes.count - offset)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return false }
            offset += count
        }
        return true
    }

    func appendLogLine(_ line: String) {
        state.withLock { $0.tail.append(line) }
    }

    func noteDescendants(_ records: [ProcessRecord]) {
        state.withLock { $0.descendantsAtCancellation = records }
    }

    var logTail: [String] { state.withLock { $0.tail.lines } }
    var standardOutput: (bytes: [UInt8], overflowed: Bool) {
        state.withLock { ($0.standardOutput, $0.overflowed) }
    }
    var descendantsAtCancellation: [ProcessRecord] { state.withLock { $0.descendantsAtCancellation } }
}

extension Nix {
    /// Flags that every nix call except `--version` carries: the features flakes need, then each
    /// configured option as `--option NAME VALUE`.
    var commonFlags: [String] {
        var flags = ["--extra-experimental-features", "nix-command flakes"]
        for option in options {
            flags += ["--option", option.name, option.value]
        }
        return flags
    }

    /// Runs `nix ARGUMENTS` and waits for it to exit, streaming both pipes at once so that nix
    /// never blocks on a full pipe. Each stderr line goes to `log` as it arrives; stdout is kept
    /// up to ``standardOutputLimit`` bytes, or, with `file`, written to that descriptor as it
    /// comes, up to its limit (memory then does not grow with the answer).
    ///
    /// nix runs in a session (and so a process group) of its own. If the calling task is
    /// cancelled, that group gets SIGTERM, then SIGKILL after ``terminationGracePeriod``; nix is
    /// always reaped; then whatever nix had started (its builders, which nix puts in sessions of
    /// their own) and that still runs is SIGKILLed too (see ``ProcessTree``). If this process
    /// dies, even by SIGKILL, nix's watchdog stops it (see ``ParentWatchdog``).
    ///
    /// A non-zero exit is returned, not thrown.
    /// - Throws: ``NixError`` `.nixMissing` if the executable cannot be found, `.cancelled` if the
    ///   task was cancelled, `.unexpectedOutput` if nix could not be started or read.
    func execute(
        _ arguments: [String],
        workingDirectory: URL?,
        log: (@Sendable (String) -> Void)? = nil,
        started: (@Sendable (Int32) -> Void)? = nil,
        standardOutputTo file: (descriptor: Int32, limit: Int)? = nil
    ) async throws -> NixRunOutcome {
        let command = [executable] + arguments
        guard !Task.isCancelled else {
            throw cancelledError(command: command, logTail: [])
        }
        if executable.contains("/"), !FileManager.default.isExecutableFile(atPath: executable) {
            throw nixMissingError(command: command, underlyingError: nil)
        }

        var platformOptions = PlatformOptions()
        // A new session: nix's process group is then its own, so signalling the group reaches
        // nix and anything it runs in that group, and never this process.
        platformOptions.createSession = true
        platformOptions.teardownSequence = [
            .gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: terminationGracePeriod)
        ]

        let collector = OutputCollector(tailLimit: Self.logTailLimit, standardOutputLimit: file?.limit ?? Self.standardOutputLimit,
                                        standardOutputFile: file?.descriptor)
        let status: TerminationStatus
        do {
            // nix is found here, not by the wrapper's `exec`, so a missing nix is still `.nixMissing`.
            let path = executable.contains("/")
                ? executable : try await Executable.name(executable).resolveExecutablePath(in: subprocessEnvironment).string
            // Dies with this process, even on SIGKILL (see ``ParentWatchdog``).
            let watchdog = try ParentWatchdog()
            defer { watchdog.closeBothEnds() }
            let wrapped = ParentWatchdog.wrapping([path] + arguments, grace: terminationGracePeriod)
            let result = try await run(
                .path(FilePath(wrapped.executable)),
                arguments: Arguments(wrapped.arguments),
                environment: subprocessEnvironment,
                workingDirectory: workingDirectory.map { FilePath($0.path) },
                platformOptions: platformOptions,
                input: .fileDescriptor(FileDescriptor(rawValue: watchdog.readEnd), closeAfterSpawningProcess: false),
                output: .sequence,
                error: .sequence
            ) { execution in
                let pid = execution.processIdentifier.value
                started?(pid)
                try await withTaskCancellationHandler {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for try await buffer in execution.standardOutput {
                                buffer.withUnsafeBytes { collector.appendOutput($0) }
                            }
                        }
                        group.addTask {
                            var splitter = LineSplitter(maxLineBytes: Self.maxLogLineBytes)
                            func deliver(_ line: String) {
                                collector.appendLogLine(line)
                                log?(line)
                            }
                            for try await buffer in execution.standardError {
                                let lines = buffer.withUnsafeBytes { splitter.feed($0) }
                                lines.forEach(deliver)
                            }
                            splitter.finish().map(deliver)
                        }
                        try await group.waitForAll()
                    }
                } onCancel: {
                    // Noted now, while nix is alive (or at least not yet reaped, so its PID
                    // cannot have been reused): once nix is gone its builders have no parent
                    // to be found by.
                    collector.noteDescendants(ProcessTree.descendants(of: pid))
                }
            }
            status = result.terminationStatus
        } catch let error as SubprocessError where error.code == .executableNotFound {
            throw nixMissingError(command: command, underlyingError: error)
        } catch let error as NixError {
            throw error
        } catch {
            if Task.isCancelled {
                await ProcessTree.killSurvivors(collector.descendantsAtCancellation)
                throw cancelledError(command: command, logTail: collector.logTail)
            }
            throw NixError(
                code: .unexpectedOutput,
                message: "could not run or read '\(command.joined(separator: " "))'. Check that the nix "
                    + "executable works when run by hand.",
                logTail: collector.logTail,
                command: command,
                underlyingError: error
            )
        }

        if Task.isCancelled {
            await ProcessTree.killSurvivors(collector.descendantsAtCancellation)
            throw cancelledError(command: command, logTail: collector.logTail)
        }
        let standardOutput = collector.standardOutput
        return NixRunOutcome(
            command: command,
            status: status,
            standardOutput: standardOutput.bytes,
            standardOutputOverflowed: standardOutput.overflowed,
            logTail: collector.logTail
        )
    }

    private var subprocessEnvironment: Subprocess.Environment {
        var updates: [Subprocess.Environment.Key: String?] = [:]
        for (name, value) in environment {
            if let key = Subprocess.Environment.Key(rawValue: name) {
                updates[key] = value
            }
        }
        return .inherit.updating(updates)
    }

    private func nixMissingError(command: [String], underlyingError: (any Error)?) -> NixError {
        NixError(
            code: .nixMissing,
            message: "the nix executable '\(executable)' was not found. Install Nix 2.4 or newer with flakes "
                + "(on Debian: apt-get install nix-bin), or give the full path to the nix executable.",
            command: command,
            underlyingError: underlyingError
        )
    }

    private func cancelledError(command: [String], logTail: [String]) -> NixError {
        NixError(
            code: .cancelled,
            message: "'\(command.joined(separator: " "))' was cancelled; nix and its builders were stopped.",
            logTail: logTail,
            command: command
        )
    }

    /// The last `error:` line nix printed, to name the cause in a message; nix's final error
    /// often spans several lines, of which the first says the most.
    static func lastErrorLine(in logTail: [String]) -> String? {
        logTail.last(where: { $0.hasPrefix("error:") })
    }
}
