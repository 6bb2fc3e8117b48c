import Foundation
import SutradharTesting
import Testing

/// The cache as users meet it: the real `sutradhar` executable, real git repositories, real nix
/// builds and the rootless daemon. `.serialized`: the suites share the daemon and the 2 cores.
@Suite(.serialized) struct CacheEndToEndTests {
    // MARK: nix only

    @Test(.requiresNix) func killDuringANixBuildStopsItsNixWithoutAnotherRunAndTheRerunPasses() async throws {
        try NixFixtures.requireNix()
        let workspace = try CacheWorkspace.make(holdingTheFirstBuild: true)
        defer { workspace.remove(dockerHost: nil) }
        let pipeline = try workspace.pipeline("killed", docker: false)

        let first = try workspace.start(pipeline)
        #expect(await first.waitForOutput(containing: "cache-e2e: building slowly", timeout: .seconds(60)), "the build never started")
        // The run's record of its nix (it names the process the watchdog must stop).
        let locks = workspace.cache.appendingPathComponent("locks")
        let record = try FileManager.default.contentsOfDirectory(atPath: locks.path).first { $0.hasSuffix(".pid") }
        let orphanPID = try record.flatMap { try String(contentsOf: locks.appendingPathComponent($0), encoding: .utf8) }
            .flatMap { $0.split(separator: " ").first.flatMap { Int32($0) } }
        let orphan = try #require(orphanPID, "no record of the run's nix")
        #expect(!processIsGone(orphan), "the run's nix should be building (its build is held)")

        let killed = ContinuousClock.now
        first.signal(SIGKILL)
        _ = await first.finish(timeout: .seconds(10))
        // Nothing else runs: nix must notice its parent died by itself. The build is still held,
        // so without the watchdog it would run for two more minutes. 10 s: the watchdog's grace
        // (3 s) plus a generous margin for a loaded 2-core machine.
        let stopped = await eventually(timeout: .seconds(10)) { processIsGone(orphan) }
        print("nix \(orphan) gone \(killed.duration(to: .now)) after the kill -9 of its run")
        #expect(stopped, "the killed run's nix \(orphan) still runs")
        #expect(workspace.entryFiles(kind: "nix-build").isEmpty, "a killed build left an entry: \(workspace.entryFiles(kind: "nix-build"))")
        let roots = (try? FileManager.default.contentsOfDirectory(atPath: workspace.cache.appendingPathComponent("nix/roots").path)) ?? []
        #expect(roots.isEmpty, "the killed build left GC roots: \(roots)")

        // The rerun builds again (its own build is not held) and finds nothing left to stop.
        let rerun = try await workspace.run(pipeline)
        #expect(rerun.exitCode == 0, rerun.diagnosis)
        #expect(rerun.cached("image") == false)
        #expect(!rerun.stdout.contains("stopped nix (pid \(orphan))"), rerun.diagnosis)
        #expect(workspace.entryFiles(kind: "nix-build").count == 1)
        // And the entry it made is whole: the next run trusts it.
        let third = try await workspace.run(pipeline)
        #expect(third.exitCode == 0 && third.cached("image") == true, third.diagnosis)
    }

