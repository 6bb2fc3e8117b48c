import Foundation
import SutradharTesting
import Testing

/// The CLI adds the flag to a library message only where it prints for a person; its JSON keeps
/// the library's flag-free words and the machine-readable `remedy`.
@Suite struct RemedyAdviceCLITests {
    @Test func anUnreachableDockerHostIsAdvisedWithTheFlagOnlyInTheTerminalOutput() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let source = workspace.root.appendingPathComponent("src")
            try FileManager.default.createDirectory(at: source, withIntermediateDirectories: true)
            try Data("x\n".utf8).write(to: source.appendingPathComponent("file.txt"))
            let definition = try workspace.writePipeline("""
                version: 1
                name: remedy
                source: { path: \(source.path) }
                stages:
                  build: { nix-build: {} }
                  load: { docker-load: { from: build } }

                """)
            let nowhere = ["run", definition, "--docker-host", "unix://\(workspace.root.path)/no-daemon.sock"]

            let json = try await workspace.sutradhar(nowhere + ["--json"])
            #expect(json.exitCode == 3, "\(json.transcript)")
            let problem = json.summary?["environment_problem"] as? String ?? ""
            #expect(problem.contains("no-daemon.sock") && problem.contains("the run's Docker host"), "\(json.transcript)")
            #expect(!json.stdout.contains("--docker-host"), "the events name no flag: \(json.transcript)")
            #expect(json.summary?["remedy"] as? String == "choose-docker-host", "\(json.transcript)")
            #expect(json.stage("load")?["code"] as? String == "daemon-unreachable", "\(json.transcript)")
            #expect(json.stage("load")?["remedy"] as? String == "choose-docker-host", "\(json.transcript)")

            let terminal = try await workspace.sutradhar(nowhere)
            #expect(terminal.exitCode == 3, "\(terminal.transcript)")
            #expect(terminal.stdout.contains("environment problem: ") && terminal.stdout.contains("(name the daemon's socket with --docker-host)"),
                    "\(terminal.transcript)")
        }
    }
}
