import ArgumentParser
import Foundation
import SutradharKit

/// `sutradhar watch PIPELINE --source PATH`: rerun a pipeline on a working tree as it changes.
struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Run a pipeline on a working tree, and again whenever the tree changes.",
        discussion: """
            The folder is built as it is (uncommitted and untracked files included; .git and what \
            the repository ignores left out), once at the start and again after each change, once \
            changes have been quiet for --debounce. A change during a run cancels that run (its \
            containers are removed) and starts a new one. A change that leaves the snapshot as \
            built (an ignored file, a touch) runs nothing. Ctrl-C stops (exit 130).
            Progress notes go to stderr; stdout carries the runs' output (JSON lines with --json).

            Example:
              sutradhar watch example --source ~/src/hello-server --stage image
            """)

    @Argument(help: "A definition file, or NAME for pipelines/NAME.yaml.")
    var pipeline: String

    @Option(help: ArgumentHelp("The working tree to watch and build. Default: the definition's 'path:' source.", valueName: "PATH"))
    var source: String?

    @Option(help: ArgumentHelp("How long changes must be quiet before a run starts, e.g. 500ms or 2s.", valueName: "DURATION"))
    var debounce: String = "500ms"

    @OptionGroup var stages: StageRunOptions
    @OptionGroup var attestOptions: AttestOptions
    @OptionGroup var cacheOptions: CacheOptions
    @OptionGroup var dockerOptions: DockerOptions

    func validate() throws {
        guard DurationText.parse(debounce) != nil else {
            throw ValidationError("--debounce '\(debounce)' is not a duration; write e.g. 500ms or 2s")
        }
    }

    func run() async throws {
        let path = try DefinitionFiles.locate(pipeline)
        let plan = try DefinitionFiles.load(path)
        try stages.checkStage(in: plan, definedIn: path)
        let folder = try watchedFolder(plan.definition)
        var options = RunOptions(cacheRoot: cacheOptions.resolve(definitionPath: path), jobs: stages.jobs, noCache: stages.noCache,
                                 dockerHost: dockerOptions.dockerHost, allowRootful: dockerOptions.allowRootful,
                                 allowNetwork: stages.allowNetwork, onlyStage: stages.stage)
        options.attestation = try attestOptions.checkedSettings()
        let loop = WatchLoop(plan: plan, options: options, folder: folder, debounce: DurationText.parse(debounce) ?? .milliseconds(500))
        let stages = self.stages
        let outcome: Result<Void, any Error> = await Interrupts.cancellingOnSignal {
            do {
                try await loop.run(observe: {
                    // A renderer per run: the terminal one keeps per-run rows and a ticker.
                    let renderer = stages.makeRenderer()
                    return WatchLoop.RunObserver(sink: renderer.render, finished: { renderer.finish($0) })
                }, notice: Self.printNotice)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        if case .failure(let error) = outcome {
            throw CommandFailure(Exit.environmentProblem, "\(error)")
        }
        throw Exit.interrupted
    }

    /// `--source`, else a `path:` source of the definition.
    private func watchedFolder(_ definition: PipelineDefinition) throws -> URL {
        let folder: String
        if let source {
            guard !SourceSpec.isURL(source) else {
                throw CommandFailure(Exit.invalidDefinition, "--source \(source) is a URL; watch needs a folder on this machine")
            }
            folder = source
        } else if case .path(let path) = definition.source.location {
            folder = path
        } else {
            throw CommandFailure(Exit.invalidDefinition, "\(definition.file) builds a git source; pass the working tree to watch with --source PATH")
        }
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
            throw CommandFailure(Exit.invalidDefinition, "--source \(folder) is not a folder")
        }
        return URL(fileURLWithPath: folder).standardizedFileURL
    }

    @Sendable static func printNotice(_ notice: WatchLoop.Notice) {
        let line: String
        switch notice {
        case .watching(let folder):
            line = "watching \(folder) for changes (Ctrl-C to stop)"
        case .rerunning(let paths, let cancelling):
            line = "\(describe(paths)) changed: \(cancelling ? "cancelling the run in progress and " : "")running again"
        case .unchanged(let paths):
            line = "\(describe(paths)) changed, but the snapshot is as built: nothing to run"
        case .problem(let message):
            line = "watch: \(message)"
        }
        FileHandle.standardError.write(Data((TextPolicy.terminal(line) + "\n").utf8))
    }

    private static func describe(_ paths: [String]) -> String {
        switch paths.count {
        case 0: return "something"
        case 1...3: return paths.joined(separator: ", ")
        default: return "\(paths.prefix(3).joined(separator: ", ")) and \(paths.count - 3) more"
        }
    }
}
