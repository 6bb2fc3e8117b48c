import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Finds the Docker daemon that integration tests use, and makes tiny image archives for them.
///
/// The daemon is `DOCKER_HOST` (a `unix://` one) if set, else the rootless daemon of the user
/// `sutradhar` at `/run/user/<its uid>/docker.sock`, which `scripts/setup.sh` starts. With
/// `SUTRADHAR_TEST_ENGINE=podman` it is rootless Podman instead: `SUTRADHAR_PODMAN_HOST` if set,
/// else `/run/user/<uid of sutradhar>/podman/podman.sock` (scripts/test.sh runs the engine
/// suites a second time so). It counts as
/// available if it answers `GET /_ping`. Tests marked ``Testing/Trait/requiresDocker`` are skipped
/// without it — except in CI (``TestEnvironment/isCI``), where they run and fail at ``requireDaemon()`` with the reason.
public enum DockerTestSupport {
    /// The engine the tests are asked to use: `podman` when `SUTRADHAR_TEST_ENGINE=podman`, else `docker`.
    public static let engine: String = ProcessInfo.processInfo.environment["SUTRADHAR_TEST_ENGINE"] == "podman" ? "podman" : "docker"

    /// Whether the tests run against rootless Podman (see ``engine``).
    public static var isPodman: Bool { engine == "podman" }

    /// The socket the tests use (whether or not something answers there), or nil when
    /// `DOCKER_HOST` names something other than a unix socket.
    public static let socketPath: String? = findSocketPath()

    /// Why the daemon is unavailable, or nil when it answers `GET /_ping`.
    public static let unavailableReason: String? = checkDaemon()

    /// The socket path of a daemon that answers.
    ///
    /// - Throws: ``DockerTestSupportError`` saying what was tried and how to start the daemon.
    public static func requireDaemon() throws -> String {
        if let unavailableReason {
            throw DockerTestSupportError(message: unavailableReason + (TestEnvironment.isCI ? " (CI=true: a missing daemon is a failure, not a skip)" : ""))
        }
        return socketPath!
    }

    /// `unix://` + the socket path, for `DOCKER_HOST` or `--docker-host`.
    ///
    /// - Throws: as ``requireDaemon()``.
    public static func requireDockerHost() throws -> String {
        "unix://" + (try requireDaemon())
    }

    private static func findSocketPath() -> String? {
        let variable = isPodman ? "SUTRADHAR_PODMAN_HOST" : "DOCKER_HOST"
        if let host = ProcessInfo.processInfo.environment[variable], !host.isEmpty {
            if host.hasPrefix("unix://") { return String(host.dropFirst("unix://".count)) }
            return host.hasPrefix("/") ? host : nil
        }
        guard let user = getpwnam("sutradhar") else { return nil }
        return "/run/user/\(user.pointee.pw_uid)/" + (isPodman ? "podman/podman.sock" : "docker.sock")
    }

    private static func checkDaemon() -> String? {
        let variable = isPodman ? "SUTRADHAR_PODMAN_HOST" : "DOCKER_HOST"
        let engineName = isPodman ? "rootless Podman service" : "Docker daemon"
        guard let socketPath else {
            if let host = ProcessInfo.processInfo.environment[variable], !host.isEmpty {
                return "\(variable)=\(host) is not a unix:// socket; the engine integration tests need one"
            }
            return "no \(engineName) for tests: \(variable) is unset and there is no user 'sutradhar'; run scripts/setup.sh as root"
        }
        switch ping(socketPath) {
        case .success:
            return nil
        case .failure(let error):
            return "no \(engineName) answers at unix://\(socketPath) (\(error.message)); run scripts/setup.sh as root, or set \(variable)"
        }
    }

    /// `GET /_ping` over a plain socket, with a 3-second bound, so finding the daemon needs no
    /// HTTP client (this target depends on no module under test).
    private static func ping(_ path: String) -> Result<Void, DockerTestSupportError> {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return .failure(DockerTestSupportError(message: "socket(): \(String(cString: strerror(errno)))")) }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard withUnixAddress(path, { connect(fd, $0, $1) }) == 0 else {
            return .failure(DockerTestSupportError(message: "connect: \(String(cString: strerror(errno)))"))
        }
        let request = Array("GET /_ping HTTP/1.0\r\nHost: localhost\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == request.count else {
            return .failure(DockerTestSupportError(message: "write: \(String(cString: strerror(errno)))"))
        }
        var answer = [UInt8](repeating: 0, count: 512)
        let got = answer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard got > 0 else { return .failure(DockerTestSupportError(message: "no answer to GET /_ping")) }
        let statusLine = String(decoding: answer[0..<got], as: UTF8.self).prefix { $0 != "\r" }
        guard statusLine.hasSuffix(" 200 OK") || statusLine.contains(" 200 ") else {
            return .failure(DockerTestSupportError(message: "GET /_ping answered '\(statusLine)'"))
        }
        return .success(())
    }
}

