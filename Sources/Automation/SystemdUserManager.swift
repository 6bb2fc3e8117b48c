import Engine
import FileWatching
import Foundation
import RunEvents
import Subprocess

#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Installs, lists and removes Sutradhar's nightly units in a systemd user unit folder, and
/// tells the user manager about them (`systemctl --user`) when it can be reached.
public struct SystemdUserManager: Sendable {
    /// Where the unit files go.
    public let unitDirectory: URL
    /// Whether that is the user manager's own folder (`systemctl --user enable` then finds the
    /// units by name); units elsewhere must be linked first.
    public let isDefaultDirectory: Bool

    /// What happened with `systemctl --user` after writing or removing units.
    public struct Activation: Sendable {
        /// Whether the commands ran and succeeded.
        public let done: Bool
        /// The commands, to run by hand when `done` is false.
        public let commands: [String]
        /// Why they were not run, or what failed.
        public let detail: String?
    }

    /// An installed timer, as read from the unit folder.
    public struct InstalledTimer: Sendable {
        /// The pipeline's name.
        public let pipeline: String
        /// The timer file.
        public let timer: URL
        /// Its `OnCalendar=` value.
        public let onCalendar: String?
        /// The service's `ExecStart=` value, if the service file exists.
        public let execStart: String?
        /// Whether `timers.target.wants/` in the folder links it (what `systemctl --user enable` makes).
        public let enabled: Bool
    }

    /// Uses `unitDirectory`, or the user manager's folder (`$XDG_CONFIG_HOME/systemd/user`, else
    /// `~/.config/systemd/user`) when nil.
    public init(unitDirectory: URL?, environment: [String: String] = ProcessInfo.processInfo.environment) {
        let standard = Self.defaultUnitDirectory(environment: environment)
        let chosen = (unitDirectory ?? standard).standardizedFileURL
        self.unitDirectory = chosen
        isDefaultDirectory = chosen.path == standard.standardizedFileURL.path
    }

