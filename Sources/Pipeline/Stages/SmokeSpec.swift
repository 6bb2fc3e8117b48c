/// `smoke:` starts an image in an isolated container and probes it until the probe passes,
/// the attempts run out or the stage's timeout expires.
public struct SmokeSpec: StageSpec, Hashable {
    public static let kind = "smoke"
    /// Its stages produce no image.
    public static let producesImage = false

    /// `image:` the docker-load stage (or an image already in the daemon) to start.
    public let image: ImageSource
    /// The container's settings (command, env, limits, network, mounts).
    public let container: ContainerSettings
    /// `probe:` how to tell that the server works.
    public let probe: Probe

    public var references: [StageReference] { image.references + probe.references }
    public var cacheIdentity: String {
        "smoke image=\(image.cacheIdentity) \(container.cacheIdentity) probe=\(probe.cacheIdentity)"
    }

    /// The keys of a `smoke:` block, in the order docs/definitions.md documents them.
    static let keys = ["image"] + ContainerSettings.keys + ["probe"]

    static func read(_ block: MappingReader) -> SmokeSpec? {
        block.rejectUnknownKeys(allowed: keys, refused: ContainerSettings.refusedKeys.keys)
        let image = ImageSource.read(block)
        let container = ContainerSettings.read(block)
        let probe = block.mapping("probe", required: true).flatMap(Probe.read)
        guard let image, let probe else { return nil }
        return SmokeSpec(image: image, container: container, probe: probe)
    }
}

/// A smoke stage's probe, retried until it passes.
public struct Probe: Sendable, Hashable {
    /// Where the probe command runs.
    public enum Runner: Sendable, Hashable {
        /// `exec:` inside the server's container.
        case exec([String])
        /// `sidecar:` in a second container that shares the server's network namespace, so it
        /// reaches the server over loopback while neither has a network.
        case sidecar(image: ImageSource, command: [String])
    }

    /// Where the probe runs.
    public let runner: Runner
    /// `expect-exit` (default 0).
    public let expectExit: Int
    /// `expect-stdout`: a substring the output must contain.
    public let expectStdout: String?
    /// `expect-stdout-matches`: a regular expression the output must match.
    public let expectStdoutMatches: String?
    /// `attempts` (default 30).
    public let attempts: Int
    /// `interval` between attempts (default 1s).
    public let interval: Duration
    /// `ready-when-log`: text a line of the server's output (stdout or stderr) contains once it
    /// is ready; the first attempt waits for that line instead of polling. Nil: attempts start
    /// at once.
    public var readyWhenLog: String? = nil

    var references: [StageReference] {
        if case .sidecar(let image, _) = runner { return image.references }
        return []
    }

    var cacheIdentity: String {
        let runnerText: String
        switch runner {
        case .exec(let command): runnerText = "exec:\(command.joined(separator: "\u{1F}"))"
        case .sidecar(let image, let command): runnerText = "sidecar:\(image.cacheIdentity):\(command.joined(separator: "\u{1F}"))"
        }
        return "\(runnerText) exit=\(expectExit) stdout=\(expectStdout ?? "-") matches=\(expectStdoutMatches ?? "-")"
            + (readyWhenLog.map { " ready-when-log=\($0)" } ?? "")
    }

    /// The keys of a `probe:` block, in the order docs/definitions.md documents them.
    static let keys = ["exec", "sidecar", "expect-exit", "expect-stdout", "expect-stdout-matches", "attempts", "interval", "ready-when-log"]
    /// The longest `ready-when-log` text: it is looked for in lines cut at 16 KiB.
    static let maximumReadyTextBytes = 1024
    /// The keys of a probe's `sidecar:` block.
    static let sidecarKeys = ["image", "command"]

    static func read(_ block: MappingReader) -> Probe? {
        let reader = block.reader
        block.rejectUnknownKeys(allowed: keys)
        var runner: Runner?
        switch (block.has("exec"), block.has("sidecar")) {
        case (true, true):
            reader.report(block.keyNode("sidecar"), "'\(block.path)' has both 'exec' and 'sidecar'; keep one")
        case (false, false):
            block.reportMissing("exec", " or 'sidecar'; e.g. exec: [wget, -qO-, http://127.0.0.1:8080/health]")
        case (true, false):
            if let command = block.stringList("exec") {
                if command.isEmpty { reader.report(block.value("exec"), "'\(block.fieldPath("exec"))' is empty") }
                runner = .exec(command)
            }
        case (false, true):
            if let sidecar = block.mapping("sidecar") {
                sidecar.rejectUnknownKeys(allowed: sidecarKeys)
                let image = ImageSource.read(sidecar)
                let command = sidecar.stringList("command", required: true)
                if let image, let command { runner = .sidecar(image: image, command: command) }
            }
        }
        let pattern = block.string("expect-stdout-matches")
        if let pattern, (try? Regex(pattern)) == nil {
            reader.report(block.value("expect-stdout-matches"), "'\(block.fieldPath("expect-stdout-matches"))' is not a valid regular expression: '\(pattern)'")
        }
        let expectExit = block.int("expect-exit", in: 0...255) ?? 0
        let attempts = block.int("attempts", in: 1...10_000) ?? 30
        let interval = block.duration("interval") ?? .seconds(1)
        let expectStdout = block.string("expect-stdout")
        let ready = block.string("ready-when-log")
        if let ready, ready.isEmpty || ready.utf8.count > maximumReadyTextBytes || ready.contains(where: \.isNewline) {
            reader.report(block.value("ready-when-log"), "'\(block.fieldPath("ready-when-log"))' must be one line of text the server prints "
                + "when it is ready (1 to \(maximumReadyTextBytes) bytes), e.g. \"listening on\"")
        }
        guard let runner else { return nil }
        var probe = Probe(runner: runner, expectExit: expectExit, expectStdout: expectStdout,
                          expectStdoutMatches: pattern, attempts: attempts, interval: interval)
        probe.readyWhenLog = ready
        return probe
    }
}
