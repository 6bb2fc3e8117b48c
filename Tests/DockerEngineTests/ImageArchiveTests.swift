import Foundation
import SutradharTesting
import Testing

@testable import DockerEngine

/// A temporary folder removed when the test ends.
final class TemporaryFolder {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("sutradhar-docker-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

@Suite struct ImageArchiveTests {
    @Test(arguments: [false, true])
    func imageIDIsTheSHA256OfTheConfig(gzip: Bool) throws {
        let folder = try TemporaryFolder()
        let tiny = try DockerTestSupport.makeTinyImageArchive(
            at: folder.path + "/image.tar", tag: "archive-test:one", labels: ["k": "v"], gzip: gzip
        )
        let info = try ImageArchive.imageID(ofArchiveAt: tiny.path)
        #expect(info.id == tiny.imageID)
        #expect(info.configDigest == tiny.imageID)
        #expect(info.repoTags == ["archive-test:one"])
        #expect(info.layers == ["layer/layer.tar"])
        #expect(info.configPath == String(tiny.imageID.dropFirst("sha256:".count)) + ".json")

        // The archive really is what the flag says: gzip magic or a tar header.
        let head = try Array(Data(contentsOf: URL(fileURLWithPath: tiny.path)).prefix(2))
        #expect((head == [0x1f, 0x8b]) == gzip)
    }

    @Test func theManifestMayComeBeforeOrAfterTheConfigAndLayers() throws {
        let folder = try TemporaryFolder()
        let tiny = try DockerTestSupport.makeTinyImageArchive(at: folder.path + "/image.tar", tag: "archive-test:order")
        let unpacked = folder.path + "/unpacked"
        try FileManager.default.createDirectory(atPath: unpacked, withIntermediateDirectories: true)
        try DockerTestSupport.run("/usr/bin/tar", ["-C", unpacked, "-xf", tiny.path])
        let config = String(tiny.imageID.dropFirst("sha256:".count)) + ".json"

        // manifest.json first, then the (large) layer, then the config: the reader cannot know
        // which entry is the config until after it has passed the layer.
        try DockerTestSupport.run("/usr/bin/tar", ["-C", unpacked, "-cf", folder.path + "/reordered.tar", "manifest.json", "layer/layer.tar", config])
        #expect(try ImageArchive.imageID(ofArchiveAt: folder.path + "/reordered.tar").id == tiny.imageID)

        // pax format with the config under a long folder name (a pax `path` record).
        let longFolder = String(repeating: "d", count: 120)
        try FileManager.default.createDirectory(atPath: unpacked + "/" + longFolder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: unpacked + "/" + config, toPath: unpacked + "/" + longFolder + "/" + config)
        try Data(#"[{"Config":"\#(longFolder)/\#(config)","RepoTags":["x:y"],"Layers":["layer/layer.tar"]}]"#.utf8)
            .write(to: URL(fileURLWithPath: unpacked + "/manifest.json"))
        try DockerTestSupport.run("/usr/bin/tar", ["--format=pax", "-C", unpacked, "-cf", folder.path + "/pax.tar", "layer/layer.tar", longFolder, "manifest.json"])
        let pax = try ImageArchive.imageID(ofArchiveAt: folder.path + "/pax.tar")
        #expect(pax.id == tiny.imageID)
        #expect(pax.repoTags == ["x:y"])
    }

    @Test(arguments: [false, true])
    func aTruncatedArchiveIsInvalid(gzip: Bool) throws {
        let folder = try TemporaryFolder()
        let tiny = try DockerTestSupport.makeTinyImageArchive(at: folder.path + "/image.tar", tag: "archive-test:cut", gzip: gzip)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: tiny.path))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: folder.path + "/cut.tar"))
        let error = #expect(throws: DockerError.self) { try ImageArchive.imageID(ofArchiveAt: folder.path + "/cut.tar") }
        #expect(error?.code == .invalidArchive)
    }

    @Test func filesThatAreNotDockerArchivesAreInvalid() throws {
        let folder = try TemporaryFolder()
        try Data(String(repeating: "not a tar at all\n", count: 100).utf8).write(to: URL(fileURLWithPath: folder.path + "/text"))
        let notTar = #expect(throws: DockerError.self) { try ImageArchive.imageID(ofArchiveAt: folder.path + "/text") }
        #expect(notTar?.code == .invalidArchive)
        #expect(notTar?.message.contains("not a tar") == true)

        // A real tar, but a root file system rather than a docker-archive.
        try Data("hi".utf8).write(to: URL(fileURLWithPath: folder.path + "/file.txt"))
        try DockerTestSupport.run("/usr/bin/tar", ["-C", folder.path, "-cf", folder.path + "/rootfs.tar", "file.txt"])
        let noManifest = #expect(throws: DockerError.self) { try ImageArchive.imageID(ofArchiveAt: folder.path + "/rootfs.tar") }
        #expect(noManifest?.message.contains("manifest.json") == true)

        let missing = #expect(throws: DockerError.self) { try ImageArchive.imageID(ofArchiveAt: folder.path + "/absent.tar") }
        #expect(missing?.code == .invalidArchive)
    }
}

