import Foundation
import SutradharTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A build that fails, and a build stopped with Ctrl-C: what the run reports and what it leaves.
@Suite(.serialized, .requiresNix)
struct FailureAndInterruptTests {
    static let fixtureStage = [(name: "build", installable: ".#\(NixFixtures.attribute)", needs: [String]())]

    @Test func failingBuildFailsTheStageAndShowsTheBuildersOwnWords() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let repository = try makeRepository(at: workspace.root.appendingPathComponent("failing"))
            _ = try NixFixtures.writeFlake(.failing, into: repository.directory,
                                           pidFile: try workspace.stateFolder().appendingPathComponent("unused"))
            try repository.commit("a flake whose build fails")
            let definition = try workspace.writePipeline(nixPipeline(
                repository: repository.directory,
                stages: Self.fixtureStage + [(name: "after", installable: ".#\(NixFixtures.attribute)", needs: ["build"])]))

            let json = try await workspace.sutradhar(["run", definition, "--json"])

            #expect(json.exitCode == 1, "\(json.transcript)")
            expectEveryLineIsAnEvent(json)
            #expect(json.summary?["status"] as? String == "failed")
            #expect(json.stage("checkout")?["status"] as? String == "passed")
            let build = try #require(json.stage("build"))
            #expect(build["status"] as? String == "failed")
            #expect((build["error"] as? String)?.isEmpty == false)
            #expect(json.stage("after")?["status"] as? String == "skipped")
            let logLines = json.events(named: "log").filter { $0["stage"] as? String == "build" }
                .compactMap { $0["line"] as? String }
            #expect(logLines.contains { $0.contains(NixFixtures.failureLine) }, "\(logLines)")
            // A failed build leaves no GC root and no cache entry behind.
            #expect(workspace.cacheContents("nix/roots").isEmpty)
            #expect(workspace.cacheContents("entries/nix-build").isEmpty)

            // Without --json, the failing stage's log tail is shown under it.
            let terminal = try await workspace.sutradhar(["run", definition])
            #expect(terminal.exitCode == 1, "\(terminal.transcript)")
            let tail = try #require(terminal.stdout.range(of: "log lines of build"), "\(terminal.transcript)")
            #expect(terminal.stdout[tail.upperBound...].contains(NixFixtures.failureLine), "\(terminal.transcript)")
            #expect(terminal.stdout.contains("failed"))
        }
    }

    @Test func ctrlCStopsASlowBuildLeavesNothingAndARerunPasses() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let repository = try makeRepository(at: workspace.root.appendingPathComponent("slow"))
            let pidFile = try workspace.stateFolder().appendingPathComponent("builder.pid")
            // writeFlake puts a fresh nonce in the derivation, so nix really runs this builder.
            let flake = try NixFixtures.writeFlake(.slow, into: repository.directory, pidFile: pidFile)
            try repository.commit("a flake whose build sleeps")
            let definition = try workspace.writePipeline(nixPipeline(repository: repository.directory, stages: Self.fixtureStage))

            let invocation = try workspace.startSutradhar(["run", definition, "--json"])
            let builderStarted = await eventually(timeout: .seconds(90)) { flake.builderPIDs() != nil }
            guard builderStarted, let pids = flake.builderPIDs() else {
                invocation.signal(SIGKILL)
                let result = await invocation.finish(timeout: .seconds(10))
                Issue.record("the slow builder never wrote its PIDs: \(result.transcript)")
                return
            }
            #expect(pids.allSatisfy { !processIsGone($0) }, "the builder is not running before the interrupt")

            let interrupted = ContinuousClock.now
            invocation.signal(SIGINT)
            let result = await invocation.finish(timeout: .seconds(20))
            let took = ContinuousClock.now - interrupted

            #expect(result.exitCode == 130, "\(result.transcript)")
            #expect(took < .seconds(30), "took \(took) to stop after SIGINT")
            expectEveryLineIsAnEvent(result)
            #expect(result.summary?["status"] as? String == "cancelled")
            #expect(result.stage("build")?["status"] as? String == "cancelled")
            #expect(result.stage("checkout")?["status"] as? String == "passed")
            // The builders are nix-daemon's children; it stops them a moment after its client goes.
            for pid in pids {
                let gone = await eventually(timeout: .seconds(10)) { processIsGone(pid) }
                #expect(gone, "builder process \(pid) survived the interrupt")
            }
            #expect(workspace.cacheContents("nix/roots").isEmpty, "an out-link was left: \(workspace.cacheContents("nix/roots"))")
            #expect(workspace.cacheContents("entries/nix-build").isEmpty)

            // The same flake, made fast: the next run is not hindered by what the interrupt left.
            _ = try NixFixtures.writeFlake(.succeeding, into: repository.directory, pidFile: pidFile)
            let fast = try repository.commit("the build is fast now")
            let rerun = try await workspace.sutradhar(["run", definition, "--json", "--commit", fast])
            #expect(rerun.exitCode == 0, "\(rerun.transcript)")
            #expect(rerun.summary?["status"] as? String == "passed")
            let out = try #require(rerun.output("out", of: "build") as? String)
            #expect((try? String(contentsOfFile: out, encoding: .utf8)) == NixFixtures.successOutput)
            #expect(workspace.cacheContents("nix/roots").count == 1)
        }
    }
}
