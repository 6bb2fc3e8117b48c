import ArgumentParser
import Foundation
import SutradharKit

/// `sutradhar nightly [PIPELINE...]`: rebuild every stage of each pipeline at its ref head and
/// write a report.
struct Nightly: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nightly",
        abstract: "Rebuild pipelines from scratch at their ref heads and write a report.",
        discussion: """
            For each pipeline (default: every one under the nearest pipelines/ folder): fetch the \
            source's ref head, run every stage again (--no-cache), apply the pipeline's cache limits, \
            and record the run as 'nightly'. Then write a report, Markdown and JSON, to \
            CACHE/runs/nightly/DATE.md|.json: per pipeline the verdict, each stage's duration \
            against the previous nightly run, and the commits since it. The last line printed \
            is the Markdown report's path.

            Exit codes: 0 all passed, 1 a pipeline failed, 2 invalid definition, \
            3 environment problem, 130 interrupted.

            Examples:
              sutradhar nightly                   every pipeline under pipelines/
              sutradhar nightly bommalata example
              sutradhar schedule install bommalata   (run it every night with systemd)
            """)

    @Argument(help: "Definition files, or NAMEs for pipelines/NAME.yaml. Default: all of pipelines/.")
    var pipelines: [String] = []

    @Option(help: "How many independent stages may run at once.")
    var jobs: Int = 2

    @Option(name: .customLong("max-runs"), help: ArgumentHelp("How many runs may work at once on this cache.", valueName: "N"))
    var maxRuns: Int = RunOptions.defaultMaxRuns

    @Flag(help: "Print only failures and each pipeline's verdict.")
    var quiet = false

    @Flag(name: .customLong("allow-network"), help: "Let stages that ask for 'network: bridge' have a network.")
    var allowNetwork = false

    @OptionGroup var attestOptions: AttestOptions
    @OptionGroup var cacheOptions: CacheOptions
    @OptionGroup var dockerOptions: DockerOptions

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
        guard maxRuns >= 1 else { throw ValidationError("--max-runs must be at least 1") }
    }

    func run() async throws {
        let paths = try definitionPaths()
        // Every definition is checked before anything runs: a typo must not cost a night's first half.
        let plans = try paths.map { (path: $0, plan: try DefinitionFiles.load($0)) }
        let attestation = try attestOptions.checkedSettings()
        let started = Date()
        let launcher = RunLauncher()
        let entries = await Interrupts.cancellingOnSignal { [self] in
            var entries: [NightlyReport.Entry] = []
            // Interrupted between two pipelines, the rest are not run (and the verdict says so).
            for (path, plan) in plans {
                guard !Task.isCancelled, let entry = try? await rebuild(plan, definitionFile: path, attestation: attestation, launcher: launcher) else { break }
                entries.append(entry)
            }
            return entries
        }
        let finished = Date()
        // One report per cache: each pipeline's history and mirrors live in its own.
        var reports: [URL] = []
        // By path: a URL made before the cache folder existed differs from one made after (a trailing slash).
        for cacheRoot in entries.map(\.cacheRoot.path).uniqued() {
            let report = NightlyReport(started: started, finished: finished, entries: entries.filter { $0.cacheRoot.path == cacheRoot })
            do {
                reports.append(try report.write(into: NightlyReport.folder(cacheRoot: URL(fileURLWithPath: cacheRoot))).markdown)
            } catch {
                throw CommandFailure(Exit.environmentProblem, error.description)
            }
        }
        let passed = entries.filter { $0.summary.status == .passed }.count
        let notRun = plans.count - entries.count
        print("nightly: \(passed) of \(plans.count) pipeline\(plans.count == 1 ? "" : "s") passed"
            + (notRun > 0 ? " (interrupted: \(notRun) not run)" : "") + "; report\(reports.count == 1 ? "" : "s"):")
        for report in reports { print(report.path) }
        throw Self.exitCode(for: NightlyReport.Verdict(entries: entries, planned: plans.count))
    }

    /// The named definitions, or all of the nearest pipelines/ folder.
    private func definitionPaths() throws -> [String] {
        if !pipelines.isEmpty { return try pipelines.map(DefinitionFiles.locate) }
        let here = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let names = PipelineLocator.knownPipelines(from: here)
        guard !names.isEmpty else {
            throw CommandFailure(Exit.invalidDefinition, "no pipelines/ folder with definitions here or above; name the definitions to rebuild")
        }
        return try names.map(DefinitionFiles.locate)
    }

    /// One pipeline's nightly run, recorded in its cache's history as `nightly`.
    private func rebuild(_ plan: Plan, definitionFile: String, attestation: AttestationSettings, launcher: RunLauncher) async throws(RunRefused) -> NightlyReport.Entry {
        let absolute = URL(fileURLWithPath: definitionFile).standardizedFileURL.path
        var options = RunOptions(cacheRoot: cacheOptions.resolve(definitionPath: definitionFile), jobs: jobs,
                                 dockerHost: dockerOptions.dockerHost, allowRootful: dockerOptions.allowRootful,
                                 allowNetwork: allowNetwork, maxRuns: maxRuns)
        options.attestation = attestation
        // One invocation (a scheduler's): its caller's trace is each pipeline's parent.
        options.traceparent = ProcessInfo.processInfo.environment["TRACEPARENT"]
        // Read only, for the previous nightly run: the launcher records this one.
        let history = try? RunHistory(cacheRoot: options.cacheRoot, integrity: .never)
        let renderer = TerminalRenderer.make(quiet: quiet)
        let pipeline = plan.definition.name
        let entry = try await NightlyRebuild.run(plan, definitionFile: absolute, options: options, launcher: launcher, sink: renderer.render,
                                                 previous: { current in
            history.flatMap { $0.previousNightly(of: pipeline, excluding: current) }
        })
        renderer.finish(entry.summary)
        return entry
    }

    /// 130 if interrupted, else 3 if any run met an environment problem, else 1 if any failed.
    static func exitCode(for verdict: NightlyReport.Verdict) -> ExitCode {
        switch verdict {
        case .passed: Exit.passed
        case .failed: Exit.stageFailed
        case .environmentProblem: Exit.environmentProblem
        case .interrupted: Exit.interrupted
        }
    }
}

extension RunHistory {
    /// The latest nightly run of `pipeline` other than `excluding`, with its stage durations.
    func previousNightly(of pipeline: String, excluding: String) -> NightlyRebuild.PreviousRun? {
        guard let record = try? latest(pipeline: pipeline, trigger: Run.Trigger.nightly.rawValue, excluding: excluding),
              let details = try? run(record.id) else { return nil }
        let (run, stages) = (details.record, details.stages)
        return NightlyRebuild.PreviousRun(
            run: run.id, startedAt: run.startedAt, commit: run.commitSHA, status: run.status,
            stageDurations: Dictionary(stages.map { ($0.name, $0.durationMilliseconds) }, uniquingKeysWith: { first, _ in first }),
            reproducible: details.summary.map(NightlyReport.reproducibility(of:)) ?? [:])
    }
}

extension Sequence where Element: Hashable {
    /// The elements in order, each once.
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}
