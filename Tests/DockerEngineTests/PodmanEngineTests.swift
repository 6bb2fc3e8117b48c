import Foundation
import NIOCore
import SutradharTesting
import Synchronization
import Testing

@testable import DockerEngine

#if canImport(Glibc)
import Glibc
#endif

/// Rootless Podman's differences from Docker, from bodies recorded on this machine (Podman 4.3.1
/// and rootless Docker 20.10.24, both on cgroup v1) and a fake engine on a unix socket.
@Suite struct PodmanEngineTests {
    // Recorded with `curl --unix-socket … http://d/v1.41/{info,version}` (fields Sutradhar reads, trimmed).
    static let podmanInfo = #"{"ServerVersion":"4.3.1","Rootless":true,"CgroupDriver":"cgroupfs","CgroupVersion":"1","Driver":"vfs","SecurityOptions":["name=seccomp,profile=default"],"OperatingSystem":"debian"}"#
    static let podmanVersion = #"{"Version":"4.3.1","ApiVersion":"1.41","Components":[{"Name":"Podman Engine","Version":"4.3.1"},{"Name":"Conmon","Version":"conmon version 2.1.6, commit: unknown"},{"Name":"OCI Runtime (runc)","Version":"runc version 1.1.5+ds1"}]}"#
    static let dockerInfo = #"{"ServerVersion":"20.10.24+dfsg1","SecurityOptions":["name=seccomp,profile=default","name=rootless"],"CgroupDriver":"none","CgroupVersion":"1","Driver":"overlay2","OperatingSystem":"Debian GNU/Linux 12 (bookworm)"}"#
    static let dockerVersion = #"{"Version":"20.10.24+dfsg1","ApiVersion":"1.41","Components":[{"Name":"Engine","Version":"20.10.24+dfsg1"},{"Name":"containerd","Version":"1.6.20~ds1"},{"Name":"runc","Version":"1.1.5+ds1"},{"Name":"docker-init","Version":"0.19.0"}]}"#

    @Test func podmanIsIdentifiedFromItsVersionAndInfo() throws {
        let info = try DaemonInfo.identify(info: Data(Self.podmanInfo.utf8), version: Data(Self.podmanVersion.utf8), apiVersion: "1.41")
        #expect(info.engine == .podman)
        #expect(info.engineVersion == "4.3.1")
        #expect(info.engineDescription == "Podman 4.3.1")
        #expect(info.isRootless, "Podman says Rootless: true at top level, with no name=rootless option")
        #expect(!info.enforcesUlimits, "rootless Podman 4.3 drops Ulimits")
        #expect(!info.enforcesResourceLimits, "rootless Podman on cgroup v1 ignores memory, pids and cpu limits")
    }

    @Test func dockerIsIdentifiedFromItsVersionAndInfo() throws {
        let info = try DaemonInfo.identify(info: Data(Self.dockerInfo.utf8), version: Data(Self.dockerVersion.utf8), apiVersion: "1.41")
        #expect(info.engine == .docker)
        #expect(info.engineDescription == "Docker 20.10.24+dfsg1")
        #expect(info.isRootless)
        #expect(info.enforcesUlimits)
        #expect(!info.enforcesResourceLimits, "cgroup driver none")
    }