extension DockerTestSupport {
    /// Binds a unix socket at `path` and closes it, leaving the socket file: a socket nobody
    /// listens on, for tests of socket discovery and of a dead daemon.
    ///
    /// - Throws: ``DockerTestSupportError`` if the socket cannot be made there.
    public static func makeUnixSocketFile(at path: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw DockerTestSupportError(message: "socket(): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard withUnixAddress(path, { bind(fd, $0, $1) }) == 0 else {
            throw DockerTestSupportError(message: "bind \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Binds a unix socket at `path` and listens on it until the returned closer is called: a
    /// socket that accepts connections (the kernel queues them), for tests of socket discovery.
    ///
    /// - Throws: ``DockerTestSupportError`` if the socket cannot be made there.
    public static func listenOnUnixSocket(at path: String) throws -> @Sendable () -> Void {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw DockerTestSupportError(message: "socket(): \(String(cString: strerror(errno)))") }
        guard withUnixAddress(path, { bind(fd, $0, $1) }) == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw DockerTestSupportError(message: "bind/listen \(path): \(String(cString: strerror(errno)))")
        }
        return { close(fd) }
    }

    /// Calls `body` with a `sockaddr_un` for `path` (connect or bind); -1 with ENAMETOOLONG if
    /// the path does not fit.
    private static func withUnixAddress(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            errno = ENAMETOOLONG
            return -1
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
            raw[pathBytes.count] = 0
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }
}

/// A failure of the test support itself: no daemon, or a tool that failed while making a fixture.
public struct DockerTestSupportError: Error, CustomStringConvertible {
    /// What failed and what to do.
    public let message: String
    /// The message.
    public var description: String { message }
}

extension Trait where Self == ConditionTrait {
    /// Runs the test only where a Docker daemon answers (see ``DockerTestSupport``); under
    /// `CI=true` the test always runs, so a missing daemon fails it instead of skipping it.
    public static var requiresDocker: Self {
        .enabled(
            if: DockerTestSupport.unavailableReason == nil || TestEnvironment.isCI,
            Comment(rawValue: DockerTestSupport.unavailableReason ?? "a Docker daemon answers")
        )
    }
}

extension Trait where Self == ConditionTrait {
    /// Runs the test only as root (it mounts a tmpfs, for example); under `CI=true` it always
    /// runs, so a missing privilege fails it instead of skipping it.
    public static var requiresRoot: Self {
        .enabled(if: getuid() == 0 || TestEnvironment.isCI, "the test mounts a tmpfs, which needs root")
    }
}

// MARK: - Tiny images

/// A docker-archive made by ``DockerTestSupport/makeTinyImageArchive(at:tag:command:labels:extraFiles:gzip:)``.
public struct TinyImageArchive: Sendable {
    /// Where the archive is.
    public let path: String
    /// Its one tag, `name:tag`.
    public let tag: String
    /// `sha256:` + the SHA-256 of its config (computed with `sha256sum`): its image ID on the
    /// classic image store.
    public let imageID: String
    /// `sha256:` + the SHA-256 of its layer tar.
    public let layerDigest: String
}

extension DockerTestSupport {
    /// Writes a docker-archive of a one-layer image holding a static busybox (`/bin/busybox` of
    /// Debian's busybox-static) with its applet links in `/bin`, a world-writable `/tmp`, and
    /// `extraFiles` (path inside the image → contents), as `Examples/hello-server/build-image.sh`
    /// does: fixed timestamps and owners, so the same inputs give the same image ID.
    ///
    /// - Parameters:
    ///   - path: where to write the archive.
    ///   - tag: its `RepoTags` entry, `name:tag`.
    ///   - command: the image's `Cmd`.
    ///   - labels: the image config's `Labels` (tests label images to find and remove them).
    ///   - gzip: gzip the archive, as nixpkgs `dockerTools.buildImage` does.
    /// - Throws: ``DockerTestSupportError`` if busybox is missing or tar/sha256sum/gzip fail.
    @discardableResult
    public static func makeTinyImageArchive(
        at path: String,
        tag: String,
        command: [String] = ["/bin/sh"],
        labels: [String: String] = [:],
        extraFiles: [String: String] = [:],
        gzip: Bool = false
    ) throws -> TinyImageArchive {
        let busybox = "/bin/busybox"
        guard FileManager.default.isExecutableFile(atPath: busybox) else {
            throw DockerTestSupportError(message: "\(busybox) is missing; install busybox-static (scripts/setup.sh does)")
        }
        let fileManager = FileManager.default
        let work = fileManager.temporaryDirectory.appendingPathComponent("sutradhar-tiny-image-\(UUID().uuidString)").path
        defer { try? fileManager.removeItem(atPath: work) }
        let root = work + "/root"
        let archive = work + "/archive"
        try fileManager.createDirectory(atPath: root + "/bin", withIntermediateDirectories: true)
        try fileManager.createDirectory(atPath: root + "/tmp", withIntermediateDirectories: true)
        try fileManager.createDirectory(atPath: archive + "/layer", withIntermediateDirectories: true)
        try fileManager.copyItem(atPath: busybox, toPath: root + "/bin/busybox")
        for applet in try run(busybox, ["--list"]).split(whereSeparator: \.isNewline) where applet != "busybox" {
            try fileManager.createSymbolicLink(atPath: root + "/bin/" + applet, withDestinationPath: "busybox")
        }
        for (relativePath, contents) in extraFiles {
            let target = root + "/" + relativePath.drop { $0 == "/" }
            try fileManager.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(contents.utf8).write(to: URL(fileURLWithPath: target))
        }
        try fileManager.setAttributes([.posixPermissions: 0o1777], ofItemAtPath: root + "/tmp")

        let fixed = ["--sort=name", "--mtime=@1", "--owner=0", "--group=0", "--numeric-owner"]
        try run("/usr/bin/tar", fixed + ["-C", root, "-cf", archive + "/layer/layer.tar", "."])
        let layerDigest = "sha256:" + (try sha256(ofFileAt: archive + "/layer/layer.tar"))

        let architecture: String
        #if arch(x86_64)
        architecture = "amd64"
        #elseif arch(arm64)
        architecture = "arm64"
        #else
        architecture = "unknown"
        #endif
        let config: [String: Any] = [
            "architecture": architecture,
            "os": "linux",
            "created": "1970-01-01T00:00:01Z",
            "config": ["Cmd": command, "Env": ["PATH=/bin"], "WorkingDir": "/", "Labels": labels],
            "rootfs": ["type": "layers", "diff_ids": [layerDigest]],
            // One history entry per layer, as image builders write: Podman's builder (buildah
            // 1.28) fails to commit a step on a base image whose history lists fewer layers.
            "history": [["created": "1970-01-01T00:00:01Z", "created_by": "sutradhar test fixture"]],
        ]
        let configData = try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys])
        try configData.write(to: URL(fileURLWithPath: work + "/config.json"))
        let configHash = try sha256(ofFileAt: work + "/config.json")
        try fileManager.moveItem(atPath: work + "/config.json", toPath: "\(archive)/\(configHash).json")
        let manifest: [[String: Any]] = [["Config": "\(configHash).json", "RepoTags": [tag], "Layers": ["layer/layer.tar"]]]
        try JSONSerialization.data(withJSONObject: manifest, options: [.sortedKeys])
            .write(to: URL(fileURLWithPath: archive + "/manifest.json"))

