/// What to create a container from: the body of `POST /containers/create`.
///
/// Encodes to the Engine API's own PascalCase keys. `labels` are the container's top-level
/// `Labels` (HostConfig has none). The container never gets a TTY or stdin, so its output is
/// multiplexed and readable with ``MultiplexedStreamDecoder``.
public struct ContainerSpec: Sendable, Encodable, Equatable {
    /// The image reference or ID (`Image`); create never pulls, so it must be loaded already.
    public var image: String
    /// The command (`Cmd`), replacing the image's; nil keeps the image's.
    public var command: [String]?
    /// The entrypoint (`Entrypoint`), replacing the image's; nil keeps the image's.
    public var entrypoint: [String]?
    /// Environment variables (`Env`, sent as sorted `KEY=VALUE` strings), added to the image's.
    public var env: [String: String]
    /// Labels on the container (`Labels`); use them to find and clean up what a run created.
    public var labels: [String: String]
    /// The working directory (`WorkingDir`); nil keeps the image's.
    public var workingDir: String?
    /// The user, `name`, `uid` or `uid:gid` (`User`); nil keeps the image's.
    public var user: String?
    /// Isolation and limits (`HostConfig`).
    public var hostConfig: HostConfig

    /// Makes a spec; everything but the image has a default that keeps the image's setting.
    public init(
        image: String,
        command: [String]? = nil,
        entrypoint: [String]? = nil,
        env: [String: String] = [:],
        labels: [String: String] = [:],
        workingDir: String? = nil,
        user: String? = nil,
        hostConfig: HostConfig = HostConfig()
    ) {
        self.image = image
        self.command = command
        self.entrypoint = entrypoint
        self.env = env
        self.labels = labels
        self.workingDir = workingDir
        self.user = user
        self.hostConfig = hostConfig
    }

    private enum CodingKeys: String, CodingKey {
        case image = "Image", command = "Cmd", entrypoint = "Entrypoint", env = "Env", labels = "Labels"
        case workingDir = "WorkingDir", user = "User", hostConfig = "HostConfig"
        case tty = "Tty", openStdin = "OpenStdin", attachStdin = "AttachStdin"
        case attachStdout = "AttachStdout", attachStderr = "AttachStderr"
    }

    /// Encodes the Engine API JSON.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(image, forKey: .image)
        try container.encodeIfPresent(command, forKey: .command)
        try container.encodeIfPresent(entrypoint, forKey: .entrypoint)
        try container.encode(env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }, forKey: .env)
        try container.encode(labels, forKey: .labels)
        try container.encodeIfPresent(workingDir, forKey: .workingDir)
        try container.encodeIfPresent(user, forKey: .user)
        try container.encode(hostConfig, forKey: .hostConfig)
        // Without a TTY the daemon multiplexes stdout and stderr, which is what logs() decodes.
        try container.encode(false, forKey: .tty)
        try container.encode(false, forKey: .openStdin)
        try container.encode(false, forKey: .attachStdin)
        try container.encode(true, forKey: .attachStdout)
        try container.encode(true, forKey: .attachStderr)
    }
}

/// The isolation and limits of a container: `HostConfig` in `POST /containers/create`.
///
/// Note that a daemon with cgroup driver `none` (rootless on cgroup v1) accepts `memory`,
/// `nanoCpus` and `pidsLimit` silently and enforces none of them; `ulimits` hold on Docker, but
/// rootless Podman 4.3 drops them (see ``DaemonInfo/enforcesResourceLimits`` and
/// ``DaemonInfo/enforcesUlimits``).
public struct HostConfig: Sendable, Encodable, Equatable {
    /// `NetworkMode`: `none`, `container:ID` (share another container's network namespace,
    /// as a probe sidecar does), `bridge`, …
    public var networkMode: String
    /// `Privileged`.
    public var privileged: Bool
    /// `CapDrop`, e.g. `["ALL"]`.
    public var capDrop: [String]
    /// `CapAdd`.
    public var capAdd: [String]
    /// `SecurityOpt`, e.g. `["no-new-privileges"]`.
    public var securityOpt: [String]
    /// `ReadonlyRootfs`.
    public var readonlyRootfs: Bool
    /// `Tmpfs`: mount point → options, e.g. `["/tmp": "rw,noexec,nosuid,size=64m"]`.
    public var tmpfs: [String: String]
    /// `Init`: run the daemon's init (tini) as PID 1, so signals are forwarded and zombies reaped.
    public var initProcess: Bool
    /// `Memory` in bytes; nil for no limit.
    public var memory: Int64?
    /// `MemorySwap` in bytes (memory plus swap); set it equal to `memory` to forbid swap.
    public var memorySwap: Int64?
    /// `NanoCpus`: CPU quota in billionths of a CPU.
    public var nanoCpus: Int64?
    /// `PidsLimit`.
    public var pidsLimit: Int64?
    /// `Ulimits`.
    public var ulimits: [Ulimit]
    /// `Binds`: `host-path:container-path[:options]`.
    public var binds: [String]
    /// `Runtime`: the OCI runtime, one of ``DaemonInfo/runtimes``; nil for the daemon's default.
    public var runtime: String? = nil