    @Test(.requiresNix, .requiresRoot) func aFullCacheDiskGivesAClearErrorNamingTheRootAndNoPartialEntry() async throws {
        try NixFixtures.requireNix()
        let workspace = try CacheWorkspace.make()
        defer { workspace.remove(dockerHost: nil) }
        let pipeline = try workspace.pipeline("full", docker: false)
        try FileManager.default.createDirectory(at: workspace.cache, withIntermediateDirectories: true)
        try mountTmpfs(at: workspace.cache, size: "2m")
        defer { _ = try? runTool("/bin/umount", ["-l", workspace.cache.path]) }

        let first = try await workspace.run(pipeline)
        #expect(first.exitCode == 0, first.diagnosis)
        let filler = workspace.cache.appendingPathComponent("filler")
        _ = try? runTool("/bin/dd", ["if=/dev/zero", "of=\(filler.path)", "bs=4k"])  // until the disk is full

        let full = try await workspace.run(pipeline, ["--no-cache"])
        #expect(full.exitCode != 0, full.diagnosis)
        let problem = (full.summary?["environment_problem"] as? String) ?? full.stage("image")?["error"] as? String
            ?? full.stage("checkout")?["error"] as? String ?? full.stderr
        #expect(problem.contains(workspace.cache.path), "the error does not name the cache root: \(problem)")
        #expect(problem.contains("full"), "the error does not say the disk is full: \(problem)")
        let files = workspace.entryFiles(kind: "nix-build")
        #expect(!files.contains { $0.hasPrefix(".") }, "temporary files left: \(files)")

        try FileManager.default.removeItem(at: filler)
        let after = try await workspace.run(pipeline)
        #expect(after.exitCode == 0, after.diagnosis)
        let verified = try await workspace.cacheCommand(["verify"])
        #expect((verified["dropped"] as? [Any])?.isEmpty == true, "verify found broken entries: \(verified)")
    }

    @Test(.requiresNix) func clearIsRefusedDuringARunAndAfterwardsEmptiesTheCacheButKeepsTheHistory() async throws {
        try NixFixtures.requireNix()
        let workspace = try CacheWorkspace.make(holdingTheFirstBuild: true)
        defer { workspace.remove(dockerHost: nil) }
        let pipeline = try workspace.pipeline("cleared", docker: false)

        let live = try workspace.start(pipeline)
        #expect(await live.waitForOutput(containing: "cache-e2e: building slowly", timeout: .seconds(60)), "the build never started")
        let refused = try await SutradharCLI.run(["cache", "clear", "--cache-dir", workspace.cache.path], timeout: .seconds(60))
        workspace.releaseTheHeldBuild()
        #expect(refused.exitCode == 3, "cache clear during a run: exit \(refused.exitCode), \(refused.stderr)")
        let finished = await live.finish(timeout: .seconds(120))
        #expect(finished.exitCode == 0, "the run was disturbed: \(finished.stdout)\n\(finished.stderr)")

        let cleared = try await workspace.cacheCommand(["clear"])
        #expect(cleared["entries"] as? Int == 2, "\(cleared)")  // the checkout and the build
        #expect((try await workspace.cacheCommand(["ls"])["entries"] as? [Any])?.isEmpty == true)
        #expect(FileManager.default.fileExists(atPath: workspace.cache.path))
        let history = try await SutradharCLI.run(["runs", "ls", "--json", "--cache-dir", workspace.cache.path], timeout: .seconds(60))
        #expect(history.stdout.contains(#""pipeline":"cleared""#), "the history went with the cache: \(history.stdout)")

        let rerun = try await workspace.run(pipeline)
        #expect(rerun.exitCode == 0 && rerun.cached("image") == false, rerun.diagnosis)
    }

    // MARK: nix and Docker

    @Test(.requiresNix, .requiresDocker) func rerunOfTheSameCommitIsCachedAndNoCacheRunsTheWorkAgain() async throws {
        try NixFixtures.requireNix()
        let host = try requireDockerHost()
        let workspace = try CacheWorkspace.make()
        defer { workspace.remove(dockerHost: host) }
        let pipeline = try workspace.pipeline("rerun", docker: true)

        let first = try await workspace.run(pipeline, ["--docker-host", host])
        #expect(first.exitCode == 0, first.diagnosis)
        #expect(first.cached("image") == false && first.cached("load") == false)
        #expect(first.stage("load")?["outputs"].flatMap { ($0 as? [String: Any])?["loaded"] as? Bool } == true)

        let second = try await workspace.run(pipeline, ["--docker-host", host])
        #expect(second.exitCode == 0, second.diagnosis)
        for stage in ["checkout", "image", "load"] {
            #expect(second.cached(stage) == true, "\(stage) was not cached on the rerun")
        }

        let noCache = try await workspace.run(pipeline, ["--docker-host", host, "--no-cache"])
        #expect(noCache.exitCode == 0, noCache.diagnosis)
        #expect(noCache.cached("image") == false && noCache.cached("smoke") == false)
        #expect(noCache.events.contains { $0["event"] as? String == "log" && ($0["line"] as? String)?.hasPrefix("nix build") == true },
                "--no-cache did not run nix")

