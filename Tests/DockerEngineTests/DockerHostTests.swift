import Foundation
import SutradharTesting
import Testing

@testable import DockerEngine

/// A temporary folder with real unix sockets and files where discovery looks.
final class FakeMachine {
    let root: String
    /// A uid with no /run/user folder on any machine, so the real one never interferes.
    let userID: uid_t = 4_000_000_001

    init() throws {
        // Short: a socket path must fit in sockaddr_un's 108 bytes.
        root = "/tmp/sdh-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    /// Makes a unix socket file (nobody listening) at `relativePath`.
    func makeSocket(_ relativePath: String) throws -> String {
        let path = root + "/" + relativePath
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try DockerTestSupport.makeUnixSocketFile(at: path)
        return path
    }

    func write(_ relativePath: String, _ contents: String) throws {
        let path = root + "/" + relativePath
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(contents.utf8).write(to: URL(fileURLWithPath: path))
    }

    /// Writes a docker CLI context named `name` pointing at `host`, at the path the CLI uses.
    func writeContext(_ name: String, host: String) throws {
        try write("name.txt", name)
        let digest = try DockerTestSupport.sha256(ofFileAt: root + "/name.txt")
        try write("home/.docker/contexts/meta/\(digest)/meta.json", #"{"Name":"\#(name)","Metadata":{},"Endpoints":{"docker":{"Host":"\#(host)","SkipTLSVerify":false}}}"#)
    }

    func discover(explicit: String? = nil, _ environment: [String: String] = [:], home: Bool = true, systemSocket: String? = nil) throws -> DockerHost {
        try DockerHost.discover(
            explicit: explicit, environment: environment, homeDirectory: home ? root + "/home" : nil,
            userID: userID, systemSocketPath: systemSocket ?? root + "/var/run/docker.sock"
        )
    }
}

@Suite struct DockerHostDiscoveryTests {
    @Test func theFlagWinsOverEverything() throws {
        let machine = try FakeMachine()
        try machine.writeContext("ctx", host: "unix:///from/context.sock")
        try machine.write("home/.docker/config.json", #"{"currentContext":"ctx"}"#)
        let runtime = try machine.makeSocket("xdg/docker.sock")
        let host = try machine.discover(explicit: "unix:///from/flag.sock", ["DOCKER_HOST": "unix:///from/env.sock", "XDG_RUNTIME_DIR": (runtime as NSString).deletingLastPathComponent])
        #expect(host == DockerHost(socketPath: "/from/flag.sock", origin: .flag, reason: "the run's Docker host"))
    }

    @Test func dockerHostComesBeforeContexts() throws {
        let machine = try FakeMachine()
        try machine.writeContext("ctx", host: "unix:///from/context.sock")
        let host = try machine.discover(["DOCKER_HOST": "unix:///from/env.sock", "DOCKER_CONTEXT": "ctx"])
        #expect(host.socketPath == "/from/env.sock")
        #expect(host.origin == .environment)
        #expect(host.reason == "DOCKER_HOST")
    }

    @Test func aTCPHostIsRefusedWithAClearError() throws {
        let machine = try FakeMachine()
        let error = #expect(throws: DockerError.self) { try machine.discover(["DOCKER_HOST": "tcp://127.0.0.1:2375"]) }
        #expect(error?.code == .invalidHost)
        #expect(error?.message.contains("unix") == true)
        #expect(error?.message.contains("tcp") == true)
    }

    @Test func theCurrentContextOfTheCLIConfigIsUsed() throws {
        let machine = try FakeMachine()
        try machine.writeContext("rootless", host: "unix:///run/user/1001/docker.sock")
        try machine.write("home/.docker/config.json", #"{"auths":{},"currentContext":"rootless"}"#)
        let socket = try machine.makeSocket("var/run/docker.sock")
        let host = try machine.discover(systemSocket: socket)
        #expect(host.socketPath == "/run/user/1001/docker.sock")
        #expect(host.origin == .context)
        #expect(host.reason == "context 'rootless' in ~/.docker/config.json")
    }

    @Test func dockerContextOverridesTheCurrentContext() throws {
        let machine = try FakeMachine()
        try machine.writeContext("one", host: "unix:///one.sock")
        try machine.writeContext("two", host: "unix:///two.sock")
        try machine.write("home/.docker/config.json", #"{"currentContext":"one"}"#)
        let host = try machine.discover(["DOCKER_CONTEXT": "two"])
        #expect(host.socketPath == "/two.sock")
        #expect(host.reason == "context 'two' in DOCKER_CONTEXT")
    }

    @Test func aMissingContextIsAnErrorButTheDefaultContextFallsThrough() throws {
        let machine = try FakeMachine()
        let error = #expect(throws: DockerError.self) { try machine.discover(["DOCKER_CONTEXT": "nowhere"]) }
        #expect(error?.code == .invalidHost)
        #expect(error?.message.contains("nowhere") == true)

        let system = try machine.makeSocket("var/run/docker.sock")
        #expect(try machine.discover(["DOCKER_CONTEXT": "default"], systemSocket: system).origin == .systemDefault)
    }

    @Test func theRootlessSocketIsChosenOnlyIfASocketExists() throws {
        let machine = try FakeMachine()
        let system = try machine.makeSocket("var/run/docker.sock")
        // A plain file where the rootless socket would be is not a daemon.
        try machine.write("xdg/docker.sock", "not a socket")
        let environment = ["XDG_RUNTIME_DIR": machine.root + "/xdg"]
        #expect(try machine.discover(environment, systemSocket: system).origin == .systemDefault)

        try FileManager.default.removeItem(atPath: machine.root + "/xdg/docker.sock")
        let rootless = try machine.makeSocket("xdg/docker.sock")
        let host = try machine.discover(environment, systemSocket: system)
        #expect(host == DockerHost(socketPath: rootless, origin: .rootlessDefault, reason: "$XDG_RUNTIME_DIR/docker.sock"))
    }

    @Test func noSocketAnywhereListsWhatWasTried() throws {
        let machine = try FakeMachine()
        let error = #expect(throws: DockerError.self) { try machine.discover(["XDG_RUNTIME_DIR": machine.root + "/xdg"], home: false) }
        #expect(error?.code == .unreachable)
        #expect(error?.message.contains(machine.root + "/xdg/docker.sock") == true)
        #expect(error?.message.contains("/run/user/\(machine.userID)/docker.sock") == true)
        #expect(error?.message.contains(machine.root + "/var/run/docker.sock") == true)
    }
}