    /// Makes a host config; the defaults are the daemon's (network `none` aside: nothing here
    /// should reach a network unless asked to).
    public init(
        networkMode: String = "none",
        privileged: Bool = false,
        capDrop: [String] = [],
        capAdd: [String] = [],
        securityOpt: [String] = [],
        readonlyRootfs: Bool = false,
        tmpfs: [String: String] = [:],
        initProcess: Bool = false,
        memory: Int64? = nil,
        memorySwap: Int64? = nil,
        nanoCpus: Int64? = nil,
        pidsLimit: Int64? = nil,
        ulimits: [Ulimit] = [],
        binds: [String] = []
    ) {
        self.networkMode = networkMode
        self.privileged = privileged
        self.capDrop = capDrop
        self.capAdd = capAdd
        self.securityOpt = securityOpt
        self.readonlyRootfs = readonlyRootfs
        self.tmpfs = tmpfs
        self.initProcess = initProcess
        self.memory = memory
        self.memorySwap = memorySwap
        self.nanoCpus = nanoCpus
        self.pidsLimit = pidsLimit
        self.ulimits = ulimits
        self.binds = binds
    }

    private enum CodingKeys: String, CodingKey {
        case networkMode = "NetworkMode", privileged = "Privileged", capDrop = "CapDrop", capAdd = "CapAdd"
        case securityOpt = "SecurityOpt", readonlyRootfs = "ReadonlyRootfs", tmpfs = "Tmpfs", initProcess = "Init"
        case memory = "Memory", memorySwap = "MemorySwap", nanoCpus = "NanoCpus", pidsLimit = "PidsLimit"
        case ulimits = "Ulimits", binds = "Binds", autoRemove = "AutoRemove", runtime = "Runtime"
    }

    /// Encodes the Engine API JSON; limits left nil are omitted (the daemon's default: none).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(networkMode, forKey: .networkMode)
        try container.encode(privileged, forKey: .privileged)
        try container.encode(capDrop, forKey: .capDrop)
        try container.encode(capAdd, forKey: .capAdd)
        try container.encode(securityOpt, forKey: .securityOpt)
        try container.encode(readonlyRootfs, forKey: .readonlyRootfs)
        try container.encode(tmpfs, forKey: .tmpfs)
        try container.encode(initProcess, forKey: .initProcess)
        try container.encodeIfPresent(memory, forKey: .memory)
        try container.encodeIfPresent(memorySwap, forKey: .memorySwap)
        try container.encodeIfPresent(nanoCpus, forKey: .nanoCpus)
        try container.encodeIfPresent(pidsLimit, forKey: .pidsLimit)
        try container.encode(ulimits, forKey: .ulimits)
        try container.encode(binds, forKey: .binds)
        try container.encodeIfPresent(runtime, forKey: .runtime)
        // Never: the exit state (OOMKilled, ExitCode) must survive for inspectContainer.
        try container.encode(false, forKey: .autoRemove)
    }
}

/// A resource limit set with setrlimit in the container (`{"Name","Soft","Hard"}`), enforced by
/// the kernel per process even where cgroup limits are not.
public struct Ulimit: Sendable, Encodable, Equatable {
    /// The limit's name without `RLIMIT_`, lower case: `nproc`, `nofile`, `cpu`, `data`, `fsize`, …
    public var name: String
    /// The soft limit.
    public var soft: Int64
    /// The hard limit.
    public var hard: Int64

    /// Makes a limit; `hard` defaults to `soft`.
    public init(name: String, soft: Int64, hard: Int64? = nil) {
        self.name = name
        self.soft = soft
        self.hard = hard ?? soft
    }

    private enum CodingKeys: String, CodingKey {
        case name = "Name", soft = "Soft", hard = "Hard"
    }
}