        let listed = try await workspace.cacheCommand(["ls"])
        let kinds = Set((listed["entries"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String })
        #expect(kinds == ["checkout", "nix-build", "docker-load", "smoke"])
    }

    @Test(.requiresNix, .requiresDocker) func aNewCommitWhoseImageIsUnchangedIsEvaluatedButNotLoadedAgain() async throws {
        try NixFixtures.requireNix()
        let host = try requireDockerHost()
        let workspace = try CacheWorkspace.make()
        defer { workspace.remove(dockerHost: host) }
        let pipeline = try workspace.pipeline("unchanged", docker: true)
        let first = try await workspace.run(pipeline, ["--docker-host", host])
        #expect(first.exitCode == 0, first.diagnosis)

        // A file the image is not built from: a new tree, the same derivation.
        try workspace.repository.commit("docs only", files: ["NOTES.md": "not part of the image\n"])
        let second = try await workspace.run(pipeline, ["--docker-host", host])
        #expect(second.exitCode == 0, second.diagnosis)
        #expect(second.summary?["commit"] as? String != first.summary?["commit"] as? String)
        #expect(second.cached("image") == false, "a new tree must be evaluated by nix")
        #expect(second.events.contains { $0["event"] as? String == "log" && ($0["line"] as? String)?.hasPrefix("nix build") == true })
        let output = { (result: SutradharCLI.Result, stage: String, key: String) in
            result.stage(stage).flatMap { ($0["outputs"] as? [String: Any])?[key] }
        }
        #expect(output(second, "image", "out") as? String == output(first, "image", "out") as? String, "the store path changed")
        #expect(second.cached("load") == true && output(second, "load", "loaded") as? Bool == false, "the unchanged image was sent again")
        #expect(second.cached("smoke") == true, "the same image's smoke verdict was not reused")
    }

