import Foundation
import NixBuild
import Synchronization
import SutradharTesting
import Testing

/// Real builds of tiny offline flakes with the real nix. Serialized: the cancellation test
/// measures time, and two cores are better spent on one build at a time.
@Suite(.requiresNix, .serialized)
struct NixIntegrationTests {
    let nix = Nix(options: offlineOptions)

    @Test func versionOfInstalledNixIsAtLeast2_4() async throws {
        try NixFixtures.requireNix()
        #expect(try await nix.version() >= NixVersion.minimumSupported)
    }

    @Test func succeedingFlakeBuildsAndLinksItsOutput() async throws {
        try NixFixtures.requireNix()
        try await NixFixtures.withFlake(.succeeding) { flake in
            let recorder = LineRecorder()
            let result = try await nix.build(
                installable: flake.installable, workingDirectory: flake.directory,
                outLink: flake.suggestedOutLink, log: recorder.log)

            let output = try #require(result.outputs["out"])
            #expect(try String(contentsOfFile: output, encoding: .utf8) == NixFixtures.successOutput)
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: flake.suggestedOutLink.path) == output)
            #expect(result.drvPath.hasSuffix(".drv"))
            #expect(recorder.lines.contains { $0.hasSuffix(NixFixtures.startLine) })
            #expect(try await nix.derivationPath(installable: ".#fixture", workingDirectory: flake.directory)
                == result.drvPath)
            #expect(await nix.isValid(storePath: output))
        }
    }

    @Test func failingBuildReportsExitCodeAndTheBuildersOwnStderr() async throws {
        try NixFixtures.requireNix()
        try await NixFixtures.withFlake(.failing) { flake in
            let recorder = LineRecorder()
            let error = await #expect(throws: NixError.self) {
                try await nix.build(
                    installable: flake.installable, workingDirectory: flake.directory,
                    outLink: flake.suggestedOutLink, log: recorder.log)
            }
            #expect(error?.code == .buildFailed)
            #expect(error?.exitCode == 1)
            #expect(recorder.lines.contains { $0.hasSuffix(NixFixtures.failureLine) })
            #expect(error?.logTail.contains { $0.hasSuffix(NixFixtures.failureLine) } == true)
            #expect(error?.message.contains("error:") == true)
            #expect(!FileManager.default.fileExists(atPath: flake.suggestedOutLink.path))
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func cancellingABuildStopsNixAndTheBuilderPromptly() async throws {
        try NixFixtures.requireNix()
        try await NixFixtures.withFlake(.slow) { flake in
            let nix = self.nix
            let sleeping = Mutex(false)
            let build = Task {
                try await nix.build(
                    installable: flake.installable, workingDirectory: flake.directory,
                    outLink: flake.suggestedOutLink, log: { line in
                        if line.contains("sleeping until stopped") { sleeping.withLock { $0 = true } }
                    })
            }
            let builderStarted = await eventually(timeout: .seconds(30)) { flake.builderPIDs() != nil }
            try #require(builderStarted, "the slow builder never wrote its PIDs")
            let pids = try #require(flake.builderPIDs())
            #expect(pids.allSatisfy { !processIsGone($0) })
            // The builder's own word that it waits, through nix's log: the build is under way.
            #expect(await eventually(timeout: .seconds(30)) { sleeping.withLock { $0 } }, "nix never passed on the builder's log")

            await expectCancellationStops(build, processes: pids, within: .seconds(30))
            #expect(!FileManager.default.fileExists(atPath: flake.suggestedOutLink.path))
        }
    }

    @Test func madeUpStorePathIsNotValid() async throws {
        try NixFixtures.requireNix()
        #expect(await !nix.isValid(storePath: "/nix/store/00000000000000000000000000000000-sutradhar-nothing"))
    }

    @Test func evaluationOfAMissingAttributeFails() async throws {
        try NixFixtures.requireNix()
        try await NixFixtures.withFlake(.succeeding) { flake in
            let error = await #expect(throws: NixError.self) {
                try await nix.derivationPath(installable: ".#no-such-attribute", workingDirectory: flake.directory)
            }
            #expect(error?.code == .evalFailed)
            #expect(error?.message.contains("no-such-attribute") == true)
        }
    }

    /// A checkout in a plain folder inside another git repository: given `.#fixture`, nix alone
    /// would take the flake from the outer repository (where flake.nix is not even tracked).
    @Test func untrackedFlakeInsideAnEnclosingGitRepositoryBuilds() async throws {
        try NixFixtures.requireNix()
        let root = try NixFixtures.makeTemporaryDirectory(prefix: "sutradhar-nix-nested")
        defer { try? FileManager.default.removeItem(at: root) }
        try runTool(["git", "init", "-q", "."], in: root)
        try "outer repository\n".write(to: root.appendingPathComponent("README"), atomically: true, encoding: .utf8)
        try runTool(["git", "add", "README"], in: root)
        try runTool(["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid",
                     "commit", "-q", "-m", "outer"], in: root)
        let checkout = root.appendingPathComponent("checkouts/abc123")
        _ = try NixFixtures.writeFlake(.succeeding, into: checkout, pidFile: root.appendingPathComponent("pid"))

        let result = try await nix.build(
            installable: ".#\(NixFixtures.attribute)", workingDirectory: checkout,
            outLink: root.appendingPathComponent("result"), log: { _ in })
        let output = try #require(result.outputs["out"])
        #expect(try String(contentsOfFile: output, encoding: .utf8) == NixFixtures.successOutput)
    }
}