    /// `$XDG_CONFIG_HOME/systemd/user`, else `~/.config/systemd/user`.
    public static func defaultUnitDirectory(environment: [String: String]) -> URL {
        let config = environment["XDG_CONFIG_HOME"].flatMap { $0.hasPrefix("/") ? URL(fileURLWithPath: $0) : nil }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".config")
        return config.appendingPathComponent("systemd").appendingPathComponent("user")
    }

    // MARK: - Install

    /// Writes the service and the timer (replacing earlier versions), then, in the user
    /// manager's own folder and if `systemctl --user` reaches a manager, runs
    /// `systemctl --user daemon-reload` and `systemctl --user enable --now TIMER`.
    /// - Returns: the files written and what happened with systemctl.
    /// - Throws: `CallerError` `.io` if the folder or a file cannot be written.
    public func install(_ units: SystemdUnits) async throws(CallerError) -> (files: [URL], activation: Activation) {
        let service = unitDirectory.appendingPathComponent(units.serviceName)
        let timer = unitDirectory.appendingPathComponent(units.timerName)
        do {
            try FileManager.default.createDirectory(at: unitDirectory, withIntermediateDirectories: true)
            try Data(units.service.utf8).write(to: service, options: .atomic)
            try Data(units.timer.utf8).write(to: timer, options: .atomic)
        } catch {
            throw CallerError(.io, "cannot write the units into \(unitDirectory.path); check that the folder is writable, or choose another unit folder",
                              cause: "\(error)", remedy: .chooseUnitFolder)
        }
        let commands: [[String]] = isDefaultDirectory
            ? [["daemon-reload"], ["enable", "--now", units.timerName]]
            : [["link", service.path], ["daemon-reload"], ["enable", "--now", timer.path]]
        let activation = isDefaultDirectory
            ? await Systemctl.runAll(commands)
            : Activation(done: false, commands: commands.map(Systemctl.display),
                         detail: "the units are outside the user manager's folder \(Self.defaultUnitDirectory(environment: ProcessInfo.processInfo.environment).path)")
        return ([service, timer], activation)
    }

    // MARK: - List

    /// The Sutradhar timers in the folder, by pipeline name.
    /// - Throws: `CallerError` `.io` if the folder exists but cannot be read.
    public func installed() throws(CallerError) -> [InstalledTimer] {
        let names: [String]
        do {
            guard FileManager.default.fileExists(atPath: unitDirectory.path) else { return [] }
            names = try FileManager.default.contentsOfDirectory(atPath: unitDirectory.path)
        } catch {
            throw CallerError(.io, "cannot read the unit folder \(unitDirectory.path); check its permissions", cause: "\(error)")
        }
        let wants = unitDirectory.appendingPathComponent("timers.target.wants")
        return names.filter { $0.hasPrefix(SystemdUnits.namePrefix) && $0.hasSuffix(".timer") }.sorted().compactMap { name in
            guard let pipeline = SystemdUnits.pipeline(fromUnitName: name) else { return nil }
            let timer = unitDirectory.appendingPathComponent(name)
            let service = unitDirectory.appendingPathComponent(String(name.dropLast(".timer".count)) + ".service")
            let enabled = (try? FileManager.default.destinationOfSymbolicLink(atPath: wants.appendingPathComponent(name).path)) != nil
            return InstalledTimer(pipeline: pipeline, timer: timer, onCalendar: Self.setting("OnCalendar", in: timer),
                                  execStart: Self.setting("ExecStart", in: service), enabled: enabled)
        }
    }

    /// The first `KEY=value` of a unit file, `%%` read back as `%`.
    static func setting(_ key: String, in file: URL) -> String? {
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return nil }
        return text.split(separator: "\n").first { $0.hasPrefix(key + "=") }
            .map { String($0.dropFirst(key.count + 1)).replacingOccurrences(of: "%%", with: "%") }
    }

    // MARK: - Remove

    /// Deletes both units of `pipeline` and the `timers.target.wants` link. In the user manager's
    /// own folder, when a manager answers, the timer is first stopped and disabled
    /// (`systemctl --user disable --now`) and the manager reloaded afterwards; otherwise the
    /// commands that finish the job are returned.
    /// - Returns: the files removed and what happened with systemctl.
    /// - Throws: `CallerError` `.invalidRequest` when no units of that pipeline are installed here,
    ///   `.io` when they cannot be deleted.
    public func remove(pipeline: String) async throws(CallerError) -> (files: [URL], activation: Activation) {
        let base = SystemdUnits.baseName(pipeline: pipeline)
        let files = [base + ".timer", base + ".service"].map { unitDirectory.appendingPathComponent($0) }
            + [unitDirectory.appendingPathComponent("timers.target.wants").appendingPathComponent(base + ".timer")]
        let present = files.filter { (try? FileManager.default.attributesOfItem(atPath: $0.path)) != nil }
        guard !present.isEmpty else {
            throw CallerError(.invalidRequest, "no units of pipeline '\(pipeline)' in \(unitDirectory.path); 'sutradhar schedule ls' lists what is installed")
        }
        guard isDefaultDirectory else {
            // Units elsewhere were linked into the manager's folder by hand: `disable` undoes `link` too.
            try delete(present, pipeline: pipeline)
            let commands = [["disable", "--now", base + ".timer"], ["disable", base + ".service"], ["daemon-reload"]]
            return (present, Activation(done: false, commands: commands.map(Systemctl.display),
                                        detail: "the units were outside the user manager's folder"))
        }
        // Disabled before the files go, while the manager still knows the unit by its file.
        if await Systemctl.userManagerAnswers() {
            let disabled = await Systemctl.runAll([["disable", "--now", base + ".timer"]])
            try delete(present, pipeline: pipeline)
            return (present, disabled.done ? await Systemctl.runAll([["daemon-reload"]]) : disabled)
        }
        try delete(present, pipeline: pipeline)
        return (present, await Systemctl.runAll([["stop", base + ".timer"], ["daemon-reload"]]))
    }

    private func delete(_ files: [URL], pipeline: String) throws(CallerError) {
        do {
            for file in files { try FileManager.default.removeItem(at: file) }
        } catch {
            throw CallerError(.io, "cannot delete the units of '\(pipeline)' in \(unitDirectory.path); check the folder's permissions",
                              cause: "\(error)")
        }
    }
}