@Suite struct ContainerSpecEncodingTests {
    private func json(_ value: some Encodable) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: JSONEncoder().encode(value)) as? [String: Any])
    }

    @Test func usesTheEngineAPIKeyNames() throws {
        let spec = ContainerSpec(
            image: "hello-server:latest",
            command: ["/bin/busybox", "httpd"],
            entrypoint: ["/bin/sh", "-c"],
            env: ["B": "2", "A": "1"],
            labels: ["sutradhar.run": "r1"],
            workingDir: "/www",
            user: "1000:1000",
            hostConfig: HostConfig(
                networkMode: "container:abc",
                privileged: false,
                capDrop: ["ALL"],
                capAdd: ["NET_BIND_SERVICE"],
                securityOpt: ["no-new-privileges"],
                readonlyRootfs: true,
                tmpfs: ["/tmp": "rw,noexec,nosuid,size=64m"],
                initProcess: true,
                memory: 256 << 20,
                nanoCpus: 1_000_000_000,
                pidsLimit: 64,
                ulimits: [Ulimit(name: "nproc", soft: 64), Ulimit(name: "nofile", soft: 1024, hard: 2048)],
                binds: ["/src:/dst:ro"]
            )
        )
        let top = try json(spec)
        #expect(top["Image"] as? String == "hello-server:latest")
        #expect(top["Cmd"] as? [String] == ["/bin/busybox", "httpd"])
        #expect(top["Entrypoint"] as? [String] == ["/bin/sh", "-c"])
        #expect(top["Env"] as? [String] == ["A=1", "B=2"])
        #expect(top["Labels"] as? [String: String] == ["sutradhar.run": "r1"])
        #expect(top["WorkingDir"] as? String == "/www")
        #expect(top["User"] as? String == "1000:1000")
        #expect(top["Tty"] as? Bool == false)

        let host = try #require(top["HostConfig"] as? [String: Any])
        #expect(host["Labels"] == nil, "labels are top level, not in HostConfig")
        #expect(host["NetworkMode"] as? String == "container:abc")
        #expect(host["Privileged"] as? Bool == false)
        #expect(host["CapDrop"] as? [String] == ["ALL"])
        #expect(host["CapAdd"] as? [String] == ["NET_BIND_SERVICE"])
        #expect(host["SecurityOpt"] as? [String] == ["no-new-privileges"])
        #expect(host["ReadonlyRootfs"] as? Bool == true)
        #expect(host["Tmpfs"] as? [String: String] == ["/tmp": "rw,noexec,nosuid,size=64m"])
        #expect(host["Init"] as? Bool == true)
        #expect(host["Memory"] as? Int == 256 << 20)
        #expect(host["NanoCpus"] as? Int == 1_000_000_000)
        #expect(host["PidsLimit"] as? Int == 64)
        #expect(host["Binds"] as? [String] == ["/src:/dst:ro"])
        #expect(host["AutoRemove"] as? Bool == false)
        let ulimits = try #require(host["Ulimits"] as? [[String: Any]])
        #expect(ulimits.count == 2)
        #expect(ulimits[1]["Name"] as? String == "nofile")
        #expect(ulimits[1]["Soft"] as? Int == 1024)
        #expect(ulimits[1]["Hard"] as? Int == 2048)
        #expect(ulimits[0]["Hard"] as? Int == 64)
    }

    @Test func unsetOptionalsAreOmitted() throws {
        let top = try json(ContainerSpec(image: "x"))
        #expect(top["Cmd"] == nil)
        #expect(top["Entrypoint"] == nil)
        #expect(top["User"] == nil)
        let host = try #require(top["HostConfig"] as? [String: Any])
        #expect(host["Memory"] == nil)
        #expect(host["NanoCpus"] == nil)
        #expect(host["PidsLimit"] == nil)
        #expect(host["NetworkMode"] as? String == "none")
    }
}
