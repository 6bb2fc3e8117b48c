import ArgumentParser
import Foundation
import SutradharKit

/// `sutradhar reproduce PIPELINE`: build each checkable stage's output twice and compare.
struct Reproduce: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reproduce",
        abstract: "Check that a pipeline's builds are reproducible: build each output again and compare.",
        discussion: """
            For the commit (default: the definition's source.ref), each nix-build stage's output is \
            built if it is not in the store yet, then built again (nix build --rebuild) and the two \
            compared: image tarballs layer by layer, naming the files that differ. Each docker-build \
            stage is built again with the builder's cache off and the two images compared by layer \
            (Docker's classic builder is not expected to be reproducible: it records creation \
            times). Reports (and diffoscope's, when it is installed) go into the run's folder under \
            the cache. Only build stages run (and what they need); the run is recorded in the \
            history like any run. See docs/reproducibility.md.

            Exit status: 0 every output reproducible, 1 a difference found (or a build failed), \
            2 a bad definition or nothing to check, 3 the environment (nix missing, disk full).

            SUTRADHAR_DIFFOSCOPE=off skips diffoscope; a path chooses its executable.

            Examples:
              sutradhar reproduce example
              sutradhar reproduce bommalata --commit 3f2c1e9 --json
            """)

    @Argument(help: "A definition file, or NAME for pipelines/NAME.yaml.")
    var pipeline: String

    @Option(help: ArgumentHelp("Check this branch, tag or commit instead of the definition's source.ref.", valueName: "REF"))
    var commit: String?

    @Flag(help: "Print one JSON event per line on stdout (the machine interface; see the README).")
    var json = false

    @Flag(help: "Have diffoscope write an HTML report too (the text report is always written).")
    var html = false

    @Option(name: .customLong("max-runs"), help: ArgumentHelp("How many runs may work at once on this cache; later runs wait with a 'queued' event.", valueName: "N"))
    var maxRuns: Int = RunOptions.defaultMaxRuns

    @OptionGroup var attestOptions: AttestOptions
    @OptionGroup var cacheOptions: CacheOptions
    @OptionGroup var dockerOptions: DockerOptions

    func validate() throws {
        guard maxRuns >= 1 else { throw ValidationError("--max-runs must be at least 1") }
    }

    func run() async throws {
        let path = try DefinitionFiles.locate(pipeline)
        let plan = try DefinitionFiles.load(path)
        guard !Engine().reproducibilityPlan(plan).stages.isEmpty else {
            throw CommandFailure(Exit.invalidDefinition, "\(path) has no stage whose build can be checked "
                + "(nix-build, docker-build); nothing to reproduce")
        }
        var options = RunOptions(cacheRoot: cacheOptions.resolve(definitionPath: path), commit: commit,
                                 dockerHost: dockerOptions.dockerHost, allowRootful: dockerOptions.allowRootful, maxRuns: maxRuns)
        options.reproduce = ReproduceSettings(html: html)
        options.attestation = try attestOptions.checkedSettings()
        let renderer: any EventRenderer = json ? JSONLinesRenderer(onlySummary: false) : TerminalRenderer.make(quiet: false)
        let trigger = RunTrigger.inferred(source: nil, jsonEvents: json, outputIsTerminal: isatty(STDOUT_FILENO) != 0)
        try await Run.runToTheEnd(plan, options: options, trigger: trigger, renderer: renderer)
    }
}