    @Test func aRootfulPodmanIsNotTakenForRootless() throws {
        let rootful = Self.podmanInfo.replacingOccurrences(of: #""Rootless":true"#, with: #""Rootless":false"#)
        let info = try DaemonInfo.identify(info: Data(rootful.utf8), version: Data(Self.podmanVersion.utf8), apiVersion: "1.41")
        #expect(info.engine == .podman)
        #expect(!info.isRootless)
        #expect(info.enforcesUlimits, "a rootful Podman applies Ulimits")
    }

    @Test func podmansLocalhostTagsMatchTheUnqualifiedName() {
        let image = ImageDetails(id: "sha256:1", repoTags: ["localhost/app:ci"], size: 1, labels: [:])
        #expect(image.isTagged("app:ci"))
        #expect(image.isTagged("localhost/app:ci"))
        #expect(!image.isTagged("app:other"))
        #expect(!image.isTagged("other/app:ci"))
        #expect(ImageDetails(id: "sha256:1", repoTags: ["app:ci"], size: 1, labels: [:]).isTagged("localhost/app:ci"))
    }

    @Test func podmansDiedEventIsReadAsDie() throws {
        let wire = try JSONDecoder().decode(Wire.Event.self, from: Data(#"{"Type":"container","Action":"died","Actor":{"ID":"abc","Attributes":{"exitCode":"3"}},"timeNano":1}"#.utf8))
        #expect(DockerEvent(wire).action == "die")
    }

    @Test func podmansOneObjectLoadAnswerNamesTheImage() throws {
        var parser = ImageLoadResponseParser()
        try parser.feed(ByteBuffer(string: #"{"stream":"Loaded image: localhost/tiny:1"}"#))
        let result = try parser.finish(bytesSent: 10)
        #expect(result.images == ["localhost/tiny:1"])
    }

    @Test func buildahsHistoryFailureSaysWhatToChange() throws {
        var parser = BuildResponseParser(output: { _ in })
        let line = #"{"errorDetail":{"message":"committing container for step {RUN true}: copying layers: internal error: history lists 2 non-empty layers, but we have 3 layers on disk"},"error":"x"}"# + "\n"
        let error = #expect(throws: DockerError.self) { try parser.feed(ByteBuffer(string: line)) }
        #expect(error?.code == .buildFailed)
        #expect(error?.message.contains("`history` entry per layer") == true, "\(String(describing: error))")
    }

    @Test func aGzippedArchiveIsSentInflatedToPodmanAndItsAnswerIsRead() async throws {
        try await withArchive(gzip: true) { archive, folder in
            let engine = try FakeEngine(at: folder + "/podman.sock", podman: true,
                                        loadAnswer: (200, #"{"stream":"Loaded image: localhost/\#(archive.tag)"}"#))
            defer { engine.stop() }
            let result = try await DockerClient.withClient(host: engine.host) { client in
                #expect(client.engine == .podman)
                return try await client.loadImage(fileAt: archive.path, progress: nil)
            }
            #expect(result.images == ["localhost/\(archive.tag)"])
            let plain = try Data(contentsOf: URL(fileURLWithPath: folder + "/plain.tar"))
            #expect(engine.loadBodies.first == plain, "Podman must receive the gunzipped tar, byte for byte")
            #expect(result.bytesSent == Int64(plain.count))
        }
    }

    @Test func aGzippedArchiveIsSentAsItIsToDocker() async throws {
        try await withArchive(gzip: true) { archive, folder in
            let engine = try FakeEngine(at: folder + "/docker.sock", podman: false,
                                        loadAnswer: (200, #"{"stream":"Loaded image: \#(archive.tag)\n"}"#))
            defer { engine.stop() }
            _ = try await DockerClient.withClient(host: engine.host) { client in
                try await client.loadImage(fileAt: archive.path, progress: nil)
            }
            #expect(engine.loadBodies.first == (try Data(contentsOf: URL(fileURLWithPath: archive.path))))
        }
    }

    @Test func podmansHTTP500LoadErrorFailsTheLoadWithItsWords() async throws {
        try await withArchive(gzip: false) { archive, folder in
            let engine = try FakeEngine(at: folder + "/podman.sock", podman: true,
                                        loadAnswer: (500, #"{"cause":"invalid tar header","message":"payload does not match any of the supported image formats:\n * oci: invalid tar header","response":500}"#))
            defer { engine.stop() }
            let error = await #expect(throws: DockerError.self) {
                try await DockerClient.withClient(host: engine.host) { client in
                    try await client.loadImage(fileAt: archive.path, progress: nil)
                }
            }
            #expect(error?.code == .loadFailed)
            #expect(error?.status == 500)
            #expect(error?.daemonMessage?.contains("invalid tar header") == true, "\(String(describing: error))")
        }
    }

    /// A tiny archive (gzipped or not) in a fresh short folder (socket paths must fit), with its
    /// plain tar kept as `plain.tar` beside it.
    private func withArchive(gzip: Bool, _ body: ((path: String, tag: String), String) async throws -> Void) async throws {
        let folder = "/tmp/sdp-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let tag = "tiny-\(UUID().uuidString.prefix(6).lowercased()):1"
        try DockerTestSupport.makeTinyImageArchive(at: folder + "/plain.tar", tag: tag)
        if gzip {
            try DockerTestSupport.run("/bin/sh", ["-c", "gzip -n -c '\(folder)/plain.tar' >'\(folder)/image.tar.gz'"])
            try await body((folder + "/image.tar.gz", tag), folder)
        } else {
            try await body((folder + "/plain.tar", tag), folder)
        }
    }
}

@Suite struct PodmanDiscoveryTests {
    @Test func aDockerSocketThatAnswersComesBeforePodmans() throws {
        let machine = try FakeMachine()
        let docker = machine.root + "/xdg/docker.sock"
        let podman = machine.root + "/xdg/podman/podman.sock"
        try FileManager.default.createDirectory(atPath: machine.root + "/xdg/podman", withIntermediateDirectories: true)
        let closeDocker = try DockerTestSupport.listenOnUnixSocket(at: docker)
        defer { closeDocker() }
        let closePodman = try DockerTestSupport.listenOnUnixSocket(at: podman)
        defer { closePodman() }
        let host = try machine.discover(["XDG_RUNTIME_DIR": machine.root + "/xdg"])
        #expect(host.socketPath == docker)
        #expect(host.origin == .rootlessDefault)
    }

    @Test func podmansSocketIsTriedWhenNoDockerSocketAnswers() throws {
        let machine = try FakeMachine()
        _ = try machine.makeSocket("xdg/docker.sock")  // left behind by a stopped daemon
        let podman = machine.root + "/xdg/podman/podman.sock"
        try FileManager.default.createDirectory(atPath: machine.root + "/xdg/podman", withIntermediateDirectories: true)
        let closePodman = try DockerTestSupport.listenOnUnixSocket(at: podman)
        defer { closePodman() }
        let host = try machine.discover(["XDG_RUNTIME_DIR": machine.root + "/xdg"])
        #expect(host == DockerHost(socketPath: podman, origin: .podmanDefault, reason: "$XDG_RUNTIME_DIR/podman/podman.sock"))
    }

    @Test func podmansSocketAloneIsFound() throws {
        let machine = try FakeMachine()
        let podman = try machine.makeSocket("xdg/podman/podman.sock")
        let host = try machine.discover(["XDG_RUNTIME_DIR": machine.root + "/xdg"])
        #expect(host.socketPath == podman)
        #expect(host.origin == .podmanDefault)
    }

    @Test func dockerHostStillWinsOverARunningPodman() throws {
        let machine = try FakeMachine()
        let podman = machine.root + "/xdg/podman/podman.sock"
        try FileManager.default.createDirectory(atPath: machine.root + "/xdg/podman", withIntermediateDirectories: true)
        let closePodman = try DockerTestSupport.listenOnUnixSocket(at: podman)
        defer { closePodman() }
        let host = try machine.discover(["DOCKER_HOST": "unix:///from/env.sock", "XDG_RUNTIME_DIR": machine.root + "/xdg"])
        #expect(host.socketPath == "/from/env.sock")
    }

    @Test func noSocketAtAllNamesPodmansPlaceToo() throws {
        let machine = try FakeMachine()
        let error = #expect(throws: DockerError.self) { try machine.discover(["XDG_RUNTIME_DIR": machine.root + "/xdg"]) }
        #expect(error?.code == .unreachable)
        #expect(error?.message.contains("podman/podman.sock") == true)
    }
}

/// A fake engine on a unix socket: answers `/_ping` as Podman or Docker does (Podman adds
/// `Libpod-Api-Version`), records each `POST …/images/load` body (de-chunked), and answers it
/// with the given status and body. One request per connection (`Connection: close`), each
/// connection on a thread of its own.
final class FakeEngine: Sendable {
    let host: DockerHost
    private let listener: Int32
    private let bodies = Mutex<[Data]>([])
    private let podman: Bool
    private let loadAnswer: (status: Int, body: String)

    var loadBodies: [Data] { bodies.withLock { $0 } }

    init(at path: String, podman: Bool, loadAnswer: (Int, String)) throws {
        host = DockerHost(socketPath: path, origin: .flag, reason: "test")
        self.podman = podman
        self.loadAnswer = loadAnswer
        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: Array(path.utf8))
            raw[path.utf8.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(listener >= 0 && bound == 0 && listen(listener, 16) == 0, "cannot listen on \(path)")
        Thread { [self] in serve() }.start()
    }

    func stop() { shutdown(listener, Int32(SHUT_RDWR)) }

    private func serve() {
        defer { close(listener) }
        while true {
            let connection = accept(listener, nil, nil)
            if connection < 0 { if errno == EINTR { continue } else { return } }
            // A thread per connection: one the client opened and never wrote to (a pooled or
            // abandoned connection) must not keep the next request waiting in the backlog.
            Thread { [self] in
                handle(connection)
                close(connection)
            }.start()
        }
    }

    private func handle(_ connection: Int32) {
        var reader = Reader(fd: connection)
        guard let head = reader.line() else { return }
        var headers: [String: String] = [:]
        while let line = reader.line(), !line.isEmpty {
            if let colon = line.firstIndex(of: ":") {
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        var body = Data()
        if let length = headers["content-length"].flatMap(Int.init) {
            body = reader.bytes(length)
        } else if headers["transfer-encoding"]?.lowercased() == "chunked" {
            while let sizeLine = reader.line(), let size = Int(sizeLine.split(separator: ";")[0], radix: 16) {
                if size == 0 { _ = reader.line(); break }
                body.append(reader.bytes(size))
                _ = reader.line()
            }
        }
        let status: Int
        let answer: String
        var extra = ""
        if head.contains("/_ping") {
            (status, answer) = (200, "OK")
            extra = "API-Version: 1.41\r\n" + (podman ? "Libpod-Api-Version: 4.3.1\r\nServer: Libpod/4.3.1 (linux)\r\n" : "")
        } else if head.contains("/images/load") {
            bodies.withLock { $0.append(body) }
            (status, answer) = loadAnswer
        } else {
            (status, answer) = (404, #"{"message":"not faked"}"#)
        }
        let response = "HTTP/1.1 \(status) X\r\nContent-Type: application/json\r\n\(extra)Content-Length: \(answer.utf8.count)\r\nConnection: close\r\n\r\n\(answer)"
        _ = Array(response.utf8).withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
    }

    /// Buffered reads of a request.
    private struct Reader {
        let fd: Int32
        var buffer = Data()

        mutating func fill() -> Bool {
            var chunk = [UInt8](repeating: 0, count: 65536)
            let got = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard got > 0 else { return false }
            buffer.append(contentsOf: chunk[0..<got])
            return true
        }

        mutating func line() -> String? {
            while true {
                if let range = buffer.range(of: Data("\r\n".utf8)) {
                    let line = String(decoding: buffer[buffer.startIndex..<range.lowerBound], as: UTF8.self)
                    buffer = Data(buffer[range.upperBound...])
                    return line
                }
                guard fill() else { return nil }
            }
        }

        mutating func bytes(_ count: Int) -> Data {
            while buffer.count < count, fill() {}
            let taken = Data(buffer.prefix(count))
            buffer = Data(buffer.dropFirst(count))
            return taken
        }
    }
}
