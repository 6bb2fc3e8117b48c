import Foundation
import NIOCore
import Synchronization
import SutradharTesting
import Testing

@testable import DockerEngine

/// What one integration test owns: a unique label on everything it creates, and a folder.
struct TestScope {
    let id: String
    let folder: TemporaryFolder
    /// Put on every image and container the test makes; cleanup removes what carries it.
    var labels: [String: String] { ["sutradhar.test": id] }

    /// A unique name for a container or tag.
    func name(_ suffix: String) -> String { "sdh-test-\(id)-\(suffix)" }
}

/// Opens a client on the test daemon, runs `body`, then removes every container and image
/// labelled with the test's label, whether `body` passed or threw.
func withTestClient(_ body: (DockerClient, TestScope) async throws -> Void) async throws {
    let socketPath = try DockerTestSupport.requireDaemon()
    let host = DockerHost(socketPath: socketPath, origin: .environment, reason: "the test daemon")
    let scope = TestScope(id: String(UUID().uuidString.prefix(8)).lowercased(), folder: try TemporaryFolder())
    try await DockerClient.withClient(host: host, timeout: .seconds(30)) { client in
        let outcome: Result<Void, any Error>
        do {
            try await body(client, scope)
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        for container in (try? await client.listContainers(labels: scope.labels, all: true)) ?? [] {
            try? await client.removeContainer(container.id, force: true)
        }
        for image in (try? await client.listImages(labels: scope.labels)) ?? [] {
            try? await client.removeImage(image.id, force: true)
        }
        try outcome.get()
    }
}

/// Makes a tiny busybox image labelled for the test, loads it, and returns its tag.
func loadTinyImage(
    _ client: DockerClient, _ scope: TestScope, command: [String] = ["/bin/sh"], extraFiles: [String: String] = [:]
) async throws -> TinyImageArchive {
    let tiny = try DockerTestSupport.makeTinyImageArchive(
        at: scope.folder.path + "/image.tar", tag: scope.name("image") + ":latest", command: command,
        labels: scope.labels, extraFiles: extraFiles
    )
    let result = try await client.loadImage(fileAt: tiny.path, progress: nil)
    // Podman names it `localhost/NAME:TAG`.
    #expect(result.images.count == 1 && ImageDetails.sameTag(result.images[0], tiny.tag), "\(result.images)")
    return tiny
}

/// The hardening a smoke container gets: no network, no capabilities, no privilege gain, a
/// read-only root with a tmpfs /tmp, and an init.
func hardened(networkMode: String = "none") -> HostConfig {
    HostConfig(
        networkMode: networkMode, capDrop: ["ALL"], securityOpt: ["no-new-privileges"], readonlyRootfs: true,
        tmpfs: ["/tmp": "rw,nosuid,size=16m"], initProcess: true, ulimits: [Ulimit(name: "nofile", soft: 256)]
    )
}

/// Collects a whole stream of frames into stdout and stderr text.
func collect(_ frames: AsyncThrowingStream<LogFrame, any Error>) async throws -> (stdout: String, stderr: String) {
    var stdout = ""
    var stderr = ""
    for try await frame in frames {
        switch frame.stream {
        case .stdout: stdout += frame.text
        case .stderr: stderr += frame.text
        default: break
        }
    }
    return (stdout, stderr)
}

/// An async sequence of an array's bytes in small chunks, as a script's stdout would arrive.
struct ChunkedBytes: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let bytes: [UInt8]
    let chunkSize: Int

    struct AsyncIterator: AsyncIteratorProtocol {
        let bytes: [UInt8]
        let chunkSize: Int
        var offset = 0

        mutating func next() async throws -> ByteBuffer? {
            guard offset < bytes.count else { return nil }
            let end = Swift.min(offset + chunkSize, bytes.count)
            defer { offset = end }
            return ByteBuffer(bytes: bytes[offset..<end])
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(bytes: bytes, chunkSize: chunkSize) }
}

@Suite(.requiresDocker, .timeLimit(.minutes(2)))
struct DockerClientIntegrationTests {
    @Test func negotiatesTheAPIVersionAndReadsInfo() async throws {
        try await withTestClient { client, _ in
            let info = try await client.info()
            let daemonVersion = try #require(APIVersion(info.apiVersion))
            #expect(client.version == min(APIVersion.newestSupported, daemonVersion))
            #expect(!info.serverVersion.isEmpty)
            #expect(info.engine == client.engine, "/_ping's Libpod header and /version agree on the engine")
            #expect(info.engine == (DockerTestSupport.isPodman ? .podman : .docker))
            // Both engines here run containers with runc (Podman lists crun too where installed).
            #expect(info.runtimes.contains("runc"), "\(info.runtimes)")
            #expect(info.runtimes.contains(info.defaultRuntime), "default \(info.defaultRuntime) among \(info.runtimes)")
            if info.engine == .docker {
                #expect(info.isRootless == info.securityOptions.contains { $0.split(separator: ",").contains("name=rootless") })
            }
            if client.host.socketPath.hasPrefix("/run/user/") {
                #expect(info.isRootless, "the daemon under /run/user is the rootless one")
            }
            if info.engine == .docker {
                #expect(info.enforcesResourceLimits == (info.cgroupDriver != "none"))
                #expect(info.enforcesUlimits)
            } else {
                #expect(!info.enforcesUlimits, "rootless Podman drops Ulimits")
            }
            #expect(!info.storageDriver.isEmpty)

            // Cross-check with the docker CLI, which negotiates on its own.
            let cli = try DockerTestSupport.run(
                "/usr/local/bin/docker", ["version", "--format", "{{.Server.APIVersion}}"],
                environment: ["DOCKER_HOST": "unix://" + client.host.socketPath]
            )
            #expect(cli.trimmingCharacters(in: .whitespacesAndNewlines) == info.apiVersion)
        }
    }

    @Test func loadsInspectsTagsListsAndRemovesAnImage() async throws {
        try await withTestClient { client, scope in
            let tiny = try DockerTestSupport.makeTinyImageArchive(
                at: scope.folder.path + "/image.tar", tag: scope.name("image") + ":v1", labels: scope.labels
            )
            let fileSize = try #require(FileManager.default.attributesOfItem(atPath: tiny.path)[.size] as? Int)
            let progress = ProgressLog()
            let result = try await client.loadImage(fileAt: tiny.path, progress: { progress.record($0) })
            #expect(result.images.count == 1 && ImageDetails.sameTag(result.images[0], tiny.tag), "\(result.images)")
            #expect(result.bytesSent == Int64(fileSize))
            #expect(progress.values.last == Int64(fileSize))
            #expect(progress.values == progress.values.sorted())

            let expectedID = try await ImageArchive.imageID(ofArchiveAt: tiny.path).id
            #expect(expectedID == tiny.imageID)
            let details = try #require(try await client.inspectImage(tiny.tag))
            #expect(details.id == expectedID)
            #expect(details.repoTags.count == 1 && details.isTagged(tiny.tag), "\(details.repoTags)")
            #expect(details.labels == scope.labels)
            #expect(details.size > 0)

            try await client.tagImage(tiny.tag, repository: scope.name("retagged"), tag: "v2")
            #expect(try await client.inspectImage(scope.name("retagged") + ":v2")?.id == expectedID)
            let listed = try await client.listImages(labels: scope.labels)
            #expect(listed.map(\.id) == [expectedID])
            let listedImage = ImageDetails(id: listed[0].id, repoTags: listed[0].repoTags, size: 0, labels: [:])
            #expect(listed[0].repoTags.count == 2 && listedImage.isTagged(tiny.tag) && listedImage.isTagged(scope.name("retagged") + ":v2"),
                    "\(listed[0].repoTags)")

            try await client.removeImage(expectedID, force: true)
            #expect(try await client.inspectImage(tiny.tag) == nil)
            #expect(try await client.inspectImage(expectedID) == nil)
            try await client.removeImage(expectedID, force: true)  // already gone: not an error
        }
    }

    @Test func loadsAGzippedArchiveStreamedFromAnAsyncSequence() async throws {
        try await withTestClient { client, scope in
            let tiny = try DockerTestSupport.makeTinyImageArchive(
                at: scope.folder.path + "/image.tar.gz", tag: scope.name("gz") + ":latest", labels: scope.labels, gzip: true
            )
            let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: tiny.path)))
            let result = try await client.loadImage(ChunkedBytes(bytes: bytes, chunkSize: 64 * 1024 + 3), progress: nil)
            #expect(result.images.count == 1 && ImageDetails.sameTag(result.images[0], tiny.tag), "\(result.images)")
            if DockerTestSupport.isPodman {
                // Podman takes no gzip: the client sent the tar inflated, every byte of it.
                let inflated = try DockerTestSupport.run("/bin/sh", ["-c", "gzip -dc '\(tiny.path)' | wc -c"])
                #expect(result.bytesSent == Int64(inflated.trimmingCharacters(in: .whitespacesAndNewlines)))
            } else {
                #expect(result.bytesSent == Int64(bytes.count))
            }
            #expect(try await client.inspectImage(tiny.tag)?.id == tiny.imageID)
        }
    }

    @Test func aTruncatedArchiveFailsWithTheDaemonsMessage() async throws {
        try await withTestClient { client, scope in
            let tiny = try DockerTestSupport.makeTinyImageArchive(
                at: scope.folder.path + "/image.tar", tag: scope.name("cut") + ":latest", labels: scope.labels
            )
            let bytes = try Data(contentsOf: URL(fileURLWithPath: tiny.path))
            let cut = scope.folder.path + "/cut.tar"
            try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: cut))

            let error = await #expect(throws: DockerError.self) { try await client.loadImage(fileAt: cut, progress: nil) }
            #expect(error?.code == .loadFailed)
            #expect(error?.endpoint == "POST /images/load")
            let said = try #require(error?.daemonMessage)
            #expect(!said.isEmpty)
            #expect(error?.message.contains(said) == true)
            #expect(try await client.inspectImage(tiny.tag) == nil)
        }
    }

    @Test func runsAHardenedContainerToItsExitAndDemultiplexesItsLogs() async throws {
        try await withTestClient { client, scope in
            let tiny = try await loadTinyImage(client, scope)
            let script = """
                echo to-stdout
                echo to-stderr >&2
                touch /tmp/ok && echo tmp-writable
                touch /rootfs-file 2>/dev/null || echo rootfs-read-only >&2
                grep NoNewPrivs /proc/self/status
                grep CapEff /proc/self/status
                echo "pid1=$(cat /proc/1/comm)"
                echo "interfaces=$(ls /sys/class/net | tr '\\n' ' ')"
                exit 7
                """
            let id = try await client.createContainer(
                name: scope.name("run"),
                ContainerSpec(image: tiny.tag, command: ["/bin/sh", "-c", script], labels: scope.labels, hostConfig: hardened())
            )
            let wait = try await client.waitContainer(id, timeout: .seconds(30))
            try await client.startContainer(id)
            #expect(try await wait.value == ContainerExit(statusCode: 7, error: nil))
            #expect(try await wait.value.statusCode == 7, "a second await returns the same answer")

            let logs = try await collect(client.logs(id, follow: false))
            #expect(logs.stderr == "to-stderr\nrootfs-read-only\n")
            let lines = logs.stdout.split(separator: "\n").map { $0.replacingOccurrences(of: "\t", with: " ") }
            #expect(lines.first == "to-stdout")
            #expect(lines.contains("tmp-writable"))
            #expect(lines.contains("NoNewPrivs: 1"))
            #expect(lines.contains("CapEff: 0000000000000000"))
            #expect(lines.contains(DockerTestSupport.isPodman ? "pid1=podman-init" : "pid1=docker-init"), "\(lines)")
            #expect(lines.contains { $0.hasPrefix("interfaces=lo") && !$0.contains("eth") })

            let state = try await client.inspectContainer(id)
            #expect(state.id == id)
            #expect(state.name == "/" + scope.name("run"))
            #expect(!state.running)
            #expect(state.status == "exited")
            #expect(state.exitCode == 7)
            #expect(!state.oomKilled)
            #expect(state.labels == scope.labels)

            try await client.removeContainer(id, force: false)
            let gone = await #expect(throws: DockerError.self) { try await client.inspectContainer(id) }
            #expect(gone?.code == .notFound)
            try await client.removeContainer(id, force: true)  // already gone: not an error
        }
    }

    @Test func execsIntoAServerAndAProbeSidecarReachesItOverLoopback() async throws {
        try await withTestClient { client, scope in
            let page = "hello from \(scope.id)"
            let tiny = try await loadTinyImage(
                client, scope, command: ["/bin/busybox", "httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/www"],
                extraFiles: ["www/index.html": page]
            )
            let server = try await client.createContainer(
                name: scope.name("server"), ContainerSpec(image: tiny.tag, labels: scope.labels, hostConfig: hardened())
            )
            try await client.startContainer(server)
            #expect(try await client.inspectContainer(server).running)

            let exec = try await client.exec(server, command: ["sh", "-c", "echo exec-out; echo exec-err >&2; exit 3"], timeout: .seconds(20))
            #expect(exec == ExecResult(exitCode: 3, stdout: "exec-out\n", stderr: "exec-err\n", stdoutTruncated: false, stderrTruncated: false))
            let bounded = try await client.exec(server, command: ["echo", "0123456789abcdef"], timeout: .seconds(20), captureLimit: 10)
            #expect(bounded.exitCode == 0)
            #expect(bounded.stdout == "0123456789")
            #expect(bounded.stdoutTruncated)
            #expect(!bounded.stderrTruncated)

            // The probe shares the server's network namespace: it has no network of its own,
            // yet reaches the server on 127.0.0.1.
            let probeScript = "for i in $(seq 1 50); do wget -q -O - http://127.0.0.1:8080/index.html && exit 0; sleep 0.1; done; exit 1"
            let probe = try await client.createContainer(
                name: scope.name("probe"),
                ContainerSpec(image: tiny.tag, command: ["/bin/sh", "-c", probeScript], labels: scope.labels, hostConfig: hardened(networkMode: "container:\(server)"))
            )
            let probeWait = try await client.waitContainer(probe, timeout: .seconds(30))
            try await client.startContainer(probe)
            #expect(try await probeWait.value.statusCode == 0)
            #expect(try await collect(client.logs(probe, follow: true)).stdout == page)

            let running = try await client.listContainers(labels: scope.labels, all: false)
            #expect(running.map(\.id) == [server])
            #expect(running.first?.names == ["/" + scope.name("server")])
            #expect(running.first?.state == "running")
            let all = try await client.listContainers(labels: scope.labels, all: true)
            #expect(Set(all.map(\.id)) == [server, probe])

            // Long bodies have their own deadline: a wait and a followed log on a server that
            // keeps running time out instead of hanging.
            let shortWait = try await client.waitContainer(server, timeout: .milliseconds(500))
            let started = ContinuousClock.now
            let waitError = await #expect(throws: DockerError.self) { try await shortWait.value }
            #expect(waitError?.code == .timeout)
            #expect(waitError?.message.contains("still running") == true)
            #expect(ContinuousClock.now - started < .seconds(20))  // bounded by its own deadline, not the 30 s default
            let followError = await #expect(throws: DockerError.self) {
                _ = try await collect(client.logs(server, follow: true, timeout: .milliseconds(500)))
            }
            #expect(followError?.code == .timeout)

            let serverWait = try await client.waitContainer(server, timeout: .seconds(30))
            try await client.stopContainer(server, gracePeriod: .seconds(2))
            _ = try await serverWait.value
            #expect(try await client.inspectContainer(server).running == false)
            try await client.stopContainer(server, gracePeriod: .seconds(1))  // already stopped: not an error
        }
    }

    @Test func eventsFilteredByLabelIncludeCreateStartAndDie() async throws {
        try await withTestClient { client, scope in
            let tiny = try await loadTinyImage(client, scope)
            let since = Date().addingTimeInterval(-1)
            let watched = scope.labels.merging(["sutradhar.test.watched": "yes"]) { $1 }
            let id = try await client.createContainer(
                name: scope.name("watched"), ContainerSpec(image: tiny.tag, command: ["true"], labels: watched, hostConfig: hardened())
            )
            // A container without the watched label must not show up.
            _ = try await client.createContainer(
                name: scope.name("unwatched"), ContainerSpec(image: tiny.tag, command: ["true"], labels: scope.labels, hostConfig: hardened())
            )
            let wait = try await client.waitContainer(id, timeout: .seconds(30))
            try await client.startContainer(id)
            #expect(try await wait.value.statusCode == 0)

            var actions: [String] = []
            for try await event in client.events(labels: ["sutradhar.test.watched": "yes", "sutradhar.test": scope.id], since: since, timeout: .seconds(20)) {
                #expect(event.actorID == id)
                #expect(event.type == "container")
                #expect(event.attributes["sutradhar.test.watched"] == "yes")
                #expect(event.time >= since)
                actions.append(event.action)
                if event.action == "die" {
                    #expect(event.attributes["exitCode"] == "0")
                    break
                }
            }
            let lifecycle = actions.filter { ["create", "start", "die"].contains($0) }
            #expect(lifecycle == ["create", "start", "die"])
        }
    }

    @Test func daemonRefusalsBecomeErrorCodesWithTheDaemonsMessage() async throws {
        try await withTestClient { client, scope in
            let missingImage = await #expect(throws: DockerError.self) {
                try await client.createContainer(name: nil, ContainerSpec(image: scope.name("no-such-image") + ":latest", labels: scope.labels))
            }
            #expect(missingImage?.code == .notFound)
            #expect(missingImage?.status == 404)
            #expect(missingImage?.endpoint == "POST /containers/create")
            #expect(missingImage?.daemonMessage?.isEmpty == false)
            #expect(missingImage?.message.contains("load it first") == true)

            let tiny = try await loadTinyImage(client, scope)
            let spec = ContainerSpec(image: tiny.tag, command: ["true"], labels: scope.labels)
            _ = try await client.createContainer(name: scope.name("twice"), spec)
            let duplicate = await #expect(throws: DockerError.self) { try await client.createContainer(name: scope.name("twice"), spec) }
            #expect(duplicate?.code == .conflict)
            #expect(duplicate?.status == (DockerTestSupport.isPodman ? 500 : 409), "Podman says conflict with a 500 and its cause")

            let missingContainer = await #expect(throws: DockerError.self) { try await client.inspectContainer(scope.name("absent")) }
            #expect(missingContainer?.code == .notFound)
            try await client.removeContainer(scope.name("absent"), force: true)
            let notRunning = await #expect(throws: DockerError.self) {
                try await client.exec(scope.name("twice"), command: ["true"], timeout: .seconds(5))
            }
            #expect(notRunning?.code == .conflict)
        }
    }

    @Test func cancellingAWaitEndsItPromptly() async throws {
        try await withTestClient { client, scope in
            let tiny = try await loadTinyImage(client, scope)
            let id = try await client.createContainer(
                name: scope.name("sleeper"), ContainerSpec(image: tiny.tag, command: ["sleep", "60"], labels: scope.labels, hostConfig: hardened())
            )
            let wait = try await client.waitContainer(id, timeout: .seconds(60))
            try await client.startContainer(id)
            // waitContainer returned once the daemon answered the head: the wait is in flight.
            let task = Task { try await wait.value }
            let started = ContinuousClock.now
            task.cancel()
            let result = await task.result
            #expect(ContinuousClock.now - started < .seconds(20))  // ends on cancel, not at the 60 s deadline
            #expect(throws: DockerError.self) { try result.get() }
            if case .failure(let error as DockerError) = result {
                #expect(error.code == .cancelled)
            }
        }
    }
}

