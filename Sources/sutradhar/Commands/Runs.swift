import ArgumentParser
import Foundation
import SutradharKit

/// `sutradhar runs …`: the run history.
struct Runs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "List past runs, show one, or print its logs.",
        subcommands: [List.self, Show.self, Logs.self],
        defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List runs, newest first.")

        @Option(help: "Only runs of this pipeline.") var pipeline: String?
        @Option(help: "Only runs with this status: running, passed, failed, cancelled, abandoned.") var status: String?
        @Option(help: "At most this many runs.") var limit = 20
        @Flag(help: "One JSON object per run.") var json = false
        @OptionGroup var cacheOptions: CacheOptions

        func validate() throws {
            if let status, !RunHistory.statuses.contains(status) {
                throw ValidationError("--status \(status): not a status; use one of \(RunHistory.statuses.joined(separator: ", "))")
            }
            guard limit >= 1 else { throw ValidationError("--limit must be at least 1") }
        }

        func run() async throws {
            let history = try cacheOptions.openHistory()
            let runs = try Runs.historyCall { try history.runs(pipeline: pipeline, status: status, limit: limit) }
            if json {
                for run in runs { print(run.jsonLine) }
                return
            }
            if runs.isEmpty { print("no runs recorded in \(history.folder.path)") }
            for run in runs {
                let duration = run.durationMilliseconds.map { String(format: "%.1fs", Double($0) / 1000) } ?? "-"
                print([run.id, run.pipeline, String(run.commitSHA.prefix(12)).padding(toLength: 12, withPad: " ", startingAt: 0),
                       run.status.padding(toLength: 9, withPad: " ", startingAt: 0), run.trigger.padding(toLength: 7, withPad: " ", startingAt: 0),
                       duration].joined(separator: "  "))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one run and its stages.")

        @Argument(help: "The run's ID (or a unique prefix).") var id: String
        @Flag(help: "Print the run's summary event (the run-finished JSON line).") var json = false
        @OptionGroup var cacheOptions: CacheOptions

        func run() async throws {
            let history = try cacheOptions.openHistory()
            let details = try Runs.find(id, in: history)
            let (run, stages) = (details.record, details.stages)
            if json {
                print(run.summary ?? run.jsonLine)
                return
            }
            // What the run recorded came partly from outside (a source URL, a ref, a stage's error,
            // a probe's answer): shown through the text policy, so none of it acts on the terminal.
            let safe = { (text: String) in TextPolicy.terminal(text, keepingNewlines: false) }
            print("run \(run.id): \(safe(run.pipeline)) \(run.status) (\(run.trigger))")
            print("  source \(safe(run.source))\(run.ref.map { " at \(safe($0))" } ?? "")  commit \(run.commitSHA.isEmpty ? "-" : safe(run.commitSHA))")
            print("  started \(RunEvent.rfc3339(run.startedAt))\(run.durationMilliseconds.map { ", took \(Double($0) / 1000)s" } ?? "")")
            for stage in stages {
                let width = max(16, (stages.map(\.name.count).max() ?? 0) + 1)
                print("  \(safe(stage.name).padding(toLength: width, withPad: " ", startingAt: 0)) \(stage.status)\(stage.cached ? " (cached)" : "") "
                    + "\(Double(stage.durationMilliseconds) / 1000)s\(stage.error.map { " — \(safe($0))" } ?? "")")
            }
            // The summary keeps what the stages do not: warnings, and why the machine stopped the run.
            for warning in details.summary?.warnings ?? [] { print("  warning: \(safe(warning))") }
            if let traceID = details.summary?.traceID { print("  trace \(traceID)") }
            if let problem = details.summary?.environmentProblem {
                print("  environment problem: \(safe(RemedyAdvice.advised(problem, remedy: details.summary?.remedy)))")
            }
            let attestations = history.attestations(ofRun: run.id, verifyingWith: AttestationTools.localVerifyingKey())
            if !attestations.isEmpty { print("  attestations:") }
            for attestation in attestations { Attest.render(attestation, indent: "    ") }
        }
    }

    struct Logs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "logs", abstract: "Print a run's logs (one stage with --stage).")

        @Argument(help: "The run's ID (or a unique prefix).") var id: String
        @Option(help: "Only this stage's log.") var stage: String?
        @Flag(help: "Keep printing new lines until the run finishes.") var follow = false
        @Flag(help: "Print the lines byte for byte. By default control characters and bidirectional overrides are shown as ^[ or <U+202E>, so that a log cannot act on the terminal.") var raw = false
        @OptionGroup var cacheOptions: CacheOptions

        func run() async throws {
            let history = try cacheOptions.openHistory()
            let details = try Runs.find(id, in: history)
            // Written straight to the descriptor, not through print's buffer: with --follow the
            // lines must reach a pipe (`| grep`) as they come.
            let output = LineWriter(.standardOutput)
            // Following filters the run's events by name; only reading files needs the name to be one of the run's.
            if !follow, let stage, history.stageLogFile(run: details, stage: stage) == nil {
                let names = history.stageNames(run: details)
                throw CommandFailure(Exit.invalidDefinition, "run \(details.record.id) has no stage '\(TextPolicy.terminal(stage, keepingNewlines: false))'"
                    + (names.isEmpty ? "" : "; its stages with logs: \(names.joined(separator: ", "))"))
            }
            let raw = self.raw
            let text = { (line: LogLine) in
                let prefixed = (stage == nil ? "\(line.stage): " : "") + line.line
                return (raw ? prefixed : TextPolicy.terminal(prefixed, keepingNewlines: false)) + "\n"
            }
            guard follow else {
                // Streamed a line at a time (in 64 KiB reads): a 100 MB log costs no 100 MB here.
                var batch = ""
                history.forEachLogLine(run: details, stage: stage) { line in
                    batch += text(line)
                    if batch.utf8.count >= 64 * 1024 { output.write(batch); batch = "" }
                }
                if !batch.isEmpty { output.write(batch) }
                return
            }
            // No polling: the history wakes this at each event the run writes (see RunHistory.follow).
            let lines = try Runs.historyCall { try history.followLogs(run: details.record.id, stage: stage) }
            do {
                for try await line in lines { output.write(text(line)) }
            } catch {
                throw CommandFailure(Exit.environmentProblem, "cannot follow run \(details.record.id): \(error)")
            }
        }
    }

    /// The run `id` names, or exit 2 saying there is none.
    static func find(_ id: String, in history: RunHistory) throws -> RunDetails {
        guard let details = try historyCall({ try history.run(id) }) else {
            throw CommandFailure(Exit.invalidDefinition, "no run '\(id)' in \(history.folder.path); see 'sutradhar runs ls'")
        }
        return details
    }

    /// A history that cannot be read is an environment problem: exit 3, saying why.
    static func historyCall<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as RunHistoryError {
            throw CommandFailure(Exit.environmentProblem, error.message)
        }
    }
}

extension CacheOptions {
    /// The cache whose history the `runs` commands read: as `run` would choose it from here.
    func resolveForHistory() -> URL {
        resolve(definitionPath: DoctorCommand.defaultDefinitionPath())
    }

    /// Opens that history; one that cannot be opened exits 3 (an environment problem).
    func openHistory() throws -> RunHistory {
        try Runs.historyCall { try RunHistory(cacheRoot: resolveForHistory()) }
    }
}
