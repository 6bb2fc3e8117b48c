import Foundation
import SutradharTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The developer iterating locally: `--source PATH` builds a working tree as it is without
/// touching the repository, and `watch` reruns as the tree changes.
@Suite(.serialized, .requiresNix)
struct LocalIterationTests {
    @Test func dirtyWorkingTreeIsBuiltAsItIsWhileGitStatusAndIndexStayTheSame() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let repository = try workspace.flakeRepository(files: ["message.txt": "committed\n", ".gitignore": "ignored.txt\n"])
            try repository.write("message.txt", "edited, not committed\n")
            try repository.write("untracked.txt", "untracked, not added\n")
            try repository.write("ignored.txt", "ignored by .gitignore\n")
            let definition = try workspace.writePipeline(fixturePipeline(name: "dirty", repository: repository.directory))
            let index = repository.directory.appendingPathComponent(".git/index")
            // GIT_OPTIONAL_LOCKS=0: our own `git status` must not refresh the index either.
            let status = { try GitFixtures.git(["status", "--porcelain", "--untracked-files=all"], in: repository.directory,
                                               environment: ["GIT_OPTIONAL_LOCKS": "0"]) }
            let statusBefore = try status()
            let indexBefore = try Data(contentsOf: index)
            let headBefore = try repository.head()

            let result = try await workspace.sutradhar(["run", definition, "--json", "--source", repository.directory.path])

            #expect(result.exitCode == 0, "\(result.transcript)")
            let indexAfter = try Data(contentsOf: index)
            #expect(indexAfter == indexBefore, "the build rewrote .git/index")
            #expect(try status() == statusBefore)
            #expect(statusBefore.contains(" M message.txt") && statusBefore.contains("?? untracked.txt"), "\(statusBefore)")
            #expect(try repository.head() == headBefore)
            #expect(try repository.git("stash", "list").isEmpty)
            let out = try #require(result.output("out", of: "build") as? String, "\(result.transcript)")
            let built = try String(contentsOfFile: out, encoding: .utf8)
            #expect(built == "edited, not committed\nuntracked, not added\n")
            // The snapshot left out what the repository ignores.
            let checkout = try #require(result.output("path", of: "checkout") as? String)
            #expect(FileManager.default.fileExists(atPath: checkout + "/untracked.txt"))
            #expect(!FileManager.default.fileExists(atPath: checkout + "/ignored.txt"))
        }
    }

    @Test func watchRerunsAfterAnEditCancelsAStaleRunAndStopsCleanlyOnInterrupt() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let repository = try workspace.flakeRepository(files: ["message.txt": "one\n"])
            let definition = try workspace.writePipeline(fixturePipeline(name: "watched", repository: repository.directory))
            let watch = try workspace.startSutradhar(["watch", definition, "--source", repository.directory.path,
                                                      "--json", "--debounce", "200ms"])
            let finishedRuns = { events(in: watch.stdoutSoFar).filter { $0["event"] as? String == "run-finished" } }
            let pid = { (name: String) in
                (try? String(contentsOf: workspace.state.appendingPathComponent("\(name).pid"), encoding: .utf8))
                    .flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            }

            // The first run, at once.
            #expect(await eventually(timeout: .seconds(90)) { finishedRuns().count == 1 }, "\(watch.stdoutSoFar)")
            // An edit: a second run, of the new content.
            try repository.write("message.txt", "two\n")
            #expect(await eventually(timeout: .seconds(90)) { finishedRuns().count == 2 }, "\(watch.stdoutSoFar)")
            let firstTwo = finishedRuns()
            #expect(firstTwo.map { $0["status"] as? String } == ["passed", "passed"])
            let builtTwo = events(in: watch.stdoutSoFar).last { $0["event"] as? String == "stage-finished" && $0["stage"] as? String == "build" }
            let outTwo = try #require((builtTwo?["outputs"] as? [String: Any])?["out"] as? String)
            #expect(try String(contentsOfFile: outTwo, encoding: .utf8) == "two\n")

            // A slow build, then an edit while it runs: that run is cancelled, a new one starts.
            try repository.write("delay.txt", "120\n")
            try repository.write("message.txt", "three\n")
            #expect(await eventually(timeout: .seconds(90)) { pid("three") != nil }, "\(watch.stdoutSoFar)")
            try repository.write("message.txt", "four\n")
            #expect(await eventually(timeout: .seconds(90)) { pid("four") != nil }, "\(watch.stdoutSoFar)")
            let third = try #require(finishedRuns().dropFirst(2).first, "\(watch.stdoutSoFar)")
            #expect(third["status"] as? String == "cancelled")
            #expect(await eventually(timeout: .seconds(30)) { pid("three").map(processIsGone) ?? false }, "the stale run's builder is still running")

            // Ctrl-C while the fourth run builds: it is cancelled, and nothing of the watch is left.
            watch.signal(SIGINT)
            let result = await watch.finish(timeout: .seconds(60))
            #expect(result.exitCode == 130, "\(result.transcript)")
            let runs = events(in: result.stdout).filter { $0["event"] as? String == "run-finished" }
            #expect(runs.map { $0["status"] as? String } == ["passed", "passed", "cancelled", "cancelled"], "\(result.transcript)")
            #expect(await eventually(timeout: .seconds(30)) { pid("four").map(processIsGone) ?? false }, "the last builder is still running")
            #expect(await eventually(timeout: .seconds(30)) { processesMentioning(workspace.root.path).isEmpty },
                    "left running: \(processesMentioning(workspace.root.path))")
        }
    }

    @Test func watchIgnoresChangesThatLeaveTheSnapshotAsBuilt() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let repository = try workspace.flakeRepository(files: ["message.txt": "one\n", ".gitignore": "scratch/\n"])
            let definition = try workspace.writePipeline(fixturePipeline(name: "quiet", repository: repository.directory))
            let watch = try workspace.startSutradhar(["watch", definition, "--source", repository.directory.path,
                                                      "--json", "--debounce", "100ms"])
            let finishedRuns = { events(in: watch.stdoutSoFar).filter { $0["event"] as? String == "run-finished" }.count }
            #expect(await eventually(timeout: .seconds(90)) { finishedRuns() == 1 }, "\(watch.stdoutSoFar)")

            // An ignored file, a file inside .git, and a touch that changes no content.
            try repository.write("scratch/notes.txt", "not part of the build\n")
            try repository.write(".git/sutradhar-test", "git's own business\n")
            let touched = repository.directory.appendingPathComponent("message.txt")
            try FileManager.default.setAttributes([.modificationDate: Date()], ofItemAtPath: touched.path)
            // The watch says what it decided for each settled batch; batches settle in order, so once it
            // has called the batch with the last change (the touch) as built, no rerun can follow.
            let unchangedNotices = { watch.stderrSoFar.split(separator: "\n").filter { $0.contains("the snapshot is as built") } }
            #expect(await eventually(timeout: .seconds(60)) { unchangedNotices().contains { $0.contains("message.txt") } },
                    "the watch never reported the touch: \(watch.stderrSoFar)")
            #expect(!watch.stderrSoFar.contains("running again"), "\(watch.stderrSoFar)")
            #expect(finishedRuns() == 1, "\(watch.stdoutSoFar)")
            #expect(events(in: watch.stdoutSoFar).filter { $0["event"] as? String == "run-started" }.count == 1)

            watch.signal(SIGINT)
            let result = await watch.finish(timeout: .seconds(60))
            #expect(result.exitCode == 130, "\(result.transcript)")
            #expect(result.stderr.contains("snapshot is as built"), "\(result.transcript)")
        }
    }
}
