import Foundation
import SutradharTesting
import Testing

extension DockerEndToEndTests {
    /// A nix build whose output is a gzip bomb: the load stage's timeout must end it on time.
    @Suite struct ArchiveBomb {
        /// Reported: a 10 GiB bomb with `timeout: 5s` ran 28 s before the timeout was reported,
        /// because the archive was scanned on the cooperative pool where nothing could stop it.
        @Test func aGzipBombIsStoppedByTheLoadStagesTimeout() async throws {
            try NixFixtures.requireNix()
            let host = try DockerE2E.host()
            let tag = DockerE2E.uniqueName() + ":bomb"
            defer { DockerE2E.removeImages([tag], host: host) }
            try await DockerE2E.withWorkspace { workspace in
                // 32 GiB of zeros in 32 MiB: inflating all of it takes far longer than the timeout.
                let bomb = workspace.root.appendingPathComponent("bomb.tar.gz").path
                try TarFixtures.writeGzipBomb(at: bomb, gibibytes: 32)
                try workspace.makeArchiveFlake("bomb", archive: bomb, output: .archive)
                let pipeline = try workspace.write(
                    "bomb.yaml", DockerLoad.loadPipeline(folder: "bomb", tags: [tag], timeout: "2s"))

                let result = try await DockerE2E.run(pipeline, workspace: workspace, host: host)
                #expect(result.exitCode == 1, result.diagnosis)
                #expect(result.stage("image")?["status"] as? String == "passed", result.diagnosis)
                #expect(result.stage("load")?["status"] as? String == "failed", result.diagnosis)
                let error = result.stage("load")?["error"] as? String ?? ""
                #expect(error.contains("timed out after 2s"), "load error: \(error)")
                let milliseconds = result.stage("load")?["duration_ms"] as? Int ?? Int.max
                print("gzip bomb (32 GiB of zeros) under 'timeout: 2s': the load stage ended after \(milliseconds) ms")
                // The timeout plus about a second to stop; 5 s in all leaves room for a loaded machine.
                #expect(milliseconds < 5_000, result.diagnosis)
                #expect(DockerE2E.imageID(tag, host: host) == nil)
                try expectNoContainersLeft(result, host: host)
            }
        }
    }
}
