import Foundation

/// Which engine serves the Engine API on a socket: Docker's daemon or Podman's API service.
public enum ContainerEngine: String, Sendable, Equatable {
    /// dockerd (rootless or not).
    case docker
    /// `podman system service`, whose Docker-compatible API differs in ways Sutradhar handles
    /// (see ``DaemonInfo/enforcesUlimits`` and ``DockerClient/loadImage(fileAt:progress:timeout:)``).
    case podman

    /// `Docker` or `Podman`, for messages.
    public var displayName: String { self == .podman ? "Podman" : "Docker" }
}

/// What the daemon says about itself (`GET /info` and `GET /version`, plus the API version from `GET /_ping`).
public struct DaemonInfo: Sendable, Equatable {
    /// The daemon's version, e.g. `20.10.24+dfsg1`.
    public let serverVersion: String
    /// Which engine it is: Podman when `GET /version` lists a component named `Podman Engine`.
    public let engine: ContainerEngine
    /// The engine's own version (the `Podman Engine` component's for Podman, `Version` for Docker).
    public let engineVersion: String
    /// The highest Engine API version the daemon speaks (`API-Version` of `GET /_ping`).
    public let apiVersion: String
    /// `SecurityOptions`, e.g. `name=seccomp,profile=default`, `name=rootless`.
    public let securityOptions: [String]
    /// Whether the daemon runs rootless: `name=rootless` in `SecurityOptions` (Docker) or a
    /// top-level `Rootless: true` (Podman).
    public let isRootless: Bool
    /// `Driver`, e.g. `overlay2`.
    public let storageDriver: String
    /// `CgroupDriver`: `cgroupfs`, `systemd` or `none`.
    public let cgroupDriver: String
    /// `CgroupVersion`: `1` or `2`.
    public let cgroupVersion: String
    /// `OperatingSystem` of the daemon's host.
    public let operatingSystem: String
    /// Whether cgroup limits (Memory, NanoCpus, PidsLimit) are enforced: false when the cgroup
    /// driver is `none`, where the daemon accepts them silently and applies none, and for rootless
    /// Podman on cgroup v1 (it reports `cgroupfs` but ignores resource limits there, as its CLI
    /// warns and a probe of `memory.limit_in_bytes` inside its container shows).
    public let enforcesResourceLimits: Bool
    /// Whether the `Ulimits` of a create request are applied: false for rootless Podman, whose
    /// compat API (4.3) drops them silently (a probe of `/proc/self/limits` in its container saw
    /// `nofile` 20000 where 1024 was asked, and no `nproc`, `data` or `cpu` limit at all).
    public let enforcesUlimits: Bool
    /// The OCI runtimes the daemon offers (`Runtimes` of `GET /info`, by name, sorted), which a
    /// create request may name as `HostConfig.Runtime`; empty when the daemon does not say.
    public var runtimes: [String] = []
    /// The runtime a container gets when its create request names none (`DefaultRuntime`).
    public var defaultRuntime: String = ""

    /// `Podman 4.3.1` or `Docker 20.10.24+dfsg1`, for messages.
    public var engineDescription: String {
        "\(engine.displayName) \(engineVersion.isEmpty ? serverVersion : engineVersion)"
    }

    /// Makes an info value (tests and fakes); clients get it from ``DockerClient/info()``.
    public init(
        serverVersion: String, apiVersion: String, securityOptions: [String], isRootless: Bool,
        storageDriver: String, cgroupDriver: String, cgroupVersion: String, operatingSystem: String,
        engine: ContainerEngine = .docker, engineVersion: String = ""
    ) {
        self.serverVersion = serverVersion
        self.engine = engine
        self.engineVersion = engineVersion
        self.apiVersion = apiVersion
        self.securityOptions = securityOptions
        self.isRootless = isRootless
        self.storageDriver = storageDriver
        self.cgroupDriver = cgroupDriver
        self.cgroupVersion = cgroupVersion
        self.operatingSystem = operatingSystem
        let rootlessPodman = engine == .podman && isRootless
        self.enforcesResourceLimits = cgroupDriver != "none" && !(rootlessPodman && cgroupVersion == "1")
        self.enforcesUlimits = !rootlessPodman
    }

    /// Identifies the engine from the recorded bodies of `GET /info` and `GET /version`.
    ///
    /// - Throws: ``DockerError`` `.badResponse` if either body is not the JSON object expected.
    public static func identify(info: Data, version: Data, apiVersion: String) throws -> DaemonInfo {
        let decoder = JSONDecoder()
        do {
            return DaemonInfo(try decoder.decode(Wire.Info.self, from: info), version: try decoder.decode(Wire.Version.self, from: version),
                              apiVersion: apiVersion)
        } catch {
            throw DockerError(.badResponse, "cannot read the daemon's /info or /version: \(error)", underlying: error)
        }
    }
}

