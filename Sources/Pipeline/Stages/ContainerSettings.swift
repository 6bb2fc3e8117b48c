import Yams

/// What a container stage may ask for. Everything that would weaken isolation is refused here,
/// at validation, with its position: privileged mode, added capabilities, host namespaces,
/// devices, and mounts of a container socket or of anything outside the checkout.
public struct ContainerSettings: Sendable, Hashable {
    /// The network a container joins.
    public enum Network: String, Sendable, Hashable {
        /// No network at all (the default).
        case none
        /// The daemon's default bridge; only honoured when the run passes `--allow-network`.
        case bridge
    }

    /// `command:` replaces the image's CMD.
    public var command: [String]?
    /// `env:` extra environment, in file order.
    public var environment: [EnvironmentVariable]
    /// `user:` the user to run as inside the container.
    public var user: String?
    /// `workdir:` the working directory inside the container.
    public var workingDirectory: String?
    /// `network:` `none` unless the stage asks for `bridge`.
    public var network: Network
    /// `limits:` resource limits.
    public var limits: ContainerLimits
    /// `mounts:` folders of the checkout, mounted read-only unless `read-only: false`.
    public var mounts: [CheckoutMount]
    /// `runtime:` the OCI runtime the daemon runs the container with (one its `/info` lists,
    /// checked when the stage starts); nil for the daemon's default.
    public var runtime: String? = nil

    /// Keys every container-running kind accepts, in the order docs/definitions.md documents them.
    static let keys = ["command", "env", "user", "workdir", "limits", "mounts", "network", "runtime"]
    /// Keys that are recognised only to be refused, with the reason.
    static let refusedKeys: [String: String] = [
        "privileged": "privileged containers are refused: Sutradhar runs containers rootless, with least privilege and no escalation; remove 'privileged'",
        "cap-add": "adding capabilities is refused: containers run with every capability dropped; remove 'cap-add'",
        "capabilities": "adding capabilities is refused: containers run with every capability dropped; remove 'capabilities'",
        "devices": "host devices are refused: a smoke or test container must not reach the host's hardware; remove 'devices'",
        "pid": "sharing the host's PID namespace is refused; remove 'pid'",
        "ipc": "sharing the host's IPC namespace is refused; remove 'ipc'",
        "userns": "leaving the user namespace is refused; remove 'userns'",
        "security-opt": "security options cannot be relaxed; every container runs with no-new-privileges; remove 'security-opt'",
        "volumes": "volumes are refused; mount a folder of the checkout with 'mounts' instead",
    ]

    static func read(_ block: MappingReader, reportRefusals: Bool = true) -> ContainerSettings {
        let reader = block.reader
        for key in block.order {
            if let reason = refusedKeys[key] {
                reader.report(block.keyNode(key), "'\(block.fieldPath(key))': \(reason)")
            }
        }
        var settings = ContainerSettings(command: nil, environment: [], user: nil, workingDirectory: nil,
                                         network: .none, limits: ContainerLimits(), mounts: [])
        if block.has("command") {
            settings.command = block.stringList("command")
            if settings.command?.isEmpty == true {
                reader.report(block.value("command"), "'\(block.fieldPath("command"))' is empty; give the program and its arguments")
            }
        }
        settings.environment = (block.stringPairs("env") ?? []).map { EnvironmentVariable(name: $0.name, value: $0.value) }
        settings.user = block.string("user")
        settings.workingDirectory = block.string("workdir")
        if let network = block.string("network") {
            switch network {
            case "none": settings.network = .none
            case "bridge", "default": settings.network = .bridge
            case "host":
                reader.report(block.value("network"), "'\(block.fieldPath("network"))': the host network is refused; use none (the default), or bridge where the run allows networks")
            default:
                if network.hasPrefix("container:") {
                    reader.report(block.value("network"), "'\(block.fieldPath("network"))': joining another container's network is only done by a probe's sidecar")
                } else {
                    reader.report(block.value("network"), "'\(block.fieldPath("network"))' must be none or bridge, not '\(network)'")
                }
            }
        }
        if let runtime = block.string("runtime") {
            // A name as daemon.json's `runtimes` keys are written; anything else is no runtime.
            let allowed = runtime.utf8.count <= 64 && runtime.first.map { $0.isASCII && ($0.isLetter || $0.isNumber) } == true
                && runtime.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
            if allowed {
                settings.runtime = runtime
            } else {
                reader.report(block.value("runtime"), "'\(block.fieldPath("runtime"))' '\(runtime.prefix(64))' is not a runtime name; "
                    + "write one the daemon offers, e.g. runc (see 'sutradhar doctor')")
            }
        }
        if let limits = block.mapping("limits") {
            settings.limits = ContainerLimits.read(limits)
        }
        if let mounts = block.value("mounts") {
            settings.mounts = CheckoutMount.readList(mounts, reader: reader, path: block.fieldPath("mounts"),
                                                     schema: block.schema + ["mounts", "[]"])
        }
        return settings
    }

