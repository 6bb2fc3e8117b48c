import ArgumentParser
import Foundation
import SutradharKit

/// `sutradhar run PIPELINE`: one run of a pipeline, end to end.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a pipeline: check the source out, then run its stages.",
        discussion: """
            PIPELINE is a definition file, or NAME for pipelines/NAME.yaml (looked up from the \
            working directory upwards).

            Examples:
              sutradhar run example
              sutradhar run bommalata --commit 3f2c1e9 --json    an agent, per commit
              sutradhar run example --source ~/src/hello         a working tree, as is
              sutradhar run example --stage image                one stage and its needs
            """)

    @Argument(help: "A definition file, or NAME for pipelines/NAME.yaml.")
    var pipeline: String

    @Option(help: ArgumentHelp("Build this branch, tag or commit instead of the definition's source.ref.", valueName: "REF"))
    var commit: String?

    @Option(help: ArgumentHelp("Build this repository URL or folder instead of the definition's source. A folder without --commit is built as it is, uncommitted changes included.", valueName: "URL|PATH"))
    var source: String?

    @Option(name: .customLong("max-runs"), help: ArgumentHelp("How many runs may work at once on this cache; later runs wait with a 'queued' event. Default: one per two cores, at least 2.", valueName: "N"))
    var maxRuns: Int = RunOptions.defaultMaxRuns

    @Option(help: ArgumentHelp("Who runs it, recorded in the run history: agent, nightly, local or manual. Default: local with a folder --source, agent with --json and no terminal, else manual.", valueName: "TRIGGER"))
    var trigger: Trigger?

    @OptionGroup var stages: StageRunOptions
    @OptionGroup var attestOptions: AttestOptions
    @OptionGroup var cacheOptions: CacheOptions
    @OptionGroup var dockerOptions: DockerOptions

    func validate() throws {
        guard maxRuns >= 1 else { throw ValidationError("--max-runs must be at least 1") }
    }

    func run() async throws {
        let path = try DefinitionFiles.locate(pipeline)
        let plan = try DefinitionFiles.load(path)
        try stages.checkStage(in: plan, definedIn: path)
        var options = RunOptions(
            cacheRoot: cacheOptions.resolve(definitionPath: path), commit: commit, sourceOverride: source,
            jobs: stages.jobs, noCache: stages.noCache, dockerHost: dockerOptions.dockerHost,
            allowRootful: dockerOptions.allowRootful, allowNetwork: stages.allowNetwork, onlyStage: stages.stage, maxRuns: maxRuns)
        options.attestation = try attestOptions.checkedSettings()
        try await Self.runToTheEnd(plan, options: options, trigger: trigger ?? inferredTrigger, renderer: stages.makeRenderer())
    }

    /// Runs `plan` through a launcher of its own, rendering its events, cancelling it on SIGINT or
    /// SIGTERM, and ends the command with the run's exit code (what `run` and `reproduce` share).
    static func runToTheEnd(_ plan: Plan, options: RunOptions, trigger: RunTrigger, renderer: any EventRenderer) async throws -> Never {
        var traced = options
        // One run for one caller: the caller's trace, if it has one, is this run's parent.
        traced.traceparent = ProcessInfo.processInfo.environment["TRACEPARENT"]
        let options = traced
        let summary = await Interrupts.cancellingOnSignal {
            // A launcher of this command alone is never stopping: it always runs.
            (try? await RunLauncher().run(plan, options: options, trigger: trigger, observe: renderer.render))
                ?? RunSummary(run: "", pipeline: plan.definition.name, commit: "", status: .cancelled, durationMilliseconds: 0, stages: [])
        }
        renderer.finish(summary)
        throw Exit.code(for: summary)
    }
}

extension Run {
    /// What started a run, recorded in the history (the library's `RunTrigger`).
    typealias Trigger = RunTrigger

    /// `RunTrigger.inferred`: a folder source is a developer iterating; JSON without a terminal is a machine.
    var inferredTrigger: Trigger {
        RunTrigger.inferred(source: source, jsonEvents: stages.json, outputIsTerminal: isatty(STDOUT_FILENO) != 0)
    }
}

extension RunTrigger: ExpressibleByArgument {}

/// Finding and loading definitions through the library; `Exit.outcome` turns the failures
/// into exit code 2 and their messages.
enum DefinitionFiles {
    /// - Throws: `CommandFailure` (exit 2) with the library's `PipelineNotFound` message, which
    ///   `validate` reports as that argument's diagnostic.
    static func locate(_ argument: String) throws -> String {
        do {
            return try Definitions.locate(argument)
        } catch {
            throw CommandFailure(Exit.invalidDefinition, error.message)
        }
    }

    static func load(_ path: String) throws -> Plan {
        do {
            return try Definitions.load(path)
        } catch {
            throw DefinitionLoadFailure(path: path, error: error)
        }
    }
}

/// A definition that did not load: the library's diagnostics, and the file the CLI names.
struct DefinitionLoadFailure: Error {
    let path: String
    let error: DefinitionError
}