/// An image as `GET /images/{name}/json` describes it.
public struct ImageDetails: Sendable, Equatable {
    /// The image ID, `sha256:…`.
    public let id: String
    /// Its tags, `name:tag`.
    public let repoTags: [String]
    /// Its size in bytes.
    public let size: Int64
    /// The labels in its config.
    public let labels: [String: String]
    /// Its config's `OnBuild`: instructions a build `FROM` it runs first (one Dockerfile line each).
    public var onBuild: [String] = []
    /// Its layers' digests (diff IDs, `sha256:…`), bottom first: `RootFS.Layers`.
    public var layers: [String] = []

    /// Whether `tag` (`name:tag`) names this image, also in Podman's forms `localhost/name:tag`
    /// and `docker.io/library/name:tag` (Podman qualifies an unqualified name when it loads or tags).
    public func isTagged(_ tag: String) -> Bool {
        repoTags.contains { ImageDetails.sameTag($0, tag) }
    }

    /// Whether two `name:tag` references are the same, reading `localhost/name:tag` (Podman's
    /// load) and `docker.io/library/name:tag` (Podman's tag endpoint) as `name:tag`.
    public static func sameTag(_ first: String, _ second: String) -> Bool {
        func unqualified(_ tag: String) -> Substring {
            for prefix in ["localhost/", "docker.io/library/"] where tag.hasPrefix(prefix) {
                return tag.dropFirst(prefix.count)
            }
            return Substring(tag)
        }
        return unqualified(first) == unqualified(second)
    }
}

/// An image as `GET /images/json` lists it.
public struct ImageSummary: Sendable, Equatable {
    /// The image ID, `sha256:…`.
    public let id: String
    /// Its tags, `name:tag` (empty for an untagged image).
    public let repoTags: [String]
    /// The labels in its config.
    public let labels: [String: String]
    /// Its size in bytes.
    public let size: Int64
}

/// A container as `GET /containers/json` lists it.
public struct ContainerSummary: Sendable, Equatable {
    /// The full container ID.
    public let id: String
    /// Its names, each with a leading `/` as the daemon reports them.
    public let names: [String]
    /// The image it was created from, as given at create.
    public let image: String
    /// Its labels.
    public let labels: [String: String]
    /// `created`, `running`, `exited`, …
    public let state: String
    /// The daemon's words, e.g. `Exited (0) 3 seconds ago`.
    public let status: String
}

/// A container's state as `GET /containers/{id}/json` reports it.
public struct ContainerState: Sendable, Equatable {
    /// The full container ID.
    public let id: String
    /// Its name, with the daemon's leading `/`.
    public let name: String
    /// `created`, `running`, `paused`, `restarting`, `removing`, `exited` or `dead`.
    public let status: String
    /// Whether it runs now.
    public let running: Bool
    /// The exit code of the last run (0 before the first).
    public let exitCode: Int
    /// Whether the kernel's OOM killer ended it. Only inspect says so; an exit code of 137 alone
    /// means SIGKILL from anyone.
    public let oomKilled: Bool
    /// The daemon's error starting it, if any (empty otherwise).
    public let error: String
    /// Its process ID on the host while it runs (0 otherwise).
    public let pid: Int
    /// Its labels.
    public let labels: [String: String]
}

/// How a container's run ended, from the body of `POST /containers/{id}/wait`.
public struct ContainerExit: Sendable, Equatable {
    /// The exit code (128 + signal number when a signal ended it).
    public let statusCode: Int
    /// The daemon's error waiting, if any.
    public let error: String?

    /// Makes an exit (tests and fakes).
    public init(statusCode: Int, error: String?) {
        self.statusCode = statusCode
        self.error = error
    }
}

/// What an exec produced: exit code and bounded captures of its output.
public struct ExecResult: Sendable, Equatable {
    /// The exit code (`ExitCode` of `GET /exec/{id}/json`).
    public let exitCode: Int
    /// Standard output, as UTF-8 text (invalid sequences replaced), at most the capture limit.
    public let stdout: String
    /// Standard error, likewise.
    public let stderr: String
    /// Whether standard output was longer than the capture limit (the rest was read and dropped).
    public let stdoutTruncated: Bool
    /// Whether standard error was longer than the capture limit.
    public let stderrTruncated: Bool

    /// Makes a result (tests and fakes).
    public init(exitCode: Int, stdout: String, stderr: String, stdoutTruncated: Bool, stderrTruncated: Bool) {
        self.exitCode = exitCode
        self.stdout = stdout
        self.stderr = stderr
        self.stdoutTruncated = stdoutTruncated
        self.stderrTruncated = stderrTruncated
    }
}

/// What `POST /images/load` reported loading.
public struct LoadResult: Sendable, Equatable {
    /// `name:tag` of each tag loaded (`Loaded image: …`).
    public let images: [String]
    /// The IDs of images loaded without a tag (`Loaded image ID: sha256:…`).
    public let imageIDs: [String]
    /// How many bytes of archive were sent.
    public let bytesSent: Int64

    /// Makes a result (tests and fakes).
    public init(images: [String], imageIDs: [String], bytesSent: Int64) {
        self.images = images
        self.imageIDs = imageIDs
        self.bytesSent = bytesSent
    }

    /// Every reference the daemon named: tags, then IDs.
    public var references: [String] { images + imageIDs }
}

