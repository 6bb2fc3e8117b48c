import BuildCache
import Engine
import Foundation
import RunEvents
import RunHistory
import SutradharTesting
import Testing

/// What `cache gc` removes beyond entries — images in the daemon, mirrors, run history — and a
/// load killed midway, through the real `sutradhar` executable, nix and the rootless daemon.
@Suite(.serialized) struct CacheGCEndToEndTests {
    @Test(.requiresNix, .requiresDocker) func gcRemovesTheImageAndTagOfAnEvictedLoadButNotOfAHeldOne() async throws {
        try NixFixtures.requireNix()
        let host = try requireDockerHost()
        let workspace = try CacheWorkspace.make()
        defer { workspace.remove(dockerHost: host) }
        let pipeline = try workspace.pipeline("images", docker: true)
        let run = try await workspace.run(pipeline, ["--docker-host", host])
        #expect(run.exitCode == 0, run.diagnosis)
        let image = try #require(run.stage("load").flatMap { ($0["outputs"] as? [String: Any])?["image"] as? String })
        let out = try #require(run.stage("image").flatMap { ($0["outputs"] as? [String: Any])?["out"] as? String })
        #expect(try docker(["image", "inspect", "-f", "{{.Id}}", workspace.imageTag], host: host) == image)

        // Held as a live run holds what it uses: the entry and its image stay.
        let reader = try BuildCache(root: workspace.cache)
        reader.hold(kind: "docker-load", key: CacheKey(["docker-load", out]))
        let whileHeld = try await workspace.cacheCommand(["gc", "--max-size", "0", "--docker-host", host])
        reader.releaseHolds()
        #expect((whileHeld["in_use"] as? [[String: Any]] ?? []).contains { $0["kind"] as? String == "docker-load" }, "\(whileHeld)")
        #expect((whileHeld["removed_images"] as? [Any])?.isEmpty == true, "\(whileHeld)")
        #expect(try docker(["image", "inspect", "-f", "{{.Id}}", image], host: host) == image, "the held entry's image was removed")

        let gc = try await workspace.cacheCommand(["gc", "--max-size", "0", "--docker-host", host])
        let removed = gc["removed_images"] as? [[String: Any]] ?? []
        #expect(removed.contains { $0["id"] as? String == image && ($0["untagged"] as? [String]) == [workspace.imageTag] }, "\(gc)")
        #expect(gc["images_not_removed"] is NSNull, "\(gc)")
        #expect(throws: (any Error).self, "the evicted entry's image is still in the daemon") {
            try docker(["image", "inspect", image], host: host)
        }
        #expect(throws: (any Error).self, "the evicted entry's tag is still in the daemon") {
            try docker(["image", "inspect", workspace.imageTag], host: host)
        }
    }

    @Test(.requiresNix) func gcRemovesTheMirrorOfASourceNoPipelineNamesAndKeepsANamedOne() async throws {
        try NixFixtures.requireNix()
        let workspace = try CacheWorkspace.make()
        defer { workspace.remove(dockerHost: nil) }
        let folder = workspace.root.appendingPathComponent("pipelines")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let pipeline = folder.appendingPathComponent("named.yaml")
        try Data("""
            version: 1
            name: named
            source: { git: ../repo, ref: main }
            nix:
              options: { substituters: "" }
            stages:
              image:
                nix-build: { installable: .#docker-image }

            """.utf8).write(to: pipeline)
        let other = workspace.root.appendingPathComponent("other")
        try runTool("/usr/bin/git", ["clone", "-q", workspace.repository.directory.path, other.path])

        #expect(try await workspace.run(pipeline).exitCode == 0)
        let elsewhere = try await workspace.run(pipeline, ["--source", other.path, "--commit", "main"])
        #expect(elsewhere.exitCode == 0, elsewhere.diagnosis)
        let mirrors = workspace.cache.appendingPathComponent("git/mirrors")
        func listed() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: mirrors.path)) ?? []).filter { $0.hasSuffix(".git") }.sorted()
        }
        #expect(listed().count == 2, "\(listed())")
        let unused = try #require(listed().first { $0.hasPrefix("other-") })
        let unusedPath = mirrors.appendingPathComponent(unused).path

        // Used just now: not older than --max-age.
        let recent = try await workspace.cacheCommand(["gc", "--max-age", "1d"])
        #expect((recent["removed_mirrors"] as? [Any])?.isEmpty == true, "\(recent)")

        // A run holding the mirror's lock keeps it.
        let descriptor = open(unusedPath + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        #expect(descriptor >= 0 && flock(descriptor, LOCK_EX) == 0)
        let busy = try await workspace.cacheCommand(["gc"])
        close(descriptor)
        #expect((busy["busy_mirrors"] as? [String]) == [unusedPath], "\(busy)")
        #expect(listed().count == 2)

        let gc = try await workspace.cacheCommand(["gc"])
        let removed = gc["removed_mirrors"] as? [[String: Any]] ?? []
        #expect(removed.map { $0["path"] as? String } == [unusedPath], "\(gc)")
        #expect(removed.first?["source"] as? String == other.path)
        #expect(listed().count == 1 && !listed().contains(unused), "\(listed())")
        let kept = try String(contentsOf: mirrors.appendingPathComponent(listed()[0]).appendingPathComponent("config"), encoding: .utf8)
        #expect(kept.contains(workspace.repository.directory.path), "the named source's mirror was removed")
        // And the pipeline still runs from the mirror it kept.
        #expect(try await workspace.run(pipeline).exitCode == 0)
    }

    @Test(.requiresNix, .requiresDocker) func killDuringALoadLeavesNoEntryAndTheRerunPasses() async throws {
        try NixFixtures.requireNix()
        let host = try requireDockerHost()
        let workspace = try CacheWorkspace.make()
        defer { workspace.remove(dockerHost: host) }
        let gate = try workspace.makeImageLoadWaitForItsGate()
        let pipeline = try workspace.pipeline("killed-load", docker: true)

        let victim = try workspace.start(pipeline, ["--docker-host", host])
        #expect(await victim.waitForOutput(containing: "streaming its archive to the daemon", timeout: .seconds(120)),
                "the load never started: \(victim.stdoutSoFar.suffix(2000))")
        victim.signal(SIGKILL)
        _ = await victim.finish(timeout: .seconds(10))
        #expect(workspace.entryFiles(kind: "docker-load").isEmpty, "a killed load left an entry: \(workspace.entryFiles(kind: "docker-load"))")

        try FileManager.default.removeItem(at: gate)
        let rerun = try await workspace.run(pipeline, ["--docker-host", host])
        #expect(rerun.exitCode == 0, rerun.diagnosis)
        #expect(rerun.cached("image") == true && rerun.cached("load") == false, rerun.diagnosis)
        #expect(workspace.entryFiles(kind: "docker-load").count == 1)
        let image = rerun.stage("load").flatMap { ($0["outputs"] as? [String: Any])?["image"] as? String }
        defer { if let image { _ = try? docker(["rmi", "-f", image], host: host) } }
        #expect(image != nil && (try? docker(["image", "inspect", "-f", "{{.Id}}", workspace.imageTag], host: host)) == image)
    }

    @Test func gcWithMaxAgePrunesOldRunsKeepingTheLastTwentyOfEachPipeline() async throws {
        let root = try NixFixtures.makeTemporaryDirectory(prefix: "sutradhar-gc-history")
        defer { try? FileManager.default.removeItem(at: root) }
        let history = try RunHistory(cacheRoot: root)
        let recorder = HistoryRecorder(history: history, trigger: "manual")
        let monthAgo = Date().addingTimeInterval(-30 * 86_400)
        for number in 0..<25 {
            recorder.record(RunEvent(run: "old-\(number)", .runStarted(pipeline: "old", source: "/src", ref: nil, cacheRoot: root.path),
                                     time: monthAgo.addingTimeInterval(Double(number))))
        }
        for number in 0..<3 {
            recorder.record(RunEvent(run: "new-\(number)", .runStarted(pipeline: "new", source: "/src", ref: nil, cacheRoot: root.path)))
        }

        let withoutAge = try await SutradharCLI.run(["cache", "gc", "--json", "--cache-dir", root.path])
        #expect(withoutAge.exitCode == 0, "\(withoutAge.stderr)")
        #expect(try history.runs(pipeline: "old", limit: 100).count == 25, "gc without --max-age pruned the history")

        let gc = try await SutradharCLI.run(["cache", "gc", "--max-age", "7d", "--json", "--cache-dir", root.path])
        #expect(gc.exitCode == 0, "\(gc.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(gc.stdout.utf8)) as? [String: Any])
        #expect((report["pruned_runs"] as? NSNumber)?.intValue == 5, "\(report)")
        let old = try history.runs(pipeline: "old", limit: 100).map(\.id)
        #expect(old.count == 20 && !old.contains("old-0") && old.contains("old-24"), "\(old)")
        #expect(try history.runs(pipeline: "new", limit: 100).count == 3)
    }
}

extension CacheWorkspace {
    /// Makes the image an executable (as a `streamLayeredImage` script is) that writes its
    /// archive only once the returned gate file is gone (or after 120 s), so a run can be killed
    /// while it loads, however slow the machine, and a later run loads at once.
    func makeImageLoadWaitForItsGate() throws -> URL {
        let gate = root.appendingPathComponent("load-gate")
        try Data().write(to: gate)
        let script = repository.directory.appendingPathComponent("build-image.sh")
        var text = try String(contentsOf: script, encoding: .utf8)
        let last = "gzip -n >\"$out\"\n"
        #expect(text.contains(last), "the example's build script changed; update this fixture")
        text = text.replacingOccurrences(of: last, with: """
            gzip -n >"$work/image.tar.gz"
            printf '#!/bin/sh\\ni=0; while [ -e "\(gate.path)" ] && [ "$i" -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done\\nexec tail -n +4 "$0"\\n' >"$out"
            cat "$work/image.tar.gz" >>"$out"
            chmod +x "$out"

            """)
        try text.write(to: script, atomically: true, encoding: .utf8)
        _ = try repository.git("commit", "-q", "-am", "a slow image script")
        return gate
    }
}