    /// A canonical text of the settings, for cache keys.
    var cacheIdentity: String {
        let env = environment.map { "\($0.name)=\($0.value)" }.joined(separator: "\u{1F}")
        let mountText = mounts.map { "\($0.source)->\($0.target):\($0.readOnly ? "ro" : "rw")" }.joined(separator: ",")
        return "command=\(command?.joined(separator: "\u{1F}") ?? "-") env=\(env) user=\(user ?? "-") "
            + "workdir=\(workingDirectory ?? "-") network=\(network.rawValue) limits=\(limits.cacheIdentity) mounts=\(mountText)"
            + (runtime.map { " runtime=\($0)" } ?? "")
    }
}

/// One `env:` entry.
public struct EnvironmentVariable: Sendable, Hashable {
    /// The variable's name.
    public let name: String
    /// Its value.
    public let value: String
}

/// `limits:` of a container. `nofile` and `nproc` default to the proposal's 64000 and 2048:
/// they are rlimits, which the kernel enforces even where the daemon's cgroup driver is `none`
/// (rootless Podman 4.3 drops them: the stage then reports them as not enforced).
public struct ContainerLimits: Sendable, Hashable {
    /// `memory`: a cgroup limit (not enforced by a daemon whose cgroup driver is none).
    public var memory: ByteSize?
    /// `pids`: a cgroup limit (not enforced by a daemon whose cgroup driver is none).
    public var pids: Int?
    /// `cpus`: a cgroup limit in CPUs (not enforced by a daemon whose cgroup driver is none).
    public var cpus: Double?
    /// `nofile`: open files per process (rlimit; enforced on Docker, not on rootless Podman).
    public var nofile: Int = 64_000
    /// Whether `nofile` was written in the definition. The default is lowered to what the host
    /// can grant (an unprivileged daemon cannot raise its own hard limit); a written one is not.
    public var nofileIsExplicit = false
    /// `nproc`: processes of the container's user (rlimit; enforced on Docker, not on rootless Podman).
    public var nproc: Int = 2048
    /// `data`: data segment size per process (rlimit; enforced on Docker, not on rootless Podman); the memory limit that holds
    /// without cgroups. Below about 64 MiB runc itself cannot start.
    public var data: ByteSize?
    /// `cpu-seconds`: CPU time per process (rlimit; enforced on Docker, not on rootless Podman).
    public var cpuSeconds: Int?
    /// `require-enforced`: refuse to run if a limit given here would not be enforced by the daemon.
    public var requireEnforced = false

    /// The defaults.
    public init() {}

    /// The keys of a `limits:` block, in the order docs/definitions.md documents them.
    static let keys = ["nofile", "nproc", "data", "cpu-seconds", "memory", "pids", "cpus", "require-enforced"]

