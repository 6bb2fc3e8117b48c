import Foundation
import SutradharTesting
import Testing

/// `--jobs` and `--stage`, seen from the event stream of real runs.
@Suite(.serialized, .requiresNix)
struct SchedulingTests {
    /// Runs a pipeline of two independent stages, `left` and `right`, whose builders are
    /// `builders` (new derivations each time), and returns each stage's (started, finished) times.
    private func runTwoStages(jobs: Int, builders: [String: String], in workspace: Workspace, repository: GitFixtureRepository,
                              definition: String) async throws -> [String: (Date, Date)] {
        let commit = try ScriptFlake.commit(builders, to: repository)
        let result = try await workspace.sutradhar(["run", definition, "--json", "--jobs", String(jobs), "--commit", commit])
        #expect(result.exitCode == 0, "\(result.transcript)")
        expectEveryLineIsAnEvent(result)
        #expect(result.stage("left")?["cached"] as? Bool == false)
        #expect(result.stage("right")?["cached"] as? Bool == false)
        var spans: [String: (Date, Date)] = [:]
        for stage in ["left", "right"] {
            let started = try #require(result.time(of: "stage-started", stage: stage))
            let finished = try #require(result.time(of: "stage-finished", stage: stage))
            spans[stage] = (started, finished)
        }
        return spans
    }

    @Test func independentStagesOverlapWithTwoJobsAndNotWithOne() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let repository = try makeRepository(at: workspace.root.appendingPathComponent("two"))
            try ScriptFlake.commit(["left": ScriptFlake.writing("x"), "right": ScriptFlake.writing("y")], to: repository)
            let definition = try workspace.writePipeline(nixPipeline(repository: repository.directory, stages: [
                (name: "left", installable: ".#left", needs: []),
                (name: "right", installable: ".#right", needs: []),
            ]))

            // Each build waits for the other to start: the run passes only if they really run at once.
            let markers = try workspace.stateFolder(), tag = UUID().uuidString
            let parallel = try await runTwoStages(jobs: 2, builders: ["left": ScriptFlake.meeting("left", "right", in: markers, tag: tag),
                                                                      "right": ScriptFlake.meeting("right", "left", in: markers, tag: tag)],
                                                  in: workspace, repository: repository, definition: definition)
            let (leftStart, leftEnd) = try #require(parallel["left"])
            let (rightStart, rightEnd) = try #require(parallel["right"])
            #expect(leftStart < rightEnd && rightStart < leftEnd, "with --jobs 2 the stages did not overlap")

            let serial = try await runTwoStages(jobs: 1, builders: ["left": ScriptFlake.writing("left"), "right": ScriptFlake.writing("right")],
                                                in: workspace, repository: repository, definition: definition)
            let spans = [try #require(serial["left"]), try #require(serial["right"])].sorted { $0.0 < $1.0 }
            #expect(spans[0].1 <= spans[1].0, "with --jobs 1 the stages overlapped: \(spans)")
        }
    }

    @Test func stageOptionRunsOnlyThatStageAndWhatItNeeds() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let repository = try makeRepository(at: workspace.root.appendingPathComponent("chain"))
            try ScriptFlake.commit(["base": ScriptFlake.writing("base"), "top": ScriptFlake.writing("top"),
                                    "other": ScriptFlake.writing("other"), "after": ScriptFlake.writing("after")],
                                   to: repository)
            let definition = try workspace.writePipeline(nixPipeline(repository: repository.directory, stages: [
                (name: "base", installable: ".#base", needs: []),
                (name: "top", installable: ".#top", needs: ["base"]),
                (name: "other", installable: ".#other", needs: []),
                (name: "after", installable: ".#after", needs: ["top"]),
            ]))

            let result = try await workspace.sutradhar(["run", definition, "--json", "--stage", "top"])

            #expect(result.exitCode == 0, "\(result.transcript)")
            expectEveryLineIsAnEvent(result)
            #expect(Set(result.stageNames) == ["checkout", "base", "top"], "\(result.stageNames)")
            #expect(result.stageNames.firstIndex(of: "base")! < result.stageNames.firstIndex(of: "top")!)
            let started = Set(result.events(named: "stage-started").compactMap { $0["stage"] as? String })
            #expect(started == ["checkout", "base", "top"])
            let out = try #require(result.output("out", of: "top") as? String)
            #expect((try? String(contentsOfFile: out, encoding: .utf8)) == "top\n")

            // The whole pipeline, for contrast: the same file runs all four.
            let all = try await workspace.sutradhar(["run", definition, "--json"])
            #expect(all.exitCode == 0, "\(all.transcript)")
            #expect(Set(all.stageNames) == ["checkout", "base", "top", "other", "after"])
            #expect(all.stage("top")?["cached"] as? Bool == true)
        }
    }
}
