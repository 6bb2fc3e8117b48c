import ArgumentParser
import Foundation
import SutradharKit

/// `sutradhar`: holds the strings of a build. Parses arguments and prints; the libraries do the work.
@main
struct Sutradhar: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sutradhar",
        abstract: "Run build pipelines rootless: libgit2 checkout, nix build, and isolated smoke containers on a rootless Docker daemon.",
        discussion: """
            A pipeline is a YAML file under pipelines/ (docs/definitions.md has the format). Typical use:

              sutradhar validate example       check pipelines/example.yaml
              sutradhar run example            run it, with live progress
              sutradhar run example --commit SHA --json
                                               per commit, for agents: JSON events
              sutradhar runs logs RUN --stage smoke
                                               a stage's log from the run history
              sutradhar doctor                 check nix, libgit2, the cache, the daemon
              sutradhar serve                  the dashboard on http://127.0.0.1:7878/

            Exit codes: 0 passed, 1 a stage failed, 2 invalid definition or usage,
            3 environment problem (nix missing, daemon down or rootful), 130 interrupted.
            """,
        version: "0.1.0",
        subcommands: [Run.self, Reproduce.self, Validate.self, Runs.self, Nightly.self, Schedule.self, Watch.self, CacheCommand.self, Attest.self, DoctorCommand.self, MCPCommand.self, Serve.self, Kube.self]
    )
}

extension Sutradhar {
    /// Parses, runs, and ends with the exit code and message `Exit.outcome` gives for whatever
    /// the command threw.
    static func main() async {
        Interrupts.install()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let outcome = Exit.outcome(for: error)
            if let message = outcome.message {
                (outcome.toStandardOutput ? FileHandle.standardOutput : FileHandle.standardError).write(Data("\(TextPolicy.terminal(message))\n".utf8))
            }
            Foundation.exit(outcome.code)
        }
    }
}
