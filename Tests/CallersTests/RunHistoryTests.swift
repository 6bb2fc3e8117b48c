import Foundation
import SutradharTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The run history as its callers use it: `runs ls`, `runs show` and `runs logs` after real runs
/// of the fixture flake with the real nix. `.serialized`: the suites share the 2 cores.
@Suite(.serialized) struct RunHistoryTests {
    @Test func everyRunIsRecordedAndListedShownAndItsLogsPrinted() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let good = try workspace.flakeRepository(named: "good", files: ["message.txt": "hello\n"])
            let bad = try workspace.flakeRepository(named: "bad", files: ["message.txt": "bad\n", "fail.txt": "the build broke on purpose\n"])
            let history = try workspace.writePipeline(fixturePipeline(name: "history", repository: good.directory), named: "history")
            let broken = try workspace.writePipeline(fixturePipeline(name: "broken", repository: bad.directory), named: "broken")

            let agent = try await workspace.sutradhar(["run", history, "--json"])  // no terminal + --json: an agent
            let nightly = try await workspace.sutradhar(["run", history, "--trigger", "nightly"])
            let failed = try await workspace.sutradhar(["run", broken, "--json"])
            #expect(agent.exitCode == 0 && nightly.exitCode == 0, "\(agent.transcript)\n\(nightly.transcript)")
            #expect(failed.exitCode == 1, "\(failed.transcript)")

            // Newest first, with who ran it and how it ended.
            let listed = try await runsList(workspace, [])
            #expect(listed.map { $0["pipeline"] as? String } == ["broken", "history", "history"])
            #expect(listed.map { $0["trigger"] as? String } == ["agent", "nightly", "agent"])
            #expect(listed.map { $0["status"] as? String } == ["failed", "passed", "passed"])
            let failedID = try #require(failed.summary?["run"] as? String)
            #expect(listed.first?["run"] as? String == failedID)
            #expect(listed.last?["run"] as? String == agent.summary?["run"] as? String)
            #expect(listed.last?["commit"] as? String == agent.summary?["commit"] as? String)

            #expect(try await runsList(workspace, ["--status", "failed"]).map { $0["run"] as? String } == [failedID])
            #expect(try await runsList(workspace, ["--pipeline", "history", "--limit", "1"]).map { $0["trigger"] as? String } == ["nightly"])
            let badStatus = try await workspace.sutradhar(["runs", "ls", "--status", "broken"])
            #expect(badStatus.exitCode == 2 && badStatus.stderr.contains("abandoned"), "\(badStatus.transcript)")

            // show: the stages and their errors; --json is the run's own summary line.
            let shown = try await workspace.sutradhar(["runs", "show", failedID])
            #expect(shown.exitCode == 0, "\(shown.transcript)")
            #expect(shown.stdout.contains("run \(failedID): broken failed (agent)"), "\(shown.stdout)")
            #expect(shown.stdout.contains("build") && shown.stdout.contains("nix failed building"), "\(shown.stdout)")
            let shownJSON = try await workspace.sutradhar(["runs", "show", failedID, "--json"])
            let lastLine = failed.stdout.split(separator: "\n").last.map(String.init)
            #expect(shownJSON.stdout.trimmingCharacters(in: .newlines) == lastLine)

            // A unique prefix names a run as well as its ID; an unknown one is an error.
            let prefix = String(failedID.dropLast())
            let prefixIsUnique = listed.compactMap { $0["run"] as? String }.filter { $0.hasPrefix(prefix) }.count == 1
            let byPrefix = try await workspace.sutradhar(["runs", "show", prefix])
            #expect(byPrefix.exitCode == (prefixIsUnique ? 0 : 2), "\(byPrefix.transcript)")
            let unknown = try await workspace.sutradhar(["runs", "show", "19990101-000000-0000"])
            #expect(unknown.exitCode == 2 && unknown.stderr.contains("no run '19990101-000000-0000'"), "\(unknown.transcript)")

