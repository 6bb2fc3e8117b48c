import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the Docker daemon is, and why that one.
public struct DockerHost: Sendable, CustomStringConvertible, Equatable {
    /// Which setting chose the socket.
    public enum Origin: String, Sendable {
        /// `--docker-host` on the command line.
        case flag
        /// The `DOCKER_HOST` environment variable.
        case environment
        /// A docker CLI context (`DOCKER_CONTEXT` or `currentContext` in the CLI's config.json).
        case context
        /// The rootless daemon's socket in the user's runtime directory.
        case rootlessDefault
        /// The system daemon's socket, `/var/run/docker.sock`.
        case systemDefault
        /// Rootless Podman's API socket in the user's runtime directory, tried when no Docker
        /// socket answers.
        case podmanDefault
    }

    /// The absolute path of the daemon's unix socket.
    public let socketPath: String
    /// Which setting chose it.
    public let origin: Origin
    /// The setting in words, e.g. `DOCKER_HOST`, `context 'x' in ~/.docker/config.json`,
    /// `$XDG_RUNTIME_DIR/docker.sock`.
    public let reason: String

    /// Makes a host from a socket path; most callers use ``discover(explicit:environment:homeDirectory:)``.
    public init(socketPath: String, origin: Origin, reason: String) {
        self.socketPath = socketPath
        self.origin = origin
        self.reason = reason
    }

    /// `unix:///path (from REASON)`.
    public var description: String { "unix://\(socketPath) (from \(reason))" }

    /// Finds the daemon the way the docker CLI does, restricted to unix sockets.
    ///
    /// Order: `explicit` (`--docker-host`) → `DOCKER_HOST` → `DOCKER_CONTEXT`, or `currentContext`
    /// in `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`), read from
    /// `contexts/meta/<sha256(name)>/meta.json` (`Endpoints.docker.Host`) → `$XDG_RUNTIME_DIR/docker.sock`
    /// → `/run/user/$UID/docker.sock` → `/var/run/docker.sock` → rootless Podman's
    /// `$XDG_RUNTIME_DIR/podman/podman.sock` → `/run/user/$UID/podman/podman.sock`. The first three
    /// are taken as given (the user chose them; a dead socket is reported when the client
    /// connects). Of the defaults, the first socket that accepts a connection wins (so a Docker
    /// socket left behind by a stopped daemon does not hide a running Podman); when none does, the
    /// first socket that exists (its client then says nothing answers there). Makes no request:
    /// at most a `connect(2)` per default socket.
    ///
    /// - Throws: ``DockerError`` `.invalidHost` for a non-`unix://` host (tcp://, ssh://) or a context
    ///   that cannot be read; `.unreachable` listing every path tried when no default socket exists.
    public static func discover(
        explicit: String?,
        environment: [String: String],
        homeDirectory: String?
    ) throws -> DockerHost {
        try discover(
            explicit: explicit,
            environment: environment,
            homeDirectory: homeDirectory,
            userID: getuid(),
            systemSocketPath: "/var/run/docker.sock"
        )
    }

    /// ``discover(explicit:environment:homeDirectory:)`` with the user ID and the system socket
    /// path injectable, so tests need not depend on the machine's real `/run/user` and `/var/run`.
    static func discover(
        explicit: String?,
        environment: [String: String],
        homeDirectory: String?,
        userID: uid_t,
        systemSocketPath: String
    ) throws -> DockerHost {
        if let explicit, !explicit.isEmpty {
            return DockerHost(socketPath: try socketPath(ofHost: explicit, setting: "the run's Docker host"), origin: .flag,
                              reason: "the run's Docker host")
        }
        if let fromEnvironment = environment["DOCKER_HOST"], !fromEnvironment.isEmpty {
            return DockerHost(socketPath: try socketPath(ofHost: fromEnvironment, setting: "DOCKER_HOST"), origin: .environment, reason: "DOCKER_HOST")
        }
        if let host = try hostFromContext(environment: environment, homeDirectory: homeDirectory) {
            return host
        }

        var candidates: [(path: String, origin: Origin, reason: String)] = []
        if let runtimeDirectory = environment["XDG_RUNTIME_DIR"], runtimeDirectory.hasPrefix("/") {
            candidates.append((runtimeDirectory + "/docker.sock", .rootlessDefault, "$XDG_RUNTIME_DIR/docker.sock"))
        }
        candidates.append(("/run/user/\(userID)/docker.sock", .rootlessDefault, "/run/user/$UID/docker.sock"))
        candidates.append((systemSocketPath, .systemDefault, "the system default socket"))
        if let runtimeDirectory = environment["XDG_RUNTIME_DIR"], runtimeDirectory.hasPrefix("/") {
            candidates.append((runtimeDirectory + "/podman/podman.sock", .podmanDefault, "$XDG_RUNTIME_DIR/podman/podman.sock"))
        }
        candidates.append(("/run/user/\(userID)/podman/podman.sock", .podmanDefault, "/run/user/$UID/podman/podman.sock"))
        let sockets = candidates.filter { isSocket($0.path) }
        if let candidate = sockets.first(where: { connectionFailure(toUnixSocketAt: $0.path) == nil }) ?? sockets.first {
            return DockerHost(socketPath: candidate.path, origin: candidate.origin, reason: candidate.reason)
        }
        let tried = candidates.map(\.path).joined(separator: ", ")
        throw DockerError(
            .unreachable,
            "no Docker or Podman socket found (DOCKER_HOST is not set, no docker context is selected, and none of \(tried) is a socket); "
                + "start the rootless daemon (scripts/setup.sh does) or name its socket (unix:///path/to/docker.sock) as the run's Docker host"
        )
    }