        let compression = gzip ? ["--use-compress-program=gzip -n"] : []
        try run("/usr/bin/tar", fixed + compression + ["-C", archive, "-cf", path, "."])
        return TinyImageArchive(path: path, tag: tag, imageID: "sha256:" + configHash, layerDigest: layerDigest)
    }

    /// The hex SHA-256 of a file, from coreutils' `sha256sum` (an implementation independent of
    /// the code under test).
    public static func sha256(ofFileAt path: String) throws -> String {
        let output = try run("/usr/bin/sha256sum", [path])
        guard let hash = output.split(separator: " ").first, hash.count == 64 else {
            throw DockerTestSupportError(message: "sha256sum \(path) printed '\(output)'")
        }
        return String(hash)
    }

    /// Runs a tool whose output is small (both streams into one file, read whole) and returns
    /// that output; `environment` entries are added to this process's environment. For fixtures
    /// and cross-checks (e.g. the docker CLI with `DOCKER_HOST`), never for the code under test.
    /// The output goes to a file, not a pipe, so a daemon the tool starts cannot hold it open.
    ///
    /// - Throws: ``DockerTestSupportError`` with the output if the tool exits non-zero, or if it
    ///   has not ended within `timeout` (it and its process group are then killed).
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                           timeout: Duration = .seconds(300)) throws -> String {
        let outputURL = FileManager.default.temporaryDirectory.appendingPathComponent("sutradhar-tool-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: outputURL) }
        let handle = try FileHandle(forWritingTo: outputURL)
        defer { try? handle.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let ended = process.waitForExit(until: .now + timeout)
        let output = String(decoding: (try? Data(contentsOf: outputURL)) ?? Data(), as: UTF8.self)
        let command = ([executable] + arguments).joined(separator: " ")
        guard ended else {
            kill(-process.processIdentifier, SIGKILL)  // Foundation makes the child a group leader
            throw DockerTestSupportError(message: "\(command) did not end within \(timeout) (or a daemon it started "
                                         + "kept the descriptor Foundation watches for its exit); killed it. Output: \(output)")
        }
        guard process.terminationStatus == 0 else {
            throw DockerTestSupportError(message: "\(command) exited \(process.terminationStatus): \(output)")
        }
        return output
    }
}
