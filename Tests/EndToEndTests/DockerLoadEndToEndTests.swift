import Foundation
import SutradharTesting
import Testing

extension DockerEndToEndTests {
    /// `nix-build` → `docker-load` through the real executable: a plain archive, a
    /// `streamLayeredImage`-style script, and truncated archives.
    @Suite struct DockerLoad {
        /// A pipeline building the flake in `folder` and loading it with `tags` (within
        /// `timeout`, e.g. `2s`, if given).
        static func loadPipeline(folder: String, tags: [String], timeout: String? = nil) -> String {
            """
            version: 1
            name: e2e-load
            source: { path: ./\(folder) }
            nix:
              options: { substituters: "" }
            stages:
              image:
                nix-build: { installable: .#docker-image }
              load:
                needs: [image]\(timeout.map { "\n    timeout: \($0)" } ?? "")
                docker-load: { from: image, tags: [\(tags.map { "\"\($0)\"" }.joined(separator: ", "))] }

            """
        }

        @Test func nixBuiltImageIsLoadedThenOnlyTaggedWhenTheDaemonHasIt() async throws {
            try NixFixtures.requireNix()
            let host = try DockerE2E.host()
            let name = DockerE2E.uniqueName()
            let archiveTag = "\(name)-archive:built", firstTag = "\(name):latest", secondTag = "\(name):e2e"
            var imageToRemove: String?
            defer { DockerE2E.removeImages([imageToRemove, archiveTag, firstTag, secondTag].compactMap { $0 }, host: host) }
            try await DockerE2E.withWorkspace { workspace in
                try workspace.makeHelloServerFlake(repoTag: archiveTag)
                let pipeline = try workspace.write("load.yaml", Self.loadPipeline(folder: "hello-server", tags: [firstTag, secondTag]))
                #expect(DockerE2E.imageID(firstTag, host: host) == nil)

                let first = try await DockerE2E.run(pipeline, workspace: workspace, host: host)
                #expect(first.exitCode == 0, first.diagnosis)
                let load = first.outputs(of: "load")
                let image = try #require(load["image"] as? String, first.diagnosis)
                imageToRemove = image
                #expect(image.hasPrefix("sha256:") && image.count == 71, "image is \(image)")
                #expect(load["loaded"] as? Bool == true, first.diagnosis)
                #expect((load["bytes"] as? Int ?? 0) > 0, first.diagnosis)
                #expect(load["tags"] as? [String] == [firstTag, secondTag])
                #expect(first.stage("load")?["cached"] as? Bool == false)
                // The daemon now has the image under both tags, with the ID the summary gives.
                #expect(DockerE2E.imageID(firstTag, host: host) == image)
                #expect(DockerE2E.imageID(secondTag, host: host) == image)
                try expectNoContainersLeft(first, host: host)

                // Untag one, then run again ignoring the cache: the daemon has the ID, so nothing is
                // sent, and the tag comes back.
                try DockerE2E.docker(["rmi", secondTag], host: host)
                #expect(DockerE2E.imageID(secondTag, host: host) == nil)
                let second = try await DockerE2E.run(pipeline, workspace: workspace, host: host, extra: ["--no-cache"])
                #expect(second.exitCode == 0, second.diagnosis)
                let again = second.outputs(of: "load")
                #expect(again["loaded"] as? Bool == false, second.diagnosis)
                #expect(again["image"] as? String == image)
                #expect(again["bytes"] as? Int == 0)
                #expect(DockerE2E.imageID(secondTag, host: host) == image)
                #expect(second.logLines(of: "load").contains { $0.contains("already has \(image)") }, second.diagnosis)
                try expectNoContainersLeft(second, host: host)
            }
        }

        @Test func imageScriptOutputIsStreamedToTheDaemon() async throws {
            try NixFixtures.requireNix()
            let host = try DockerE2E.host()
            let name = DockerE2E.uniqueName()
            let archiveTag = "\(name)-archive:built", stageTag = "\(name):streamed"
            defer { DockerE2E.removeImages([archiveTag, stageTag], host: host) }
            try await DockerE2E.withWorkspace { workspace in
                let archive = try DockerTestSupport.makeTinyImageArchive(
                    at: workspace.root.appendingPathComponent("image.tar").path, tag: archiveTag,
                    labels: ["dev.sutradhar.e2e": name])
                defer { DockerE2E.removeImages([archive.imageID], host: host) }
                try workspace.makeArchiveFlake("streamed", archive: archive.path, output: .script)
                let pipeline = try workspace.write("load.yaml", Self.loadPipeline(folder: "streamed", tags: [stageTag]))

                let result = try await DockerE2E.run(pipeline, workspace: workspace, host: host)
                #expect(result.exitCode == 0, result.diagnosis)
                // The nix output really is the script (not the archive), and it was run.
                let out = try #require(result.outputs(of: "image")["out"] as? String, result.diagnosis)
                let head = try String(decoding: FileHandle(forReadingFrom: URL(fileURLWithPath: out)).read(upToCount: 9) ?? Data(), as: UTF8.self)
                #expect(head == "#!/bin/sh")
                #expect(result.logLines(of: "load").contains { $0.contains("image script: streaming the archive") }, result.diagnosis)

                let load = result.outputs(of: "load")
                #expect(load["loaded"] as? Bool == true, result.diagnosis)
                #expect(load["image"] as? String == archive.imageID)
                let size = try #require(FileManager.default.attributesOfItem(atPath: archive.path)[.size] as? Int)
                #expect(load["bytes"] as? Int == size, "the whole archive went to the daemon")
                #expect(DockerE2E.imageID(stageTag, host: host) == archive.imageID)
                try expectNoContainersLeft(result, host: host)
            }
        }

