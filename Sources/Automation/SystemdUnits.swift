import DockerEngine
import Engine
import FileWatching
import Foundation
import RunEvents

/// The systemd user service and timer that run `sutradhar nightly DEFINITION` on a schedule:
/// `sutradhar-nightly-NAME.service` (a oneshot) and `sutradhar-nightly-NAME.timer`.
public struct SystemdUnits: Sendable {
    /// When a pipeline has no `schedule:`: every day at 03:00 local time.
    public static let defaultSchedule = "*-*-* 03:00:00"
    /// Every unit this writes starts with it; `schedule ls` lists by it.
    public static let namePrefix = "sutradhar-nightly-"

    /// The pipeline's name (from its definition).
    public let pipeline: String
    /// The absolute path of the `sutradhar` executable the service runs.
    public let executable: String
    /// The absolute path of the definition file.
    public let definitionFile: String
    /// The absolute path of the cache the runs use.
    public let cacheRoot: String
    /// The `OnCalendar=` expression.
    public let schedule: String
    /// `--signing-key` of the nightly runs (absolute), nil for the user's default key.
    public var signingKey: String?
    /// `Environment=` settings of the service, in order.
    public let environment: [(name: String, value: String)]

    /// Describes the units; nothing is written.
    /// - Throws: `CallerError` `.invalidRequest` if `schedule` spans lines (it would inject settings).
    public init(pipeline: String, executable: String, definitionFile: String, cacheRoot: String, schedule: String?,
                environment: [(name: String, value: String)]) throws(CallerError) {
        let schedule = (schedule ?? Self.defaultSchedule).trimmingCharacters(in: .whitespaces)
        guard !schedule.isEmpty, !schedule.contains(where: \.isNewline) else {
            throw CallerError(.invalidRequest, "the schedule '\(schedule)' of pipeline '\(pipeline)' is not one systemd calendar expression; write one line, e.g. '*-*-* 03:00:00'")
        }
        self.pipeline = pipeline
        self.executable = executable
        self.definitionFile = definitionFile
        self.cacheRoot = cacheRoot
        self.schedule = schedule
        self.environment = environment
    }

    /// `sutradhar-nightly-NAME`, with characters systemd does not allow in unit names escaped as `\xNN`.
    public var baseName: String { Self.baseName(pipeline: pipeline) }
    /// The service's file name.
    public var serviceName: String { baseName + ".service" }
    /// The timer's file name.
    public var timerName: String { baseName + ".timer" }

    /// The unit base name for a pipeline name.
    public static func baseName(pipeline: String) -> String {
        var name = namePrefix
        for byte in pipeline.utf8 {
            let character = Character(Unicode.Scalar(byte))
            if byte < 0x80, character.isLetter || character.isNumber || ":_.-".contains(character) {
                name.append(character)
            } else {
                name += "\\x" + (byte < 0x10 ? "0" : "") + String(byte, radix: 16)
            }
        }
        return name
    }

    /// The pipeline name a unit base name (or file name) stands for, undoing `baseName(pipeline:)`.
    public static func pipeline(fromUnitName name: String) -> String? {
        var rest = Substring(name)
        for suffix in [".service", ".timer"] where rest.hasSuffix(suffix) { rest = rest.dropLast(suffix.count) }
        guard rest.hasPrefix(namePrefix) else { return nil }
        rest = rest.dropFirst(namePrefix.count)
        var bytes: [UInt8] = []
        while let first = rest.first {
            if rest.hasPrefix("\\x"), rest.count >= 4, let byte = UInt8(rest.dropFirst(2).prefix(2), radix: 16) {
                bytes.append(byte)
                rest = rest.dropFirst(4)
            } else {
                bytes += Array(String(first).utf8)
                rest = rest.dropFirst()
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The service unit's text.
    public var service: String {
        var text = """
            # Written by `sutradhar schedule install`; remove it with `sutradhar schedule remove \(pipeline)`.
            [Unit]
            Description=Sutradhar nightly rebuild of pipeline \(Self.escapeSpecifiers(pipeline))

            [Service]
            Type=oneshot
            ExecStart=\(([executable, "nightly", definitionFile, "--cache-dir", cacheRoot] + (signingKey.map { ["--signing-key", $0] } ?? [])).map { Self.quoteArgument($0) }.joined(separator: " "))

            """
        for (name, value) in environment {
            text += "Environment=\(Self.quoteArgument("\(name)=\(value)", expandsVariables: false))\n"
        }
        // A rebuild at night should not slow whatever else runs then.
        text += "Nice=10\n"
        return text
    }

    /// The timer unit's text.
    public var timer: String {
        """
        # Written by `sutradhar schedule install`; remove it with `sutradhar schedule remove \(pipeline)`.
        [Unit]
        Description=Sutradhar nightly rebuild of pipeline \(Self.escapeSpecifiers(pipeline)), on a schedule

        [Timer]
        OnCalendar=\(Self.escapeSpecifiers(schedule))
        # A run missed while the machine was off happens at the next boot.
        Persistent=true
        Unit=\(serviceName)

        [Install]
        WantedBy=timers.target

        """
    }

    /// What a scheduled run needs in its environment, which a systemd user service does not
    /// inherit from the shell: DOCKER_HOST when a daemon is known (`dockerHost`, then
    /// `$DOCKER_HOST`, then the socket `DockerHost.discover` finds, unless that is the system
    /// daemon's), NIX_REMOTE=daemon (the user builds through the nix daemon), and PATH as it is now
    /// (where nix and the tools the installing shell found live).
    public static func environment(dockerHost: String?, processEnvironment: [String: String]) -> [(name: String, value: String)] {
        var settings: [(name: String, value: String)] = []
        if let host = knownDockerHost(explicit: dockerHost, environment: processEnvironment) {
            settings.append(("DOCKER_HOST", host))
        }
        settings.append(("NIX_REMOTE", "daemon"))
        if let path = processEnvironment["PATH"], !path.isEmpty {
            settings.append(("PATH", path))
        }
        return settings
    }

    private static func knownDockerHost(explicit: String?, environment: [String: String]) -> String? {
        if let explicit, !explicit.isEmpty { return explicit.hasPrefix("/") ? "unix://\(explicit)" : explicit }
        if let fromEnvironment = environment["DOCKER_HOST"], !fromEnvironment.isEmpty { return fromEnvironment }
        guard let host = try? DockerHost.discover(explicit: nil, environment: environment, homeDirectory: environment["HOME"]),
              host.origin != .systemDefault else { return nil }
        return "unix://\(host.socketPath)"
    }

    /// The absolute path of the running executable (`/proc/self/exe`, else argv[0] made absolute).
    public static func currentExecutable() -> String {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        let argument = CommandLine.arguments[0]
        return URL(fileURLWithPath: argument, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
            .standardizedFileURL.path
    }

    // MARK: - systemd's quoting

    /// One word of a command line or setting in systemd's syntax: `%` is a specifier and `$` a
    /// variable reference (in ExecStart), so both are doubled; a word with spaces, quotes or
    /// backslashes is double-quoted with C-style escapes.
    static func quoteArgument(_ word: String, expandsVariables: Bool = true) -> String {
        var text = escapeSpecifiers(word)
        if expandsVariables { text = text.replacingOccurrences(of: "$", with: "$$") }
        let plain = !text.isEmpty && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "/._:=+@,-%$".contains($0)) }
        guard !plain else { return text }
        let escaped = text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
        return "\"\(escaped)\""
    }

    static func escapeSpecifiers(_ text: String) -> String {
        text.replacingOccurrences(of: "%", with: "%%")
    }
}