    @Test(.requiresNix, .requiresDocker) func duShowsWhereTheSpaceWentByKindAndPipelineAndLsFilters() async throws {
        try NixFixtures.requireNix()
        let host = try requireDockerHost()
        let workspace = try CacheWorkspace.make()
        defer { workspace.remove(dockerHost: host) }
        let alpha = try await workspace.run(try workspace.pipeline("alpha", docker: true), ["--docker-host", host])
        #expect(alpha.exitCode == 0, alpha.diagnosis)
        try workspace.commitNewImage()
        let beta = try await workspace.run(try workspace.pipeline("beta", docker: false))
        #expect(beta.exitCode == 0, beta.diagnosis)

        let usage = try await workspace.cacheCommand(["du"])
        let kinds = Dictionary(uniqueKeysWithValues: (usage["kinds"] as? [[String: Any]] ?? []).compactMap { kind in
            (kind["kind"] as? String).map { ($0, kind) }
        })
        let bytes = { (kind: String) in (kinds[kind]?["bytes"] as? NSNumber)?.int64Value ?? -1 }
        let entries = { (kind: String) in kinds[kind]?["entries"] as? Int ?? -1 }
        #expect(Set(kinds.keys) == ["mirrors", "checkouts", "nix-build", "docker-load", "smoke", "index", "runs", "other"], "\(usage)")
        #expect(entries("mirrors") == 1 && entries("checkouts") == 2 && entries("nix-build") == 2, "\(usage)")
        #expect(entries("docker-load") == 1 && entries("smoke") == 1, "\(usage)")
        #expect(bytes("checkouts") > 0 && bytes("nix-build") > 0 && bytes("runs") > 0 && bytes("index") > 0, "\(usage)")
        // A load is counted at its image's size in the daemon, as the daemon reports it.
        let image = try #require(alpha.stage("load").flatMap { ($0["outputs"] as? [String: Any])?["image"] as? String })
        let daemonSize = Int64(try docker(["image", "inspect", "--format", "{{.Size}}", image], host: host))
        #expect(daemonSize != nil && bytes("docker-load") == daemonSize, "\(usage)")
        // nix-build entries are sized by their store paths; the closure is what their roots keep alive.
        let closure = (kinds["nix-build"]?["closure_bytes"] as? NSNumber)?.int64Value ?? -1
        // Entries are sized as disk blocks (du), closures as nix's NAR sizes: a file's blocks can
        // exceed its NAR by up to one 4 KiB block (an 80-byte change to the example image was
        // enough to tip it).
        #expect(closure >= bytes("nix-build") - 4096 * Int64(entries("nix-build")), "\(usage)")

        // Per pipeline: what each one's entries take, as `cache ls` lists them.
        let pipelines = Dictionary(uniqueKeysWithValues: (usage["pipelines"] as? [[String: Any]] ?? []).compactMap { part in
            (part["pipeline"] as? String).map { ($0, part) }
        })
        #expect(pipelines["alpha"]?["entries"] as? Int == 4 && pipelines["beta"]?["entries"] as? Int == 2, "\(usage)")
        for name in ["alpha", "beta"] {
            let listed = try await workspace.cacheCommand(["ls", "--pipeline", name])
            let listedEntries = listed["entries"] as? [[String: Any]] ?? []
            let listedBytes = listedEntries.reduce(Int64(0)) { $0 + (($1["size_bytes"] as? NSNumber)?.int64Value ?? 0) }
            #expect(listedEntries.allSatisfy { $0["pipeline"] as? String == name })
            #expect((pipelines[name]?["bytes"] as? NSNumber)?.int64Value == listedBytes, "\(name): \(listed)")
        }
        let loads = try await workspace.cacheCommand(["ls", "--kind", "docker-load"])
        #expect((loads["entries"] as? [[String: Any]])?.map { ($0["outputs"] as? [String: Any])?["image"] as? String } == [image])

        let text = try await SutradharCLI.run(["cache", "du", "--cache-dir", workspace.cache.path], timeout: .seconds(60))
        #expect(text.exitCode == 0)
        #expect(text.stdout.contains("by kind:") && text.stdout.contains("by pipeline:"), "\(text.stdout)")
        #expect(text.stdout.contains("the images live in the daemon"), "\(text.stdout)")
    }

    @Test(.requiresNix, .requiresDocker) func verifyDropsEntriesWhoseContentIsGoneAndTheRerunRedoesThatWork() async throws {
        try NixFixtures.requireNix()
        let host = try requireDockerHost()
        let workspace = try CacheWorkspace.make()
        defer { workspace.remove(dockerHost: host) }
        let pipeline = try workspace.pipeline("verified", docker: true)
        let first = try await workspace.run(pipeline, ["--docker-host", host])
        #expect(first.exitCode == 0, first.diagnosis)
        let image = try #require(first.stage("load").flatMap { ($0["outputs"] as? [String: Any])?["image"] as? String })

        // What the entries point at goes away behind the cache's back.
        for area in ["checkouts", "nix/roots"] {
            let folder = workspace.cache.appendingPathComponent(area)
            for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
                try FileManager.default.removeItem(at: folder.appendingPathComponent(name))
            }
        }
        try docker(["rmi", "-f", image], host: host)

        let verified = try await workspace.cacheCommand(["verify", "--docker-host", host])
        let dropped = verified["dropped"] as? [[String: Any]] ?? []
        let reasons = Dictionary(uniqueKeysWithValues: dropped.compactMap { entry in
            (entry["kind"] as? String).map { ($0, entry["reason"] as? String ?? "") }
        })
        #expect(Set(reasons.keys) == ["checkout", "nix-build", "docker-load"], "\(verified)")
        #expect(reasons["checkout"]?.contains("checkout folder is missing") == true, "\(reasons)")
        #expect(reasons["nix-build"]?.contains("no GC root") == true, "\(reasons)")
        #expect(reasons["docker-load"] == "the daemon no longer has \(image)", "\(reasons)")
        #expect(workspace.entryFiles(kind: "checkout").isEmpty && workspace.entryFiles(kind: "nix-build").isEmpty)
        #expect(workspace.entryFiles(kind: "docker-load").isEmpty)