            // logs: one stage's lines as they were logged, or every stage's with its name.
            let stageLog = try await workspace.sutradhar(["runs", "logs", failedID, "--stage", "build"])
            #expect(stageLog.stdout.split(separator: "\n").contains { $0.hasSuffix("the build broke on purpose") }, "\(stageLog.stdout)")
            let allLogs = try await workspace.sutradhar(["runs", "logs", failedID])
            let lines = allLogs.stdout.split(separator: "\n")
            #expect(lines.contains { $0.hasPrefix("checkout: ") } && lines.contains { $0.hasPrefix("build: ") }, "\(allLogs.stdout)")
            #expect(lines.allSatisfy { $0.hasPrefix("checkout: ") || $0.hasPrefix("build: ") }, "\(allLogs.stdout)")
        }
    }

    @Test func followingALiveRunsLogEndsWhenTheRunDoes() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let repository = try workspace.flakeRepository(files: ["message.txt": "followed\n", "delay.txt": "120\n"])
            let definition = try workspace.writePipeline(fixturePipeline(name: "followed", repository: repository.directory))
            let run = try workspace.startSutradhar(["run", definition, "--json"])
            #expect(await eventually(timeout: .seconds(60)) { FileManager.default.fileExists(atPath: workspace.state.appendingPathComponent("followed.pid").path) })
            let runID = try #require(events(in: run.stdoutSoFar).first?["run"] as? String)

            let follow = try workspace.startSutradhar(["runs", "logs", runID, "--stage", "build", "--follow"])
            // The line comes while the run goes on: --follow prints as it reads, even into a file.
            #expect(await follow.waitForOutput(containing: "callers-fixture: building", timeout: .seconds(30)), "\(follow.stdoutSoFar)")
            #expect(follow.process.isRunning, "--follow ended while the run was still going")
            try workspace.releaseBuilds()

            let finished = await run.finish(timeout: .seconds(60))
            #expect(finished.exitCode == 0, "\(finished.transcript)")
            let followed = await follow.finish(timeout: .seconds(10))
            #expect(followed.exitCode == 0, "--follow did not end with the run: \(followed.transcript)")
        }
    }

    @Test func aRunKilledMidwayIsListedAsAbandoned() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let repository = try workspace.flakeRepository(files: ["message.txt": "killed\n", "delay.txt": "120\n"])
            let definition = try workspace.writePipeline(fixturePipeline(name: "killed", repository: repository.directory))
            let run = try workspace.startSutradhar(["run", definition, "--json"])
            #expect(await eventually(timeout: .seconds(60)) { FileManager.default.fileExists(atPath: workspace.state.appendingPathComponent("killed.pid").path) })
            let runID = try #require(events(in: run.stdoutSoFar).first?["run"] as? String)
            #expect(try await runsList(workspace, ["--status", "running"]).map { $0["run"] as? String } == [runID])

            run.signal(SIGKILL)
            _ = await run.finish(timeout: .seconds(10))
            try workspace.releaseBuilds()  // the orphaned nix finishes its build and exits

            #expect(try await runsList(workspace, []).map { $0["status"] as? String } == ["abandoned"])
            #expect(try await runsList(workspace, ["--status", "abandoned"]).map { $0["run"] as? String } == [runID])
            #expect(try await runsList(workspace, ["--status", "running"]).isEmpty)
        }
    }

    @Test func aCorruptHistoryIsMovedAsideAndTheNextRunIsRecordedWarnedAndReportedByDoctor() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let repository = try workspace.flakeRepository(files: ["message.txt": "recovered\n"])
            let definition = try workspace.writePipeline(fixturePipeline(name: "recovered", repository: repository.directory))
            let runs = workspace.cache.appendingPathComponent("runs")
            try FileManager.default.createDirectory(at: runs, withIntermediateDirectories: true)
            try Data(repeating: 0xA5, count: 4096).write(to: runs.appendingPathComponent("history.sqlite"))

            let run = try await workspace.sutradhar(["run", definition, "--json"])

            #expect(run.exitCode == 0, "\(run.transcript)")
            let warnings = run.events(named: "warning").compactMap { $0["message"] as? String }
            let warning = try #require(warnings.first { $0.contains("was corrupt") }, "\(run.transcript)")
            #expect(warning.contains("moved it aside to \(runs.path)/history.sqlite.corrupt-"), "\(warning)")
            #expect((run.summary?["warnings"] as? [String])?.contains(warning) == true)
            let runID = try #require(run.summary?["run"] as? String)
            #expect(try await runsList(workspace, []).map { $0["run"] as? String } == [runID])
            #expect(!run.stderr.contains("not recorded"), "\(run.stderr)")

            let doctor = try await workspace.sutradhar(["doctor", "--json"])
            let checks = try #require(events(in: doctor.stdout).first?["checks"] as? [[String: Any]], "\(doctor.transcript)")
            let history = try #require(checks.first { $0["name"] as? String == "run history" }, "\(doctor.stdout)")
            #expect(history["ok"] as? Bool == true)
            let detail = history["detail"] as? String ?? ""
            #expect(detail.hasPrefix("ok, 1 run;") && detail.contains("history.sqlite.corrupt-"), "\(detail)")
        }
    }

    @Test func eightProcessesOpeningAFreshHistoryAtOnceAllSucceed() async throws {
        // Across processes, as real first runs are (the lock is a file lock). Process start-up
        // staggers them, so without the lock this rarely met the race (0 of 2 tries); the
        // regression test is HistoryTests' eight threads, which lost a run in one round of three.
        for _ in 0..<3 {
            try await Workspace.with { workspace in
                let processes = try (0..<8).map { _ in try workspace.startSutradhar(["runs", "ls", "--json"]) }
                for process in processes {
                    let result = await process.finish(timeout: .seconds(60))
                    #expect(result.exitCode == 0 && result.stderr.isEmpty, "\(result.transcript)")
                }
            }
        }
    }

    @Test func runsOnAHistoryThatCannotBeOpenedExitsThree() async throws {
        try await Workspace.with { workspace in
            // A file where the history's folder belongs: nothing can repair that but the user.
            try FileManager.default.createDirectory(at: workspace.cache, withIntermediateDirectories: true)
            try Data("x".utf8).write(to: workspace.cache.appendingPathComponent("runs"))
            for arguments in [["runs", "ls"], ["runs", "show", "20261129-065212-4f3a"], ["runs", "logs", "x", "--follow"]] {
                let result = try await workspace.sutradhar(arguments)
                #expect(result.exitCode == 3, "\(arguments): \(result.transcript)")
                #expect(result.stderr.contains("run history"), "\(result.transcript)")
            }
        }
    }

    /// `sutradhar runs ls --json ARGUMENTS`, one object per line.
    private func runsList(_ workspace: Workspace, _ arguments: [String]) async throws -> [[String: Any]] {
        let result = try await workspace.sutradhar(["runs", "ls", "--json"] + arguments)
        #expect(result.exitCode == 0, "\(result.transcript)")
        return events(in: result.stdout)
    }
}