    static func read(_ block: MappingReader) -> ContainerLimits {
        block.rejectUnknownKeys(allowed: keys)
        var limits = ContainerLimits()
        limits.memory = block.size("memory")
        limits.pids = block.int("pids", in: 1...4_194_304)
        limits.cpus = block.double("cpus", in: 0.01...1024)
        if let nofile = block.int("nofile", in: 16...1_048_576) {
            limits.nofile = nofile
            limits.nofileIsExplicit = true
        }
        limits.nproc = block.int("nproc", in: 1...4_194_304) ?? limits.nproc
        limits.data = block.size("data")
        if let data = limits.data, data.bytes < 64 * 1024 * 1024 {
            block.reader.report(block.value("data"), "'\(block.fieldPath("data"))' is \(data): below 64 MiB the container runtime itself cannot start; give at least 64MiB")
        }
        limits.cpuSeconds = block.int("cpu-seconds", in: 1...31_536_000)
        limits.requireEnforced = block.bool("require-enforced") ?? false
        return limits
    }

    var cacheIdentity: String {
        "memory=\(memory?.bytes ?? 0) pids=\(pids ?? 0) cpus=\(cpus ?? 0) nofile=\(nofile) nproc=\(nproc) "
            + "data=\(data?.bytes ?? 0) cpu-seconds=\(cpuSeconds ?? 0) require-enforced=\(requireEnforced)"
    }
}

/// A folder or file of the checkout mounted into a container. Only paths inside the checkout
/// may be mounted; a Docker or Podman socket never is.
public struct CheckoutMount: Sendable, Hashable {
    /// The path relative to the checkout's root.
    public let source: String
    /// The absolute path inside the container.
    public let target: String
    /// Read-only unless the stage says otherwise.
    public let readOnly: Bool

    /// The keys of a mount written as a mapping.
    static let keys = ["source", "target", "read-only"]

    /// Reads a `mounts:` list; `schema` is where its items sit in the definition language.
    static func readList(_ node: Node, reader: DefinitionReader, path: String, schema: [String]) -> [CheckoutMount] {
        guard case .sequence(let items) = node else {
            reader.report(node, "'\(path)' must be a list of mounts, e.g. [testdata:/data:ro]")
            return []
        }
        return items.enumerated().compactMap { index, item in
            read(item, reader: reader, path: "\(path)[\(index)]", schema: schema)
        }
    }

    static func read(_ node: Node, reader: DefinitionReader, path: String, schema: [String]) -> CheckoutMount? {
        var source: String?, target: String?, readOnly = true
        if case .scalar(let scalar) = node {
            // Short form SOURCE:TARGET[:ro|:rw], as in `docker run -v`.
            let parts = scalar.string.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2 || (parts.count == 3 && ["ro", "rw"].contains(parts[2])) else {
                reader.report(node, "'\(path)' must be SOURCE:TARGET[:ro|:rw], not '\(scalar.string)'")
                return nil
            }
            (source, target) = (parts[0], parts[1])
            readOnly = parts.count == 2 || parts[2] == "ro"
        } else if let block = reader.mapping(node, path: path, schema: schema) {
            block.rejectUnknownKeys(allowed: keys)
            source = block.string("source", required: true)
            target = block.string("target", required: true)
            readOnly = block.bool("read-only") ?? true
        }
        guard let source, let target else { return nil }
        guard let problem = refusal(source: source, target: target) else {
            return CheckoutMount(source: source, target: target, readOnly: readOnly)
        }
        reader.report(node, "'\(path)': \(problem)")
        return nil
    }

    /// Why a mount is refused, or nil if it is allowed.
    static func refusal(source: String, target: String) -> String? {
        let lowered = source.lowercased()
        if lowered.hasSuffix("docker.sock") || lowered.hasSuffix("podman.sock") || lowered.contains("/docker.sock")
            || lowered.contains("containerd.sock") {
            return "mounting a container engine's socket is refused: it gives the container control of the daemon; remove this mount"
        }
        if source.hasPrefix("/") || source.hasPrefix("~") {
            return "'\(source)' is outside the checkout; only paths inside the checkout can be mounted (write them relative to its root)"
        }
        var depth = 0
        for component in source.split(separator: "/") {
            if component == ".." { depth -= 1 } else if component != "." { depth += 1 }
            if depth < 0 {
                return "'\(source)' leaves the checkout; only paths inside the checkout can be mounted"
            }
        }
        if !target.hasPrefix("/") {
            return "the target '\(target)' must be an absolute path inside the container"
        }
        return nil
    }
}