/// `systemctl --user`, each call bounded in time and output.
enum Systemctl {
    static let deadline: Duration = .seconds(20)

    static func display(_ arguments: [String]) -> String {
        (["systemctl", "--user"] + arguments).map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
    }

    /// Whether a user manager answers (`systemctl --user show-environment` exits 0).
    static func userManagerAnswers() async -> Bool {
        (try? await run(["show-environment"]))?.succeeded ?? false
    }

    /// Runs each command in order if a user manager answers, stopping at the first failure.
    static func runAll(_ commands: [[String]]) async -> SystemdUserManager.Activation {
        let shown = commands.map(display)
        guard await userManagerAnswers() else {
            return .init(done: false, commands: shown,
                         detail: "systemctl --user reaches no user manager here (no systemd user session, or systemctl is missing)")
        }
        for command in commands {
            do {
                let outcome = try await run(command)
                guard outcome.succeeded else {
                    return .init(done: false, commands: shown, detail: "\(display(command)) failed: \(outcome.errorText)")
                }
            } catch {
                return .init(done: false, commands: shown, detail: "\(display(command)) could not run: \(error)")
            }
        }
        return .init(done: true, commands: shown, detail: nil)
    }

    struct Outcome {
        let succeeded: Bool
        let errorText: String
        var outputText = ""
    }

    /// `systemctl --user ARGUMENTS`, killed (process group) after `deadline`.
    static func run(_ arguments: [String]) async throws -> Outcome {
        try await runBounded("systemctl", ["--user"] + arguments, deadline: deadline)
    }

    /// Runs the tool `name` (found on PATH) in its own session, killing its process group after
    /// `deadline`; its output is kept up to 64 KiB per stream.
    static func runBounded(_ name: String, _ arguments: [String], deadline: Duration) async throws -> Outcome {
        var platformOptions = PlatformOptions()
        platformOptions.createSession = true
        platformOptions.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: .seconds(2))]
        let options = platformOptions
        return try await withThrowingTaskGroup(of: Outcome?.self) { group in
            group.addTask {
                let result = try await Subprocess.run(
                    .name(name), arguments: Arguments(arguments), platformOptions: options,
                    input: .none, output: .string(limit: 64 * 1024), error: .string(limit: 64 * 1024))
                return Outcome(succeeded: result.terminationStatus.isSuccess,
                               errorText: result.standardError.trimmingCharacters(in: .whitespacesAndNewlines),
                               outputText: result.standardOutput)
            }
            group.addTask {
                try await Task.sleep(for: deadline)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let outcome = first else {
                return Outcome(succeeded: false, errorText: "no answer within \(deadline)")
            }
            return outcome
        }
    }
}

/// What `systemd-analyze calendar` says of a `schedule:` value, where systemd is installed.
public enum CalendarCheck: Sendable, Equatable {
    /// systemd accepts it; `nextElapse` is when it would next fire, as systemd prints it.
    case valid(nextElapse: String?)
    /// systemd refuses it, with systemd's words.
    case invalid(String)
    /// It could not be checked here (no systemd-analyze).
    case unchecked

    /// Asks `systemd-analyze calendar EXPRESSION`.
    public static func of(_ expression: String) async -> CalendarCheck {
        let outcome: Systemctl.Outcome
        do {
            outcome = try await Systemctl.runBounded("systemd-analyze", ["calendar", expression], deadline: .seconds(10))
        } catch {
            return .unchecked  // not installed, or it could not be started
        }
        guard outcome.succeeded else {
            return outcome.errorText.isEmpty ? .unchecked : .invalid(outcome.errorText)
        }
        let next = outcome.outputText.split(separator: "\n")
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .first { $0.hasPrefix("Next elapse:") }
            .map { String($0.dropFirst("Next elapse:".count)).trimmingCharacters(in: .whitespaces) }
        return .valid(nextElapse: next)
    }
}