        // Nothing stale is trusted: the rerun checks out, builds and loads again, and passes.
        let rerun = try await workspace.run(pipeline, ["--docker-host", host])
        #expect(rerun.exitCode == 0, rerun.diagnosis)
        #expect(rerun.cached("checkout") == false && rerun.cached("image") == false, rerun.diagnosis)
        #expect(rerun.stage("load").flatMap { ($0["outputs"] as? [String: Any])?["loaded"] as? Bool } == true)
        let again = try await workspace.cacheCommand(["verify", "--docker-host", host])
        #expect((again["dropped"] as? [Any])?.isEmpty == true, "\(again)")
    }

    @Test(.requiresNix, .requiresDocker) func twoConcurrentRunsOfOneCommitBuildAndLoadOnce() async throws {
        try NixFixtures.requireNix()
        let host = try requireDockerHost()
        let workspace = try CacheWorkspace.make(holdingTheFirstBuild: true)
        defer { workspace.remove(dockerHost: host) }
        let pipeline = try workspace.pipeline("twice", docker: true)

        let runs = try (0..<2).map { _ in try workspace.start(pipeline, ["--docker-host", host]) }
        // The build is held until one run says it waits for the other's.
        let waiting = "\"event\":\"stage-waiting\""
        let oneWaits = await eventually(timeout: .seconds(120)) { runs.contains { $0.stdoutSoFar.contains(waiting) } }
        workspace.releaseTheHeldBuild()
        #expect(oneWaits, "neither run waited for the other's build")
        var results: [SutradharCLI.Result] = []
        for run in runs { results.append(await run.finish(timeout: .seconds(240))) }
        for result in results { #expect(result.exitCode == 0, result.diagnosis) }

        let builds = results.flatMap { $0.finished("image") }.filter { $0["cached"] as? Bool == false }
        #expect(builds.count == 1, "nix built \(builds.count) times")
        let loads = results.flatMap { $0.finished("load") }.filter { (($0["outputs"] as? [String: Any])?["loaded"] as? Bool) == true }
        #expect(loads.count == 1, "the image was sent \(loads.count) times")
        let waited = results.flatMap(\.events).contains { $0["event"] as? String == "stage-waiting" && $0["stage"] as? String == "image" }
        #expect(waited, "the second run did not wait for the first one's build")
    }

    @Test(.requiresNix, .requiresDocker) func gcWhileARunReadsAnEntryShrinksTheRestAndTheRunPasses() async throws {
        try NixFixtures.requireNix()
        let host = try requireDockerHost()
        let workspace = try CacheWorkspace.make()
        defer { workspace.remove(dockerHost: host) }
        let pipeline = try workspace.pipeline("gc", docker: true, probeDelay: 6)  // room for gc on a loaded machine
        let old = try await workspace.run(pipeline, ["--docker-host", host])
        #expect(old.exitCode == 0, old.diagnosis)
        let oldImage = old.stage("load").flatMap { ($0["outputs"] as? [String: Any])?["image"] as? String }
        defer { if let oldImage { _ = try? docker(["rmi", "-f", oldImage], host: host) } }
        try workspace.commitNewImage()
        let current = try await workspace.run(pipeline, ["--docker-host", host])
        #expect(current.exitCode == 0, current.diagnosis)

        // A cached rerun of the current commit holds its entries while its smoke stage runs
        // (the smoke stage's own passing verdict is forgotten, so that it really runs).
        try? FileManager.default.removeItem(at: workspace.cache.appendingPathComponent("entries/smoke"))
        let reader = try workspace.start(pipeline, ["--docker-host", host])
        #expect(await reader.waitForOutput(containing: "\"stage\":\"smoke\",\"kind\":\"smoke\""), "the smoke stage never started")
        let gc = try await workspace.cacheCommand(["gc", "--max-size", "0"])
        let result = await reader.finish()
        #expect(result.exitCode == 0, result.diagnosis)
        #expect(result.cached("image") == true)

        let evicted = (gc["evicted"] as? [[String: Any]] ?? [])
        let held = (gc["in_use"] as? [[String: Any]] ?? [])
        let currentKey = result.stage("image").flatMap { ($0["outputs"] as? [String: Any])?["cache_key"] as? String }
        #expect(evicted.contains { $0["kind"] as? String == "nix-build" && $0["key"] as? String != currentKey }, "the old build was not evicted: \(gc)")
        #expect(held.contains { $0["key"] as? String == currentKey }, "the held build was not reported as in use: \(gc)")
        #expect(!evicted.contains { $0["key"] as? String == currentKey }, "gc evicted what a live run held")
        let heldBytes = held.reduce(Int64(0)) { $0 + (($1["size_bytes"] as? NSNumber)?.int64Value ?? 0) }
        #expect((gc["remaining_bytes"] as? NSNumber)?.int64Value == heldBytes)

        // Once the run is over, the same limit takes everything, and the next run rebuilds its entries.
        let after = try await workspace.cacheCommand(["gc", "--max-size", "0"])
        #expect((after["remaining_bytes"] as? NSNumber)?.int64Value == 0, "\(after)")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: workspace.cache.appendingPathComponent("nix/roots").path))?.isEmpty == true)
        let rebuilt = try await workspace.run(pipeline, ["--docker-host", host])
        #expect(rebuilt.exitCode == 0 && rebuilt.cached("image") == false, rebuilt.diagnosis)
    }

    @Test(.requiresNix) func aPipelinesCacheLimitsAreAppliedAfterItsRunAndReported() async throws {
        try NixFixtures.requireNix()
        let workspace = try CacheWorkspace.make()
        defer { workspace.remove(dockerHost: nil) }
        let pipeline = try workspace.pipeline("limited", docker: false, cache: "{ max-size: 1KiB }")
        let first = try await workspace.run(pipeline)
        #expect(first.exitCode == 0, first.diagnosis)
        let warning = first.warnings.first { $0.contains("cache limits of pipeline 'limited'") }
        #expect(warning?.contains("evicted") == true, "no eviction reported: \(first.warnings)")
        #expect(workspace.entryFiles(kind: "nix-build").isEmpty, "the build beyond max-size was kept")
    }

    @Test(.requiresNix, .requiresDocker) func aPipelinesCacheLimitsRemoveTheImageOfAnEvictedLoad() async throws {
        try NixFixtures.requireNix()
        let host = try requireDockerHost()
        let workspace = try CacheWorkspace.make()
        defer { workspace.remove(dockerHost: host) }
        let pipeline = try workspace.pipeline("limited-load", docker: true, cache: "{ max-size: 1KiB }")

        let run = try await workspace.run(pipeline, ["--docker-host", host])
        #expect(run.exitCode == 0, run.diagnosis)
        let image = try #require(run.stage("load").flatMap { ($0["outputs"] as? [String: Any])?["image"] as? String })
        let warning = run.warnings.first { $0.contains("cache limits of pipeline 'limited-load'") } ?? ""
        #expect(warning.contains("removed image \(image) from the daemon"), "\(run.warnings)")
        #expect(workspace.entryFiles(kind: "docker-load").isEmpty)
        #expect((try? docker(["image", "inspect", image], host: host)) == nil, "the evicted load's image is still in the daemon")
        #expect((try? docker(["image", "inspect", workspace.imageTag], host: host)) == nil, "its tag is still in the daemon")
    }

    @Test(.requiresNix, .requiresDocker) func anImageAnotherEntryStillNamesIsKeptWhenItsLoadIsEvicted() async throws {
        try NixFixtures.requireNix()
        let host = try requireDockerHost()
        let workspace = try CacheWorkspace.make()
        defer { workspace.remove(dockerHost: host) }
        let kept = try await workspace.run(try workspace.pipeline("unlimited", docker: true), ["--docker-host", host])
        #expect(kept.exitCode == 0, kept.diagnosis)

        // A new derivation (its build script differs by a comment) that builds the very same archive:
        // a second docker-load entry, of another pipeline, naming the same image.
        let script = workspace.repository.directory.appendingPathComponent("build-image.sh")
        let text = try String(contentsOf: script, encoding: .utf8) + "# the same image, from another derivation\n"
        try workspace.repository.commit("same image, new derivation", files: ["build-image.sh": text])
        let limited = try await workspace.run(try workspace.pipeline("limited", docker: true, cache: "{ max-size: 1KiB }"),
                                              ["--docker-host", host])
        #expect(limited.exitCode == 0, limited.diagnosis)
        let image = try #require(limited.stage("load").flatMap { ($0["outputs"] as? [String: Any])?["image"] as? String })
        #expect(kept.stage("load").flatMap { ($0["outputs"] as? [String: Any])?["image"] as? String } == image,
                "the fixture no longer builds the same image from both derivations")
        #expect(limited.cached("image") == false)

        let warning = limited.warnings.first { $0.contains("cache limits of pipeline 'limited'") } ?? ""
        #expect(warning.contains("image \(image) kept: another cache entry still names it"), "\(limited.warnings)")
        #expect(workspace.entryFiles(kind: "docker-load").count == 1, "the other pipeline's load entry went too")
        #expect((try? docker(["image", "inspect", image], host: host)) != nil, "the image another entry names was removed")
    }

    @Test(.requiresNix, .requiresDocker) func aContainerLeftByAKilledRunIsReapedByTheNextRun() async throws {
        try NixFixtures.requireNix()
        let host = try requireDockerHost()
        let workspace = try CacheWorkspace.make()
        defer { workspace.remove(dockerHost: host) }
        let slow = try workspace.pipeline("killed-smoke", docker: true, probeDelay: 60)

        let victim = try workspace.start(slow, ["--docker-host", host])
        #expect(await victim.waitForOutput(containing: "\"stage\":\"smoke\",\"stream\":\"stderr\",\"line\":\"started "), "the server never started")
        let firstLine = victim.stdoutSoFar.split(separator: "\n").first.map(String.init) ?? ""
        let runID = try #require((try? JSONSerialization.jsonObject(with: Data(firstLine.utf8)) as? [String: Any])?["run"] as? String)
        // Looked up while the run is alive, so no other run may reap them yet: this is what
        // the kill leaves behind (the test proves something whichever run reaps them).
        let left = try docker(["ps", "-a", "-q", "--filter", "label=dev.sutradhar.run=\(runID)"], host: host)
        #expect(!left.isEmpty, "the smoke stage's container was not found while its run was alive")
        victim.signal(SIGKILL)
        _ = await victim.finish(timeout: .seconds(10))
        defer { if !left.isEmpty { _ = try? docker(["rm", "-f"] + left.split(separator: "\n").map(String.init), host: host) } }

        let next = try await workspace.run(try workspace.pipeline("next", docker: true), ["--docker-host", host])
        #expect(next.exitCode == 0, next.diagnosis)
        // Any run on this host reaps a dead run's containers, so when suites run side by side another
        // test's run may have got there first: then the container is gone without this warning.
        let reapedHere = next.warnings.contains { $0.contains("removed container") && $0.contains(runID) }
        let reapedByNow = try docker(["ps", "-a", "-q", "--filter", "label=dev.sutradhar.run=\(runID)"], host: host).isEmpty
        #expect(reapedHere || reapedByNow, "no reaping reported: \(next.warnings)")
        let still = try docker(["ps", "-a", "-q", "--filter", "label=dev.sutradhar.run=\(runID)"], host: host)
        #expect(still.isEmpty, "the dead run's containers are still there: \(still)")
    }
}

// MARK: Helpers

/// Mounts a tmpfs of `size` at `folder` (tests that call it are marked `.requiresRoot`).
func mountTmpfs(at folder: URL, size: String) throws {
    try runTool("/bin/mount", ["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", folder.path])
}

/// Runs a short-lived tool, throwing with its stderr when it fails.
@discardableResult
func runTool(_ path: String, _ arguments: [String]) throws -> String {
    try DockerTestSupport.run(path, arguments)
}