    /// The socket path in a `unix://` host string (a bare absolute path is accepted too).
    static func socketPath(ofHost host: String, setting: String) throws -> String {
        let path: Substring
        if host.hasPrefix("unix://") {
            path = host.dropFirst("unix://".count)
        } else if host.hasPrefix("/") {
            path = Substring(host)
        } else {
            let scheme = host.split(separator: ":", maxSplits: 1).first.map(String.init) ?? host
            throw DockerError(
                .invalidHost,
                "\(setting) is '\(host)', but Sutradhar talks to the daemon over a unix socket only (\(scheme) is not supported); "
                    + "set it to unix:///path/to/docker.sock, e.g. unix://$XDG_RUNTIME_DIR/docker.sock for a rootless daemon"
            )
        }
        guard path.hasPrefix("/") else {
            throw DockerError(.invalidHost, "\(setting) is '\(host)': the socket path must be absolute, as in unix:///run/user/1000/docker.sock")
        }
        return String(path)
    }

    /// The host named by the selected docker CLI context, or nil when none (or `default`) is selected.
    private static func hostFromContext(environment: [String: String], homeDirectory: String?) throws -> DockerHost? {
        let configDirectory: String
        let configDirectoryInWords: String
        if let fromEnvironment = environment["DOCKER_CONFIG"], !fromEnvironment.isEmpty {
            configDirectory = fromEnvironment
            configDirectoryInWords = "$DOCKER_CONFIG"
        } else if let homeDirectory, !homeDirectory.isEmpty {
            configDirectory = homeDirectory + "/.docker"
            configDirectoryInWords = "~/.docker"
        } else {
            return nil
        }

        let name: String
        let chosenBy: String
        if let fromEnvironment = environment["DOCKER_CONTEXT"], !fromEnvironment.isEmpty {
            name = fromEnvironment
            chosenBy = "DOCKER_CONTEXT"
        } else {
            let configPath = configDirectory + "/config.json"
            guard let data = FileManager.default.contents(atPath: configPath) else { return nil }
            struct CLIConfig: Decodable { var currentContext: String? }
            do {
                guard let current = try JSONDecoder().decode(CLIConfig.self, from: data).currentContext, !current.isEmpty else {
                    return nil
                }
                name = current
            } catch {
                throw DockerError(
                    .invalidHost,
                    "cannot read the docker CLI configuration \(configPath) to find the current context; fix or remove it, or set DOCKER_HOST",
                    underlying: error
                )
            }
            chosenBy = "\(configDirectoryInWords)/config.json"
        }
        if name == "default" { return nil }

        let digest = SHA256.hash(data: Data(name.utf8)).map { String(format: "%02x", $0) }.joined()
        let metaPath = "\(configDirectory)/contexts/meta/\(digest)/meta.json"
        guard let data = FileManager.default.contents(atPath: metaPath) else {
            throw DockerError(
                .invalidHost,
                "docker context '\(name)' (chosen by \(chosenBy)) does not exist: \(metaPath) is missing; "
                    + "create it with `docker context create`, choose another, or set DOCKER_HOST"
            )
        }
        struct Meta: Decodable {
            struct Endpoint: Decodable { var Host: String? }
            var Endpoints: [String: Endpoint]?
        }
        let meta: Meta
        do {
            meta = try JSONDecoder().decode(Meta.self, from: data)
        } catch {
            throw DockerError(.invalidHost, "cannot read docker context '\(name)' at \(metaPath); fix it or set DOCKER_HOST", underlying: error)
        }
        guard let host = meta.Endpoints?["docker"]?.Host, !host.isEmpty else {
            throw DockerError(.invalidHost, "docker context '\(name)' at \(metaPath) has no Endpoints.docker.Host; fix it or set DOCKER_HOST")
        }
        let setting = "context '\(name)' in \(chosenBy)"
        return DockerHost(socketPath: try socketPath(ofHost: host, setting: setting), origin: .context, reason: setting)
    }

    /// Whether a unix socket (not a plain file or a folder) is at `path`.
    private static func isSocket(_ path: String) -> Bool {
        var status = stat()
        guard stat(path, &status) == 0 else { return false }
        return (status.st_mode & S_IFMT) == S_IFSOCK
    }
}
