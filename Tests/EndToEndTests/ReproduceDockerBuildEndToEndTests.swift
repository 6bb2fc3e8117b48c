import Foundation
import SutradharTesting
import Testing

extension DockerEndToEndTests {
    /// `sutradhar reproduce` of a docker-build stage: the same context built again with the
    /// builder's cache off, the two images compared by ID and layer digests, the second removed.
    @Suite struct ReproduceDockerBuild {
        @Test func classicBuilderIsReportedNotReproducibleWithItsLayersAndTheSecondImageIsRemoved() async throws {
            try await DockerE2E.withServerImage { workspace, server, host, _ in
                let tag = DockerE2E.uniqueName() + ":built"
                defer { DockerE2E.removeImages([tag], host: host) }
                let repo = try GitFixtureRepository(at: workspace.root.appendingPathComponent("repo"))
                try repo.write("Dockerfile", "FROM \(server.tag)\nRUN echo built > /www/health\n")
                _ = try repo.commit("a Dockerfile")
                let pipeline = try workspace.write("reproduce.yaml", """
                    version: 1
                    name: e2e-reproduce
                    source: { git: ./repo, ref: main }
                    stages:
                      image:
                        docker-build: { context: ., tags: ["\(tag)"] }

                    """)
                let result = try await SutradharCLI.run(
                    ["reproduce", pipeline.path, "--json", "--cache-dir", workspace.cache.path, "--docker-host", host],
                    timeout: .seconds(300))
                // A RUN step's files carry the time of the build: the two builds differ.
                #expect(result.exitCode == 1, result.diagnosis)
                let stage = try #require(result.stage("image"), result.diagnosis)
                #expect(stage["code"] as? String == "not-reproducible")
                let outputs = result.outputs(of: "image")
                #expect(outputs["reproducible"] as? Bool == false)
                #expect((outputs["note"] as? String)?.contains("classic builder is not expected to be reproducible") == true)
                let layers = try #require(outputs["differing_layers"] as? [String])
                // The base image's layer is the same; the RUN step's layer is named with its step.
                #expect(layers.count == 1, "\(layers)")
                #expect(layers.first?.hasPrefix("layer 2 of 2, made by ") == true, "\(layers)")
                #expect(layers.first?.contains("echo built") == true, "\(layers)")
                // Inside that layer, the file the RUN step wrote (its time differs), from the two
                // images saved and compared as nix outputs are.
                let files = try #require(outputs["differing_files"] as? [String], "\(outputs)")
                #expect(files.contains { $0.hasPrefix("layer 2 of 2 (") && $0.hasSuffix(": www/health") }, "\(files)")
                #expect((outputs["report"] as? String).map { FileManager.default.fileExists(atPath: $0) } == true)
                // The first image keeps its tag; the second is gone.
                let second = try #require(outputs["rebuild_image"] as? String)
                #expect(DockerE2E.imageID(tag, host: host) == outputs["image"] as? String)
                #expect(DockerE2E.imageID(second, host: host) == nil)
            }
        }
    }
}
