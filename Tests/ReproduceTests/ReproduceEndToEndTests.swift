import Foundation
import Reproduce
import RunHistory
import SutradharTesting
import Testing

/// `sutradhar reproduce` end to end, with fixture flakes whose image is deterministic or made
/// non-deterministic in one of four ways: each must be found, with the differing file named
/// inside the image tarball's layer, and the exit code must say which it was.
@Suite(.serialized, .requiresNix) struct ReproduceEndToEndTests {
    /// Runs `sutradhar reproduce PIPELINE --json` over a fresh repository holding `variant`'s flake.
    func reproduce(_ variant: ReproducibilityFixtures.Variant, in workspace: Workspace,
                   environment: [String: String] = [Diffoscope.environmentVariable: "off"],
                   extra: [String] = []) async throws -> SutradharCLI.Result {
        let repository = try GitFixtureRepository(at: workspace.root.appendingPathComponent("repo"))
        try ReproducibilityFixtures.commit(variant, to: repository)
        let pipeline = try workspace.writePipeline(ReproducibilityFixtures.pipeline(repository: repository.directory))
        return try await workspace.sutradhar(["reproduce", pipeline, "--json"] + extra, environment: environment, timeout: .seconds(600))
    }

    @Test func deterministicImageIsReportedReproducible() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let result = try await reproduce(.deterministic, in: workspace)
            #expect(result.exitCode == 0, "\(result.stderr)\n\(result.stdout.suffix(3000))")
            let outputs = try #require(result.stage("image")?["outputs"] as? [String: Any], "\(result.stdout.suffix(2000))")
            #expect(outputs["reproducible"] as? Bool == true)
            let hash = try #require(outputs["out_hash"] as? String)
            #expect(hash.hasPrefix("sha256"))
            #expect(outputs["rebuild_hash"] as? String == hash)
            #expect(result.summary?["status"] as? String == "passed")
            #expect(workspace.cacheContents("nix/roots").allSatisfy { !$0.hasPrefix("reproduce-") })
        }
    }

    @Test(arguments: [ReproducibilityFixtures.Variant.timestamp, .randomBytes, .fileOrder, .environment])
    func nonDeterministicImageIsReportedWithTheDifferingFileInsideItsLayer(_ variant: ReproducibilityFixtures.Variant) async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let result = try await reproduce(variant, in: workspace)
            #expect(result.exitCode == 1, "\(result.stderr)\n\(result.stdout.suffix(3000))")
            let stage = try #require(result.stage("image"), "\(result.stdout.suffix(2000))")
            #expect(stage["code"] as? String == "not-reproducible")
            let outputs = try #require(stage["outputs"] as? [String: Any])
            #expect(outputs["reproducible"] as? Bool == false)
            #expect(outputs["out_hash"] as? String != outputs["rebuild_hash"] as? String)
            let files = try #require(outputs["differing_files"] as? [String])
            let expected = try #require(variant.differingFile)
            // Named inside the layer (paired by position although the layer folders are named by
            // their digests), not "the tarball differs".
            #expect(files.contains { $0.hasPrefix("layer 1 of 1 (") && $0.contains(": \(expected)") }, "\(files)")
            // Without diffoscope: the file-level report and the hint to install it.
            #expect((outputs["hint"] as? String)?.contains("diffoscope") == true)
            let report = try #require(outputs["report"] as? String)
            #expect(report.hasPrefix(workspace.cache.appendingPathComponent("runs").path))
            let text = try String(contentsOfFile: report, encoding: .utf8)
            #expect(text.contains(expected))
            // The second output was held only until the report was written.
            #expect(workspace.cacheContents("nix/roots").allSatisfy { !$0.hasPrefix("reproduce-") })
        }
    }

    @Test(.enabled(if: Diffoscope.locate(environment: ProcessInfo.processInfo.environment) != nil || TestEnvironment.isCI,
                   "diffoscope is not installed and CI is not set"))
    func diffoscopeReportsAreKeptInTheRunFolderWhenItIsInstalled() async throws {
        try NixFixtures.requireNix()
        _ = try #require(Diffoscope.locate(environment: ProcessInfo.processInfo.environment),
                         "diffoscope is required here (scripts/setup.sh installs diffoscope-minimal)")
        try await Workspace.with { workspace in
            let result = try await reproduce(.timestamp, in: workspace, environment: [:], extra: ["--html"])
            #expect(result.exitCode == 1, "\(result.stderr)")
            let outputs = try #require(result.stage("image")?["outputs"] as? [String: Any])
            let text = try #require(outputs["diffoscope_report"] as? String, "\(outputs)")
            let html = try #require(outputs["diffoscope_html"] as? String)
            #expect(outputs["hint"] == nil)
            #expect(try String(contentsOfFile: text, encoding: .utf8).contains("built-at"))
            #expect(FileManager.default.fileExists(atPath: html))
        }
    }

    @Test func pipelineWithNothingToCheckIsRefused() async throws {
        try await Workspace.with { workspace in
            let pipeline = try workspace.writePipeline("""
                version: 1
                name: nothing
                source: { path: . }
                stages:
                  hello:
                    container: { image: "busybox:latest", command: [true] }

                """)
            let result = try await workspace.sutradhar(["reproduce", pipeline])
            #expect(result.exitCode == 2, "\(result.stderr)")
            #expect(result.stderr.contains("nothing to reproduce"))
        }
    }

    /// A fake diffoscope that records its PID and sleeps: the check is interrupted while it runs,
    /// which is when the second output's GC root exists.
    @Test func cancelledCheckLeavesNoGCRootAndNoProcess() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let pidFile = workspace.state.appendingPathComponent("diffoscope.pid")
            let fake = workspace.root.appendingPathComponent("slow-diffoscope")
            try "#!/bin/sh\necho $$ > '\(pidFile.path)'\nexec sleep 300\n".write(to: fake, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: fake.path)
            let repository = try GitFixtureRepository(at: workspace.root.appendingPathComponent("repo"))
            try ReproducibilityFixtures.commit(.randomBytes, to: repository)
            let pipeline = try workspace.writePipeline(ReproducibilityFixtures.pipeline(repository: repository.directory))
            let invocation = try SutradharCLI.start(["reproduce", pipeline, "--json", "--cache-dir", workspace.cache.path],
                                                    environment: [Diffoscope.environmentVariable: fake.path],
                                                    workingDirectory: workspace.root)
            let started = await eventually(timeout: .seconds(300)) { FileManager.default.fileExists(atPath: pidFile.path) }
            try #require(started, "the fake diffoscope never ran: \(invocation.stderrSoFar)\n\(invocation.stdoutSoFar.suffix(2000))")
            let text = try String(contentsOf: pidFile, encoding: .utf8)
            let pid = try #require(Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)))
            // While the report is being written, the second output is held by a GC root.
            #expect(workspace.cacheContents("nix/roots").contains { $0.hasPrefix("reproduce-") })
            invocation.signal(SIGINT)
            let result = await invocation.finish()
            #expect(result.exitCode == 130, "\(result.stderr)")
            #expect(workspace.cacheContents("nix/roots").allSatisfy { !$0.hasPrefix("reproduce-") })
            let gone = await eventually(timeout: .seconds(10)) { processIsGone(pid) }
            #expect(gone, "the diffoscope process \(pid) outlived the cancelled check")
        }
    }

    /// Interrupted while nix rebuilds: the builder and its child are stopped, and nothing is kept.
    @Test func checkInterruptedDuringTheRebuildLeavesNoBuilderAndNoGCRoot() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let state = try workspace.stateFolder()
            let repository = try GitFixtureRepository(at: workspace.root.appendingPathComponent("repo"))
            try ReproducibilityFixtures.commit(.slowRebuild, to: repository, stateFolder: state)
            let pipeline = try workspace.writePipeline(ReproducibilityFixtures.pipeline(repository: repository.directory))
            let invocation = try SutradharCLI.start(["reproduce", pipeline, "--json", "--cache-dir", workspace.cache.path],
                                                    environment: [Diffoscope.environmentVariable: "off"],
                                                    workingDirectory: workspace.root)
            let pidFile = state.appendingPathComponent("rebuild.pid")
            let started = await eventually(timeout: .seconds(300)) { FileManager.default.fileExists(atPath: pidFile.path) }
            try #require(started, "the second build never started: \(invocation.stderrSoFar)\n\(invocation.stdoutSoFar.suffix(2000))")
            let pids = try String(contentsOf: pidFile, encoding: .utf8).split(separator: "\n").compactMap { Int32($0) }
            try #require(pids.count == 2)
            #expect(pids.allSatisfy { !processIsGone($0) }, "the builder should be running now")
            invocation.signal(SIGINT)
            let result = await invocation.finish()
            #expect(result.exitCode == 130, "\(result.stderr)")
            for pid in pids {
                let gone = await eventually(timeout: .seconds(10)) { processIsGone(pid) }
                #expect(gone, "builder process \(pid) outlived the cancelled check")
            }
            #expect(workspace.cacheContents("nix/roots").allSatisfy { !$0.hasPrefix("reproduce-") })
        }
    }

    @Test func missingNixIsAnEnvironmentProblem() async throws {
        try await Workspace.with { workspace in
            let repository = try GitFixtureRepository(at: workspace.root.appendingPathComponent("repo"))
            try ReproducibilityFixtures.commit(.deterministic, to: repository)
            let pipeline = try workspace.writePipeline(ReproducibilityFixtures.pipeline(repository: repository.directory))
            let empty = workspace.root.appendingPathComponent("empty-path")
            try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
            let result = try await workspace.sutradhar(["reproduce", pipeline, "--json"], environment: ["PATH": empty.path])
            #expect(result.exitCode == 3, "\(result.stderr)")
            #expect((result.summary?["environment_problem"] as? String)?.contains("nix was not found") == true)
        }
    }

    /// The reports live in the run's folder: pruning the run from the history (what `cache gc
    /// --max-age` does) removes them with its logs.
    @Test func reportsAgeWithTheirRun() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let result = try await reproduce(.randomBytes, in: workspace)
            let outputs = try #require(result.stage("image")?["outputs"] as? [String: Any], "\(result.stderr)")
            let report = try #require(outputs["report"] as? String)
            #expect(FileManager.default.fileExists(atPath: report))
            let pruned = try RunHistory(cacheRoot: workspace.cache).prune(olderThan: .zero, keepingLast: 0)
            #expect(pruned.count == 1)
            #expect(!FileManager.default.fileExists(atPath: report))
        }
    }
}