        /// The first half of a valid archive, as the flake's output file: Sutradhar reads the
        /// archive's manifest before sending it, so the truncation is found without the daemon.
        @Test func truncatedArchiveFailsTheLoadAndTagsNothing() async throws {
            try NixFixtures.requireNix()
            let host = try DockerE2E.host()
            let name = DockerE2E.uniqueName()
            let archiveTag = "\(name)-archive:built", stageTag = "\(name):truncated"
            defer { DockerE2E.removeImages([archiveTag, stageTag], host: host) }
            try await DockerE2E.withWorkspace { workspace in
                let archive = try Self.truncatedArchive(in: workspace, tag: archiveTag, nonce: name)
                try workspace.makeArchiveFlake("truncated", archive: archive, output: .archive)
                let pipeline = try workspace.write("load.yaml", Self.loadPipeline(folder: "truncated", tags: [stageTag]))

                let result = try await DockerE2E.run(pipeline, workspace: workspace, host: host)
                #expect(result.exitCode == 1, result.diagnosis)
                #expect(result.summary?["status"] as? String == "failed")
                #expect(result.stage("image")?["status"] as? String == "passed")
                #expect(result.stage("load")?["status"] as? String == "failed")
                let error = result.stage("load")?["error"] as? String ?? ""
                #expect(error.contains("truncated"), "load error: \(error)")
                #expect(DockerE2E.imageID(stageTag, host: host) == nil)
                #expect(DockerE2E.imageID(archiveTag, host: host) == nil)
                try expectNoContainersLeft(result, host: host)
            }
        }

        /// The same half archive written by an image script goes to the daemon as it streams:
        /// the daemon's own complaint must reach the stage's error.
        @Test func truncatedStreamFailsWithTheDaemonsMessage() async throws {
            try NixFixtures.requireNix()
            let host = try DockerE2E.host()
            let name = DockerE2E.uniqueName()
            let archiveTag = "\(name)-archive:built", stageTag = "\(name):truncated"
            defer { DockerE2E.removeImages([archiveTag, stageTag], host: host) }
            try await DockerE2E.withWorkspace { workspace in
                let archive = try Self.truncatedArchive(in: workspace, tag: archiveTag, nonce: name)
                try workspace.makeArchiveFlake("truncated", archive: archive, output: .script)
                let pipeline = try workspace.write("load.yaml", Self.loadPipeline(folder: "truncated", tags: [stageTag]))

                let result = try await DockerE2E.run(pipeline, workspace: workspace, host: host)
                #expect(result.exitCode == 1, result.diagnosis)
                #expect(result.stage("load")?["status"] as? String == "failed")
                let error = result.stage("load")?["error"] as? String ?? ""
                // dockerd 20.10 says "Error processing tar file(exit status 1): unexpected EOF".
                #expect(error.contains("unexpected EOF"), "load error: \(error)")
                #expect(DockerE2E.imageID(stageTag, host: host) == nil)
                #expect(DockerE2E.imageID(archiveTag, host: host) == nil)
                try expectNoContainersLeft(result, host: host)
            }
        }

        /// Writes a valid one-image archive and returns the path of a copy cut to half its size
        /// (inside the busybox layer, which is most of it).
        static func truncatedArchive(in workspace: DockerE2EWorkspace, tag: String, nonce: String) throws -> String {
            let full = try DockerTestSupport.makeTinyImageArchive(
                at: workspace.root.appendingPathComponent("full.tar").path, tag: tag, labels: ["dev.sutradhar.e2e": nonce])
            let data = try Data(contentsOf: URL(fileURLWithPath: full.path))
            let half = workspace.root.appendingPathComponent("half.tar")
            try data.prefix(data.count / 2).write(to: half)
            return half.path
        }
    }
}
