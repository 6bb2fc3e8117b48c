import ArgumentParser
import Engine
import Foundation
import RunHistory

/// `sutradhar runs …`: the run history.
struct Runs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
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
            let history = try RunHistory(cacheRoot: cacheOptions.resolveForHistory())
            let runs = try history.runs(pipeline: pipeline, status: status, limit: limit)
            if json {
                for run in runs { print(RunJSON.encode(run)) }
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
        static let configuration = CommandConfiguration(abstract: "Show one run and its stages.")

        @Argument(help: "The run's ID (or a unique prefix).") var id: String
        @Flag(help: "Print the run's summary event (the run-finished JSON line).") var json = false
        @OptionGroup var cacheOptions: CacheOptions

        func run() async throws {
            let history = try RunHistory(cacheRoot: cacheOptions.resolveForHistory())
            guard let (run, stages) = try history.run(id) else {
                throw CommandFailure(Exit.invalidDefinition, "no run '\(id)' in \(history.folder.path); see 'sutradhar runs ls'")
            }
            if json {
                print(run.summary ?? RunJSON.encode(run))
                return
            }
            print("run \(run.id): \(run.pipeline) \(run.status) (\(run.trigger))")
            print("  source \(run.source)\(run.ref.map { " at \($0)" } ?? "")  commit \(run.commitSHA.isEmpty ? "-" : run.commitSHA)")
            print("  started \(RunEvent.rfc3339(run.startedAt))\(run.durationMilliseconds.map { ", took \(Double($0) / 1000)s" } ?? "")")
            for stage in stages {
                let width = max(16, (stages.map(\.name.count).max() ?? 0) + 1)
                print("  \(stage.name.padding(toLength: width, withPad: " ", startingAt: 0)) \(stage.status)\(stage.cached ? " (cached)" : "") "
                    + "\(Double(stage.durationMilliseconds) / 1000)s\(stage.error.map { " — \($0)" } ?? "")")
            }
            // The summary keeps what the stages do not: warnings, and why the machine stopped the run.
            let summary = run.summary.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            for warning in summary?["warnings"] as? [String] ?? [] { print("  warning: \(warning)") }
            if let problem = summary?["environment_problem"] as? String { print("  environment problem: \(problem)") }
        }
    }

    struct Logs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a run's logs (one stage with --stage).")

        @Argument(help: "The run's ID (or a unique prefix).") var id: String
        @Option(help: "Only this stage's log.") var stage: String?
        @Flag(help: "Keep printing new lines until the run finishes.") var follow = false
        @OptionGroup var cacheOptions: CacheOptions

        func run() async throws {
            let history = try RunHistory(cacheRoot: cacheOptions.resolveForHistory())
            guard let (run, stages) = try history.run(id) else {
                throw CommandFailure(Exit.invalidDefinition, "no run '\(id)' in \(history.folder.path); see 'sutradhar runs ls'")
            }
            let runFolder = history.folder.appendingPathComponent(run.id)
            // Written straight to the descriptor, not through print's buffer: with --follow the
            // lines must reach a pipe (`| grep`) as they come.
            let output = LineWriter(.standardOutput)
            var offsets: [String: UInt64] = [:]
            while true {
                let names = stage.map { [$0] } ?? Self.stageNames(in: runFolder, recorded: stages.map(\.name))
                for name in names {
                    let url = history.logFile(run: run.id, stage: name)
                    guard let handle = try? FileHandle(forReadingFrom: url) else { continue }
                    defer { try? handle.close() }
                    try handle.seek(toOffset: offsets[name] ?? 0)
                    let data = handle.readDataToEndOfFile()
                    offsets[name, default: 0] += UInt64(data.count)
                    let prefix = stage == nil ? "\(name): " : ""
                    let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
                    if !lines.isEmpty { output.write(lines.map { prefix + $0 + "\n" }.joined()) }
                }
                guard follow, let current = try history.run(run.id)?.0, current.status == "running" else { break }
                try await Task.sleep(for: .milliseconds(300))
            }
        }

        /// Stages in run order where known, then any other log files.
        static func stageNames(in folder: URL, recorded: [String]) -> [String] {
            let files = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
                .filter { $0.hasSuffix(".log") }.map { String($0.dropLast(4)) }
            return recorded.filter(files.contains) + files.filter { !recorded.contains($0) }.sorted()
        }
    }
}

/// The JSON form of a recorded run in `runs ls --json`.
enum RunJSON {
    static func encode(_ run: RunRecord) -> String {
        JSONValue.object([
            ("run", .string(run.id)), ("pipeline", .string(run.pipeline)), ("source", .string(run.source)),
            ("ref", run.ref.map(JSONValue.string) ?? .null), ("commit", .string(run.commitSHA)), ("trigger", .string(run.trigger)),
            ("status", .string(run.status)), ("started", .string(RunEvent.rfc3339(run.startedAt))),
            ("duration_ms", run.durationMilliseconds.map(JSONValue.int) ?? .null),
        ]).serialized()
    }
}

extension CacheOptions {
    /// The cache whose history the `runs` commands read: as `run` would choose it from here.
    func resolveForHistory() -> URL {
        resolve(definitionPath: DoctorCommand.defaultDefinitionPath())
    }
}