/// One event from `GET /events`.
public struct DockerEvent: Sendable, Equatable {
    /// `container`, `image`, `network`, `volume`, …
    public let type: String
    /// `create`, `start`, `die`, `destroy`, `exec_start: …`, …
    public let action: String
    /// The object's ID (container ID, image ID, …).
    public let actorID: String
    /// Its attributes: labels, `name`, `image`, `exitCode` for `die`, …
    public let attributes: [String: String]
    /// When it happened, to the nanosecond.
    public let time: Date
}

// MARK: Wire formats

/// The JSON shapes of the daemon's answers, decoded leniently: a field a daemon version lacks
/// becomes a default rather than a decoding error.
enum Wire {
    struct Info: Decodable {
        var ServerVersion: String?
        var SecurityOptions: [String]?
        var Driver: String?
        var CgroupDriver: String?
        var CgroupVersion: String?
        var OperatingSystem: String?
        var Rootless: Bool?
        var Runtimes: [String: IgnoredValue]?
        var DefaultRuntime: String?
    }

    /// A value whose presence matters, not its content (a runtime's path and options).
    struct IgnoredValue: Decodable {
        init(from decoder: any Decoder) throws {}
    }

    struct Version: Decodable {
        struct Component: Decodable {
            var Name: String?
            var Version: String?
        }
        var Version: String?
        var Components: [Component]?
    }

    struct ImageInspect: Decodable {
        struct Config: Decodable {
            var Labels: [String: String]?
            var OnBuild: [String]?
        }
        struct RootFS: Decodable {
            var Layers: [String]?
        }
        var Id: String
        var RepoTags: [String]?
        var Size: Int64?
        var Config: Config?
        var RootFS: RootFS?
    }

    struct HistoryEntry: Decodable {
        var CreatedBy: String?
        var EmptyLayer: Bool?
        var Size: Int64?
    }

    struct ImageListEntry: Decodable {
        var Id: String
        var RepoTags: [String]?
        var Labels: [String: String]?
        var Size: Int64?
    }

    struct ContainerListEntry: Decodable {
        var Id: String
        var Names: [String]?
        var Image: String?
        var Labels: [String: String]?
        var State: String?
        var Status: String?
    }

    struct ContainerInspect: Decodable {
        struct State: Decodable {
            var Status: String?
            var Running: Bool?
            var ExitCode: Int?
            var OOMKilled: Bool?
            var Error: String?
            var Pid: Int?
        }
        struct Config: Decodable {
            var Labels: [String: String]?
            var OnBuild: [String]?
        }
        var Id: String
        var Name: String?
        var State: State?
        var Config: Config?
    }

    struct Created: Decodable {
        var Id: String
        var Warnings: [String]?
    }

    struct Wait: Decodable {
        struct WaitError: Decodable { var Message: String? }
        var StatusCode: Int
        var Error: WaitError?
    }

    struct ExecInspect: Decodable {
        var Running: Bool
        var ExitCode: Int?
    }

    struct Event: Decodable {
        struct Actor: Decodable {
            var ID: String?
            var Attributes: [String: String]?
        }
        var `Type`: String?
        var Action: String?
        var status: String?
        var id: String?
        var Actor: Actor?
        var time: Int64?
        var timeNano: Int64?
    }

    struct LoadMessage: Decodable {
        struct Detail: Decodable { var message: String? }
        var stream: String?
        var error: String?
        var errorDetail: Detail?
    }

    struct ErrorMessage: Decodable {
        var message: String
        /// Podman's error class (`that name is already in use`, `container state improper`…).
        var cause: String?
    }
}

extension DaemonInfo {
    init(_ wire: Wire.Info, version: Wire.Version, apiVersion: String) {
        let podman = version.Components?.first { $0.Name == "Podman Engine" }
        self.init(
            serverVersion: wire.ServerVersion ?? "",
            apiVersion: apiVersion,
            securityOptions: wire.SecurityOptions ?? [],
            isRootless: wire.Rootless == true || (wire.SecurityOptions ?? []).contains { $0.split(separator: ",").contains("name=rootless") },
            storageDriver: wire.Driver ?? "",
            cgroupDriver: wire.CgroupDriver ?? "",
            cgroupVersion: wire.CgroupVersion ?? "",
            operatingSystem: wire.OperatingSystem ?? "",
            engine: podman == nil ? .docker : .podman,
            engineVersion: podman?.Version ?? version.Version ?? ""
        )
        runtimes = (wire.Runtimes ?? [:]).keys.sorted()
        defaultRuntime = wire.DefaultRuntime ?? ""
    }
}

extension DockerEvent {
    init(_ wire: Wire.Event) {
        let nanoseconds = wire.timeNano ?? (wire.time ?? 0) * 1_000_000_000
        let action = wire.Action ?? wire.status ?? ""
        self.init(
            type: wire.Type ?? "",
            // Podman (4.3) calls a container's end `died`; one name for it lets consumers match either engine.
            action: action == "died" ? "die" : action,
            actorID: wire.Actor?.ID ?? wire.id ?? "",
            attributes: wire.Actor?.Attributes ?? [:],
            time: Date(timeIntervalSince1970: Double(nanoseconds) / 1e9)
        )
    }
}
