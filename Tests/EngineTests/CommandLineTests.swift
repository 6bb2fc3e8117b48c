import Foundation
import SutradharTesting
import Testing

/// `validate`, usage errors, a missing nix and `doctor`: the exit codes and messages a user
/// (or an agent) relies on.
@Suite(.serialized)
struct CommandLineTests {
    /// Four mistakes the reader finds, at known places.
    static let broken = """
        version: 1
        name: bad name
        source: { path: . }
        stages:
          image:
            nix-biuld: {}
          load:
            timeout: 5 minutes
            nix-build: {}
        owner: me

        """

    /// Each mistake in `broken`: its line, column and a word its message must hold.
    static let brokenProblems: [(line: Int, column: Int, mentions: String)] = [
        (2, 7, "bad name"),
        (6, 5, "nix-biuld"),
        (8, 14, "5 minutes"),
        (10, 1, "owner"),
    ]

    /// Two mistakes only planning finds (the file itself reads fine).
    static let badGraph = """
        version: 1
        name: cyclic
        source: { path: . }
        stages:
          a:
            needs: [b]
            nix-build: {}
          b:
            needs: [a]
            nix-build: {}
          c:
            needs: [nosuch]
            nix-build: {}

        """

    static let badGraphProblems: [(line: Int, column: Int, mentions: String)] = [
        (5, 3, "a -> b -> a"),
        (12, 13, "nosuch"),
    ]

    @Test func validateListsEveryProblemWithItsPositionAndExits2() async throws {
        try await Workspace.with { workspace in
            let broken = try workspace.writePipeline(Self.broken, named: "broken")
            let badGraph = try workspace.writePipeline(Self.badGraph, named: "bad-graph")

            let result = try await workspace.sutradhar(["validate", broken, badGraph])

            #expect(result.exitCode == 2, "\(result.transcript)")
            for (file, expected) in [(broken, Self.brokenProblems), (badGraph, Self.badGraphProblems)] {
                // `FILE:LINE:COLUMN: message` lines; the closing `FILE: N problems` line has no position.
                let problems = result.lines.filter { $0.hasPrefix(file + ":") && !$0.hasPrefix(file + ": ") }
                #expect(problems.count == expected.count, "\(problems)")
                for (index, (line, column, mentions)) in expected.enumerated() where index < problems.count {
                    #expect(problems[index].hasPrefix("\(file):\(line):\(column): "), "\(problems[index])")
                    #expect(problems[index].contains(mentions), "\(problems[index])")
                }
                #expect(result.lines.contains("\(file): \(expected.count) problems"), "\(result.transcript)")
            }

            let json = try await workspace.sutradhar(["validate", broken, "--json"])
            #expect(json.exitCode == 2)
            let report = try #require(json.events.first, "\(json.transcript)")
            #expect(report["valid"] as? Bool == false)
            let positions = ((report["problems"] as? [[String: Any]]) ?? []).map { "\($0["line"] as? Int ?? 0):\($0["column"] as? Int ?? 0)" }
            #expect(positions == Self.brokenProblems.map { "\($0.line):\($0.column)" })
            #expect(!FileManager.default.fileExists(atPath: workspace.cache.path))
        }
    }

    @Test func bundledPipelinesAreValid() async throws {
        let pipelines = SutradharCLI.repositoryRoot.appendingPathComponent("pipelines")
        let names = ["example", "bommalata"].filter {
            FileManager.default.fileExists(atPath: pipelines.appendingPathComponent("\($0).yaml").path)
        }
        #expect(names.contains("example"))
        for name in names {
            // By name, from the repository (as a user types it), and by path.
            let byName = try await SutradharCLI.run(["validate", name])
            #expect(byName.exitCode == 0, "\(name): \(byName.transcript)")
            #expect(byName.stdout.contains("valid"))
            let byPath = try await SutradharCLI.run(["validate", pipelines.appendingPathComponent("\(name).yaml").path, "--json"])
            #expect(byPath.exitCode == 0, "\(name): \(byPath.transcript)")
            #expect(byPath.events.first?["valid"] as? Bool == true)
        }
    }

