import Foundation
import SutradharTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

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

        /// Reported: SIGTERM during the scan of a bomb was ignored (the run went on at 100% CPU).
        /// The first SIGTERM now cancels the scan and the run ends as interrupted, at once.
        @Test func sigtermDuringTheScanOfAGzipBombEndsTheRunAtOnce() async throws {
            try NixFixtures.requireNix()
            let host = try DockerE2E.host()
            let tag = DockerE2E.uniqueName() + ":bomb"
            defer { DockerE2E.removeImages([tag], host: host) }
            try await DockerE2E.withWorkspace { workspace in
                let bomb = workspace.root.appendingPathComponent("bomb.tar.gz").path
                try TarFixtures.writeGzipBomb(at: bomb, gibibytes: 32)
                try workspace.makeArchiveFlake("bomb", archive: bomb, output: .archive)
                let pipeline = try workspace.write("bomb.yaml", DockerLoad.loadPipeline(folder: "bomb", tags: [tag]))
                let invocation = try SutradharCLI.start(
                    ["run", pipeline.path, "--json", "--cache-dir", workspace.cache.path, "--docker-host", host])
                let loading = await eventually(timeout: .seconds(120)) {
                    invocation.stdoutSoFar.split(separator: "\n").contains { line in
                        guard let event = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else { return false }
                        return event["event"] as? String == "stage-started" && event["stage"] as? String == "load"
                    }
                }
                if !loading { invocation.signal(SIGKILL) }
                #expect(loading, "the load stage never started: \(invocation.stdoutSoFar)")

                let signalled = ContinuousClock.now
                invocation.signal(SIGTERM)
                let result = await invocation.finish(timeout: .seconds(60))
                let ended = ContinuousClock.now - signalled
                print("gzip bomb (32 GiB of zeros): the run ended \(ended) after one SIGTERM")
                #expect(result.exitCode == 130, result.diagnosis)
                #expect(result.stage("load")?["status"] as? String == "cancelled", result.diagnosis)
                // About a second to stop; 10 s leaves room for a loaded machine (the scan alone takes far longer).
                #expect(ended < .seconds(10))
            }
        }
    }
}
