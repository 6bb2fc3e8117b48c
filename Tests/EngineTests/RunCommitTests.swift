import Foundation
import SutradharTesting
import Testing

/// `sutradhar run` of a nix-only pipeline at a commit of a real flake repository: the JSON event
/// stream, the persistent mirror, the build cache and ref resolution.
@Suite(.serialized, .requiresNix)
struct RunCommitTests {
    /// The one stage of the nix-only pipeline: the example flake's image.
    static let imageStage = [(name: "image", installable: ".#docker-image", needs: [String]())]

    @Test func nixOnlyRunAtACommitPassesAndReportsTheCommitAndStorePath() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let repository = try ExampleRepository.make(at: workspace.root.appendingPathComponent("hello-server"))
            let sha = try repository.head()
            // A second commit on main, so building the first one is really "at a commit", not HEAD.
            try repository.commit("later", files: ["NOTES": "a later commit\n"])
            let definition = try workspace.writePipeline(nixPipeline(repository: repository.directory, stages: Self.imageStage))

            let result = try await workspace.sutradhar(["run", definition, "--json", "--source", repository.directory.path, "--commit", sha])

            #expect(result.exitCode == 0, "\(result.transcript)")
            expectEveryLineIsAnEvent(result)
            let summary = try #require(result.summary, "\(result.transcript)")
            #expect(summary["commit"] as? String == sha)
            #expect(summary["status"] as? String == "passed")
            #expect(result.stageNames == ["checkout", "image"])
            #expect(result.stage("checkout")?["status"] as? String == "passed")
            #expect(result.output("commit", of: "checkout") as? String == sha)
            #expect(result.stage("image")?["status"] as? String == "passed")
            #expect(result.stage("image")?["kind"] as? String == "nix-build")
            let out = try #require(result.output("out", of: "image") as? String)
            #expect(out.hasPrefix("/nix/store/"))
            #expect(FileManager.default.fileExists(atPath: out))
            // The first event is run-started; each stage started before it finished.
            #expect(result.events.first?["event"] as? String == "run-started")
            for stage in ["checkout", "image"] {
                let started = try #require(result.time(of: "stage-started", stage: stage))
                let finished = try #require(result.time(of: "stage-finished", stage: stage))
                #expect(started <= finished)
            }
        }
    }

    @Test func definitionGitSourceAndRefBuildTheBranchHead() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let repository = try ExampleRepository.make(at: workspace.root.appendingPathComponent("hello-server"))
            let head = try repository.commit("second", files: ["NOTES": "second\n"])
            let definition = try workspace.writePipeline(nixPipeline(repository: repository.directory, stages: Self.imageStage))

            let result = try await workspace.sutradhar(["run", definition, "--json"])

            #expect(result.exitCode == 0, "\(result.transcript)")
            expectEveryLineIsAnEvent(result)
            #expect(result.summary?["commit"] as? String == head)
            #expect(isCommitID(result.summary?["commit"] as? String))
            #expect(result.summary?["status"] as? String == "passed")
            #expect(result.output("source", of: "checkout") as? String == repository.directory.path)
            let started = try #require(result.events(named: "run-started").first)
            #expect(started["ref"] as? String == "main")
            let out = try #require(result.output("out", of: "image") as? String)
            #expect(FileManager.default.fileExists(atPath: out))
        }
    }

    @Test func newCommitIsFetchedIntoTheExistingMirrorAndARerunIsCached() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let repository = try ExampleRepository.make(at: workspace.root.appendingPathComponent("hello-server"))
            let definition = try workspace.writePipeline(nixPipeline(repository: repository.directory, stages: Self.imageStage))
            let run = { (commit: String, extra: [String]) in
                try await workspace.sutradhar(["run", definition, "--json", "--source", repository.directory.path,
                                               "--commit", commit] + extra)
            }

            let first = try await run(try repository.head(), [])
            #expect(first.exitCode == 0, "\(first.transcript)")
            #expect(first.output("fetched", of: "checkout") as? Bool == true)
            let mirrors = workspace.cacheContents("git/mirrors").filter { !$0.hasPrefix(".") && !$0.hasSuffix(".lock") }
            #expect(mirrors.count == 1, "\(mirrors)")
            let mirror = workspace.cache.appendingPathComponent("git/mirrors").appendingPathComponent(try #require(mirrors.first))
            let mirrorInode = try #require(inode(of: mirror))
            let firstOut = try #require(first.output("out", of: "image") as? String)

            // A new commit that changes what the image holds, so its build is a real one.
            let second = try repository.commit("new page", files: ["www/index.html": "hello again \(UUID().uuidString)\n"])
            let fetched = try await run(second, [])
            #expect(fetched.exitCode == 0, "\(fetched.transcript)")
            #expect(fetched.summary?["commit"] as? String == second)
            #expect(fetched.output("fetched", of: "checkout") as? Bool == true)
            #expect(fetched.stage("image")?["cached"] as? Bool == false)
            let secondOut = try #require(fetched.output("out", of: "image") as? String)
            #expect(secondOut != firstOut)
            #expect(FileManager.default.fileExists(atPath: secondOut))
            #expect(inode(of: mirror) == mirrorInode, "the mirror was re-created instead of updated")
            #expect(workspace.cacheContents("git/mirrors").filter { !$0.hasPrefix(".") && !$0.hasSuffix(".lock") } == mirrors)

            let again = try await run(second, [])
            #expect(again.exitCode == 0, "\(again.transcript)")
            #expect(again.output("fetched", of: "checkout") as? Bool == false)
            #expect(again.stage("image")?["cached"] as? Bool == true)
            #expect(again.output("out", of: "image") as? String == secondOut)

            let uncached = try await run(second, ["--no-cache"])
            #expect(uncached.exitCode == 0, "\(uncached.transcript)")
            #expect(uncached.stage("image")?["cached"] as? Bool == false)
            #expect(uncached.output("out", of: "image") as? String == secondOut)
        }
    }

    @Test func tagsAndBranchesResolveToTheirCommits() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let repository = try ExampleRepository.make(at: workspace.root.appendingPathComponent("hello-server"))
            let tagged = try repository.head()
            try repository.tag("v1.0", annotated: true)
            try repository.tag("light")
            try repository.branch("feature")
            try repository.switchTo("feature")
            let featureHead = try repository.commit("feature work", files: ["NOTES": "feature\n"])
            try repository.switchTo("main")
            let definition = try workspace.writePipeline(nixPipeline(repository: repository.directory, stages: Self.imageStage))

            for (ref, expected) in [("v1.0", tagged), ("light", tagged), ("feature", featureHead), ("main", tagged)] {
                let result = try await workspace.sutradhar(["run", definition, "--json", "--commit", ref])
                #expect(result.exitCode == 0, "\(ref): \(result.transcript)")
                #expect(result.summary?["commit"] as? String == expected, "\(ref)")
                #expect(result.output("commit", of: "checkout") as? String == expected, "\(ref)")
            }
        }
    }

    @Test func unknownCommitFailsTheCheckoutNamingRefAndSourceAndSkipsTheRest() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let repository = try ExampleRepository.make(at: workspace.root.appendingPathComponent("hello-server"))
            let definition = try workspace.writePipeline(nixPipeline(
                repository: repository.directory,
                stages: Self.imageStage + [(name: "again", installable: ".#default", needs: ["image"])]))

            for ref in ["no-such-branch", String(repeating: "e", count: 40)] {
                let result = try await workspace.sutradhar(["run", definition, "--json", "--commit", ref])

                #expect(result.exitCode == 1, "\(result.transcript)")
                expectEveryLineIsAnEvent(result)
                #expect(result.summary?["status"] as? String == "failed")
                #expect(result.summary?["commit"] as? String == "")
                let checkout = try #require(result.stage("checkout"))
                #expect(checkout["status"] as? String == "failed")
                let error = try #require(checkout["error"] as? String)
                #expect(error.contains(ref), "\(error)")
                #expect(error.contains(repository.directory.path), "\(error)")
                #expect(result.stage("image")?["status"] as? String == "skipped")
                #expect(result.stage("again")?["status"] as? String == "skipped")
                #expect(result.events(named: "stage-started").compactMap { $0["stage"] as? String } == ["checkout"])
            }
            #expect(workspace.cacheContents("nix/roots").isEmpty)
        }
    }
}