    /// On a terminal the stages are redrawn in place; once the run ends the verdict is the last
    /// line (a redraw that was already due used to print the table again under it).
    @Test func onATerminalTheVerdictIsTheLastLine() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let definition = try workspace.oneStagePipeline()
            let command = [SutradharCLI.executable.path, "run", definition, "--cache-dir", workspace.cache.path]
                .map { "'\($0)'" }.joined(separator: " ")
            for _ in 0..<3 {
                // script(1) gives the run a pseudo-terminal, as a developer's shell would.
                let screen = try DockerTestSupport.run("/usr/bin/script", ["-qec", command, "/dev/null"], environment: ["TERM": "xterm"])
                let lines = screen.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
                #expect(screen.contains("\u{1B}["), "no live view: \(screen)")
                #expect(lines.last?.contains(": \u{1B}[32mpassed\u{1B}[0m in ") == true, "the verdict is not last: \(lines.suffix(4))")
            }
        }
    }

    @Test func quietPrintsOnlyTheVerdictAndWhatFailed() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let repository = try makeRepository(at: workspace.root.appendingPathComponent("repo"))
            try ScriptFlake.commit(["good": ScriptFlake.writing("good"),
                                    "bad": "echo 'quiet-test: the build broke' >&2\nexit 1\n"], to: repository)
            let definition = try workspace.writePipeline(nixPipeline(repository: repository.directory, stages: [
                (name: "good", installable: ".#good", needs: []),
                (name: "bad", installable: ".#bad", needs: []),
            ]))

            // --json --quiet: the summary line alone, for `| jq`.
            let json = try await workspace.sutradhar(["run", definition, "--json", "--quiet"])
            #expect(json.exitCode == 1, "\(json.transcript)")
            let lines = json.stdout.split(separator: "\n")
            #expect(lines.count == 1 && json.summary?["event"] as? String == "run-finished", "\(json.stdout)")
            #expect(json.stage("bad")?["status"] as? String == "failed" && json.stage("good")?["status"] as? String == "passed")

            // --quiet on a terminal-less stdout: the failed stage with its error, then the verdict.
            let text = try await workspace.sutradhar(["run", definition, "--quiet"])
            #expect(text.exitCode == 1, "\(text.transcript)")
            let shown = text.stdout.split(separator: "\n").map(String.init)
            #expect(shown.count == 2, "\(text.stdout)")
            #expect(shown.first?.hasPrefix("bad: failed — ") == true, "\(text.stdout)")
            #expect(shown.last?.contains(": failed in ") == true, "\(text.stdout)")
            #expect(!text.stdout.contains("good"), "a passing stage was printed: \(text.stdout)")
        }
    }

    @Test func aCommitOfAFolderThatIsNoRepositoryIsRefusedSayingSo() async throws {
        try await Workspace.with { workspace in
            let folder = workspace.root.appendingPathComponent("plain")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try "just files\n".write(to: folder.appendingPathComponent("README"), atomically: true, encoding: .utf8)
            let definition = try workspace.writePipeline("""
                version: 1
                name: plain
                source: { path: ./plain }
                stages:
                  image:
                    nix-build: {}

                """)
            let result = try await workspace.sutradhar(["run", definition, "--json", "--commit", "HEAD"])
            #expect(result.exitCode == 1, "\(result.transcript)")
            let error = result.stage("checkout")?["error"] as? String ?? ""
            #expect(error.contains("\(folder.path) is a folder, not a git repository") && error.contains("'HEAD'"), "\(error)")
            #expect(result.stage("image")?["status"] as? String == "skipped")
        }
    }

    @Test func runOfABrokenDefinitionExits2AndStartsNothing() async throws {
        try await Workspace.with { workspace in
            let definition = try workspace.writePipeline(Self.broken, named: "broken")

            let result = try await workspace.sutradhar(["run", definition, "--json"])

            #expect(result.exitCode == 2, "\(result.transcript)")
            #expect(result.stderr.contains("\(definition):6:5:"), "\(result.transcript)")
            #expect(result.stderr.contains("\(definition):10:1:"), "\(result.transcript)")
            #expect(result.stderr.contains("nothing was run"))
            #expect(result.events.isEmpty, "events were printed: \(result.stdout)")
            #expect(!FileManager.default.fileExists(atPath: workspace.cache.path), "the run created its cache")
        }
    }

    @Test func unknownPipelineNameExits2Naming() async throws {
        try await Workspace.with { workspace in
            for command in ["run", "validate"] {
                let result = try await workspace.sutradhar([command, "no-such-pipeline"])
                #expect(result.exitCode == 2, "\(command): \(result.transcript)")
                #expect((result.stdout + result.stderr).contains("no pipeline 'no-such-pipeline'"), "\(result.transcript)")
            }
            #expect(!FileManager.default.fileExists(atPath: workspace.cache.path))
        }
    }

    @Test func unknownStageAndBadJobsExit2() async throws {
        try await Workspace.with { workspace in
            let definition = try workspace.oneStagePipeline()

            let stage = try await workspace.sutradhar(["run", definition, "--stage", "nosuch"])
            #expect(stage.exitCode == 2, "\(stage.transcript)")
            #expect(stage.stderr.contains("--stage nosuch"), "\(stage.transcript)")
            #expect(stage.stderr.contains("it has: a"), "\(stage.transcript)")

            let jobs = try await workspace.sutradhar(["run", definition, "--jobs", "0"])
            #expect(jobs.exitCode == 2, "\(jobs.transcript)")
            #expect(jobs.stderr.contains("--jobs"), "\(jobs.transcript)")
            #expect(!FileManager.default.fileExists(atPath: workspace.cache.path))
        }
    }

    /// `NIX_REMOTE` naming a socket nobody listens on stands for a nix-daemon that is not running:
    /// the build fails, but the commit is not to blame, so the run is an environment problem.
    @Test func anUnreachableNixDaemonIsAnEnvironmentProblemInRunAndDoctor() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let definition = try workspace.oneStagePipeline()
            let nobody = ["NIX_REMOTE": "unix://\(workspace.root.path)/no-daemon.socket"]

            let run = try await workspace.sutradhar(["run", definition, "--json"], environment: nobody)
            #expect(run.exitCode == 3, "\(run.transcript)")
            expectEveryLineIsAnEvent(run)
            #expect(run.stage("a")?["status"] as? String == "failed")
            let problem = run.summary?["environment_problem"] as? String ?? ""
            #expect(problem.contains("cannot reach the nix daemon") && problem.contains("no-daemon.socket"), "\(run.transcript)")
            // The history keeps it: `runs show` says why the machine stopped the run.
            let runID = try #require(run.summary?["run"] as? String)
            let shown = try await workspace.sutradhar(["runs", "show", runID])
            #expect(shown.stdout.contains("environment problem: nix cannot reach the nix daemon"), "\(shown.transcript)")

            let doctor = try await workspace.sutradhar(["doctor"], environment: nobody)
            #expect(doctor.exitCode == 3, "\(doctor.transcript)")
            #expect(doctor.stdout.contains("FAIL nix store"), "\(doctor.transcript)")
            let healthy = try await workspace.sutradhar(["doctor", "--json"])
            #expect(healthy.stdout.contains(#""name":"nix store","ok":true"#), "\(healthy.transcript)")
        }
    }

    @Test func missingNixExits3WithAnInstallHintAndChecksNothingOut() async throws {
        try await Workspace.with { workspace in
            let definition = try workspace.oneStagePipeline()
            // A PATH holding only git and a shell: no nix anywhere on it.
            let bin = workspace.root.appendingPathComponent("bin")
            try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
            for tool in ["/usr/bin/git", "/bin/sh"] where FileManager.default.fileExists(atPath: tool) {
                try FileManager.default.createSymbolicLink(atPath: bin.appendingPathComponent(URL(fileURLWithPath: tool).lastPathComponent).path,
                                                           withDestinationPath: tool)
            }

            for json in [true, false] {
                let result = try await workspace.sutradhar(["run", definition] + (json ? ["--json"] : []),
                                                           environment: ["PATH": bin.path])
                #expect(result.exitCode == 3, "\(result.transcript)")
                let everything = result.stdout + result.stderr
                #expect(everything.contains("apt-get install nix-bin"), "\(result.transcript)")
                if json {
                    expectEveryLineIsAnEvent(result)
                    #expect(result.summary?["status"] as? String == "failed")
                    #expect((result.summary?["environment_problem"] as? String)?.contains("nix") == true)
                    #expect(result.stage("a")?["status"] as? String == "skipped")
                }
            }
            // The check came first: no mirror was made, nothing was built.
            #expect(workspace.cacheContents("git/mirrors").isEmpty, "\(workspace.cacheContents("git/mirrors"))")
            #expect(workspace.cacheContents("nix/roots").isEmpty)
        }
    }

    @Test(.requiresNix, .requiresDocker)
    func doctorReportsEveryCheckOkAgainstTheRootlessDaemon() async throws {
        try NixFixtures.requireNix()
        let host = try DockerTestSupport.requireDockerHost()
        try await Workspace.with { workspace in
            let result = try await workspace.sutradhar(["doctor", "--json"], environment: ["DOCKER_HOST": host])

            #expect(result.exitCode == 0, "\(result.transcript)")
            let report = try #require(result.events.first, "\(result.transcript)")
            #expect(report["ok"] as? Bool == true)
            let checks = (report["checks"] as? [[String: Any]]) ?? []
            let byName = Dictionary(checks.map { ($0["name"] as? String ?? "", $0) }, uniquingKeysWith: { first, _ in first })
            for name in ["nix", "libgit2", "cache", "disk", "docker socket", "docker api", "rootless"] {
                #expect(byName[name]?["ok"] as? Bool == true, "\(name): \(byName[name] ?? [:])")
            }
            #expect((byName["docker socket"]?["detail"] as? String)?.contains(String(host.dropFirst("unix://".count))) == true)
            let runtime = byName["runtime"]?["detail"] as? String ?? ""
            #expect(runtime.hasPrefix("default ") && runtime.contains("offered: ") && runtime.contains("runc"), "runtime: \(runtime)")
            #expect(checks.allSatisfy { $0["ok"] as? Bool == true })
        }
    }

    @Test(.requiresNix)
    func doctorWithAnUnreachableDaemonExits3AndNamesTheFix() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let result = try await workspace.sutradhar(["doctor", "--json", "--docker-host", "unix:///nonexistent.sock"])

            #expect(result.exitCode == 3, "\(result.transcript)")
            let report = try #require(result.events.first, "\(result.transcript)")
            #expect(report["ok"] as? Bool == false)
            let checks = (report["checks"] as? [[String: Any]]) ?? []
            let failed = checks.filter { $0["ok"] as? Bool == false }
            #expect(failed.map { $0["name"] as? String } == ["docker"], "\(failed)")
            #expect((failed.first?["detail"] as? String)?.contains("/nonexistent.sock") == true)
            let fix = failed.first?["fix"] as? String ?? ""
            #expect(fix.contains("--docker-host") && fix.contains("scripts/setup.sh"), "\(fix)")
            // The rest still passed: one missing daemon does not hide the other checks.
            #expect(checks.first { $0["name"] as? String == "nix" }?["ok"] as? Bool == true)

            let terminal = try await workspace.sutradhar(["doctor", "--docker-host", "unix:///nonexistent.sock"])
            #expect(terminal.exitCode == 3)
            #expect(terminal.stdout.contains("FAIL") && terminal.stdout.contains("fix: "), "\(terminal.transcript)")
        }
    }
}