@Suite struct DockerClientWithoutDaemonTests {
    @Test func aMissingSocketIsUnreachableAtOnce() async throws {
        let machine = try FakeMachine()
        let host = DockerHost(socketPath: machine.root + "/docker.sock", origin: .flag, reason: "--docker-host")
        let error = await #expect(throws: DockerError.self) {
            try await DockerClient.withClient(host: host, timeout: .seconds(5)) { _ in }
        }
        // `.unreachable`, not `.timeout`: it failed on the missing socket, not at the deadline.
        // (No timed assertion: on a loaded CI machine even an instant failure can take seconds.)
        #expect(error?.code == .unreachable)
        #expect(error?.message.contains("unix://" + machine.root + "/docker.sock (from --docker-host)") == true)
        #expect(error?.message.contains("No such file") == true)
    }

    @Test func aSocketNobodyListensOnIsUnreachableAtOnce() async throws {
        let machine = try FakeMachine()
        let host = DockerHost(socketPath: try machine.makeSocket("stale.sock"), origin: .environment, reason: "DOCKER_HOST")
        let error = await #expect(throws: DockerError.self) {
            try await DockerClient.withClient(host: host, timeout: .seconds(5)) { _ in }
        }
        #expect(error?.code == .unreachable)
        #expect(error?.message.contains("refused") == true)
    }
}

/// Progress values reported during a load, from whatever thread reports them.
final class ProgressLog: Sendable {
    private let storage = Mutex<[Int64]>([])
    func record(_ value: Int64) { storage.withLock { $0.append(value) } }
    var values: [Int64] { storage.withLock { $0 } }
}
