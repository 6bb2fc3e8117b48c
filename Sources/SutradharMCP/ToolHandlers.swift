import Foundation
import Logging
import MCP
import SutradharKit
import Synchronization

/// The tools, one library call each.
extension SutradharMCPServer {
    func listPipelines() throws -> CallTool.Result {
        let folder = configuration.workingDirectory
        let listings = configuration.catalog.names.compactMap { name in
            (try? configuration.catalog.path(of: name)).map { PipelineListing(name: name, file: $0) }
        }
        let pipelines = try listings.map { try Self.value(of: $0) }
        let lines = listings.map { pipeline in
            pipeline.stages.map { "\(pipeline.name): \($0.map(\.name).joined(separator: ", "))" } ?? "\(pipeline.name): invalid (validate_pipeline says why)"
        }
        return Self.answer(lines.isEmpty ? "no pipelines/ folder at or above \(folder.path)" : lines.joined(separator: "\n"),
                               structuredContent: ["pipelines": .array(pipelines)])
    }

    func validatePipeline(_ arguments: ToolArguments) throws -> CallTool.Result {
        let file: String
        let diagnostics: [Diagnostic]
        switch (try arguments.string("pipeline"), try arguments.string("definition")) {
        case (let name?, nil):
            file = try locate(name)
            do {
                _ = try Definitions.load(file)
                diagnostics = []
            } catch {
                diagnostics = error.diagnostics
            }
        case (nil, let text?):
            file = "<definition>"
            do {
                _ = try Definitions.load(text: text, name: file, directory: configuration.workingDirectory)
                diagnostics = []
            } catch {
                diagnostics = error.diagnostics
            }
        default:
            throw ToolCallRefused("validate_pipeline: give exactly one of 'pipeline' (a pipeline name) and 'definition' (YAML text)")
        }
        let text = diagnostics.isEmpty ? "\(file): valid"
            : (diagnostics.map(\.description) + ["\(file): \(diagnostics.count) problem\(diagnostics.count == 1 ? "" : "s")"]).joined(separator: "\n")
        // Invalid is an answer, not a failed call: isError stays false.
        return Self.answer(text, structuredContent: try Self.value(of: DefinitionCheck(file: file, problems: diagnostics)))
    }

    func runPipeline(_ arguments: ToolArguments, progressToken: ProgressToken?, traceparent: String?) async throws -> CallTool.Result {
        let path = try locate(try arguments.requiredString("pipeline"))
        let plan: Plan
        do {
            plan = try Definitions.load(path)
        } catch {
            throw ToolCallRefused("\(path) is not a valid definition:\n" + error.diagnostics.map(\.description).joined(separator: "\n"))
        }
        let stage = try arguments.string("stage")
        if let stage, plan.stage(named: stage) == nil {
            throw ToolCallRefused("no stage '\(stage)' in \(path); it has: \(plan.stages.map(\.name).joined(separator: ", "))")
        }
        var source: String?
        if let asked = try arguments.string("source") {
            do {
                source = try configuration.sourcePolicy.check(asked, base: configuration.workingDirectory)
            } catch {
                throw ToolCallRefused(error.message)
            }
        }
        var options = RunOptions(cacheRoot: CacheRoot.resolve(explicit: configuration.cacheDirectory, definitionPath: path),
                                 commit: try arguments.string("commit"), sourceOverride: source,
                                 noCache: try arguments.bool("no_cache") ?? false, dockerHost: configuration.dockerHost,
                                 allowRootful: configuration.allowRootful, allowNetwork: configuration.allowNetwork, onlyStage: stage)
        options.attestation = configuration.attestation
        // The caller's trace (MCP's `_meta.traceparent`), never the server's own TRACEPARENT.
        options.traceparent = traceparent
        // The checkout is a stage of its own in the events.
        let total = (stage.flatMap { plan.restricted(to: $0) } ?? plan).stages.count + 1
        let progress = progressToken.map { ProgressReporter(server: server, token: $0, total: total, logger: logger) }
        let summary: RunSummary
        do {
            summary = try await runs.run(plan, options: options, trigger: .agent) { [logger] event in
                progress?.report(event)
                if case .runStarted = event.body { logger.info("run started", metadata: ["run": "\(event.run)", "pipeline": "\(path)"]) }
            }
        } catch {
            throw ToolCallRefused(error.message)
        }
        await progress?.finish()
        // A cancelled request gets no answer (the protocol's rule); the run has cleaned up by now.
        try Task.checkCancellation()
        let line = RunEvent(run: summary.run, .runFinished(summary)).jsonLine()
        return try Self.result(json: line, text: Self.verdict(summary, logs: try? RunHistory(cacheRoot: options.cacheRoot, integrity: .never)), isError: summary.status != RunStatus.passed)
    }

    func listRuns(_ arguments: ToolArguments) throws -> CallTool.Result {
        let status = try arguments.string("status")
        if let status, !RunHistory.statuses.contains(status) {
            throw ToolCallRefused("list_runs: status '\(status)' is not one of \(RunHistory.statuses.joined(separator: ", "))")
        }
        let history = try history()
        let runs: [RunRecord]
        do {
            runs = try history.runs(pipeline: try arguments.string("pipeline"), status: status, limit: try arguments.int("limit", in: 1...1000) ?? 20)
        } catch let refusal as ToolCallRefused {
            throw refusal
        } catch {
            throw ToolCallRefused("cannot read the run history: \(error)")
        }
        let values = runs.map(Self.runValue)
        let text = runs.isEmpty ? "no runs recorded in \(history.folder.path)"
            : runs.map { "\($0.id) \($0.pipeline) \($0.status) \($0.commitSHA.prefix(12))" }.joined(separator: "\n")
        return Self.answer(text, structuredContent: ["runs": .array(values)])
    }

    func getRun(_ arguments: ToolArguments) throws -> CallTool.Result {
        let history = try history()
        let details = try details(try arguments.requiredString("run"), in: history)
        let report = RunReport(details, in: history)
        let record = details.record
        let findings = report.findings
        let attestations = report.attestations
        let text = "run \(record.id): \(record.pipeline) \(record.status) (\(record.trigger)), commit \(record.commitSHA.isEmpty ? "-" : record.commitSHA)"
            + details.stages.map { "\n  \($0.name) \($0.status)\($0.error.map { ": \($0)" } ?? "")" }.joined()
            + attestations.map { "\n  attestation of \($0.stage): \($0.verdictText)" }.joined()
            + (findings.map { "\nreproducibility: \($0.headline)" } ?? "")
        return Self.answer(text, structuredContent: try Self.value(of: report))
    }

    func getStageLog(_ arguments: ToolArguments) throws -> CallTool.Result {
        let history = try history()
        let details = try details(try arguments.requiredString("run"), in: history)
        let stage = try arguments.requiredString("stage")
        // Checked against the run's own stages before it is joined into a path (no `../`).
        guard let file = history.stageLogFile(run: details, stage: stage) else {
            let names = history.stageNames(run: details).joined(separator: ", ")
            throw ToolCallRefused("run \(details.record.id) has no stage '\(stage.prefix(80))'\(names.isEmpty ? "" : "; its stages with logs: \(names)")")
        }
        let tail = try arguments.int("tail", in: 1...10_000)
        let offset = try arguments.int("offset", in: 0...Int(Int32.max))
        let limit = try arguments.int("limit", in: 1...StageLogWindow.maximumBytes)
        if tail != nil, offset != nil || limit != nil {
            throw ToolCallRefused("get_stage_log: give 'tail', or 'offset' and 'limit', not both")
        }
        let window = tail.map { StageLogWindow.tail(file, lines: $0) }
            ?? StageLogWindow.read(file, offset: offset ?? 0, limit: limit ?? StageLogWindow.maximumBytes)
        let structured: Value = ["run": .string(details.record.id), "stage": .string(stage), "text": .string(window.text),
                                 "offset": .int(window.offset), "next_offset": .int(window.nextOffset),
                                 "total_bytes": .int(window.totalBytes), "complete": .bool(window.complete)]
        let more = window.complete ? "" : "\n[\(window.totalBytes - window.nextOffset) more bytes: continue with offset \(window.nextOffset)]"
        return Self.answer(window.text + more, structuredContent: structured)
    }

    func doctor(_ arguments: ToolArguments) async throws -> CallTool.Result {
        var pipelines: [PipelineDefinition] = []
        for name in try arguments.strings("pipelines") ?? [] {
            let path = try locate(name)
            do {
                pipelines.append(try Definitions.load(path).definition)
            } catch {
                throw ToolCallRefused("\(path) is not a valid definition:\n" + error.diagnostics.map(\.description).joined(separator: "\n"))
            }
        }
        let options = RunOptions(cacheRoot: historyCacheRoot, dockerHost: configuration.dockerHost, allowRootful: configuration.allowRootful)
        var report = await Doctor.report(options: options, pipelines: pipelines)
        for index in report.checks.indices {
            report.checks[index].fix = switch report.checks[index].remedy {
            case .chooseCacheRoot: "start the MCP server with --cache-dir naming a writable folder (or set SUTRADHAR_CACHE)"
            case .allowRootful: "use a rootless daemon (scripts/setup.sh starts one), or start the MCP server with --allow-rootful knowingly"
            case .chooseDockerHost: "start the daemon (scripts/setup.sh), or start the MCP server with --docker-host naming its socket"
            case .allowNetwork: "start the MCP server with --allow-network, if stages may have a network"
            case .freeCacheSpace: "free space on the cache's disk (sutradhar cache gc), or start the MCP server with another --cache-dir"
            case nil: report.checks[index].fix
            }
        }
        let json = try OrderedJSONEncoder().serialized(report)
        let text = report.checks.map { "\($0.ok ? "ok  " : "FAIL") \($0.name): \($0.detail)\($0.ok ? "" : $0.fix.map { " (fix: \($0))" } ?? "")" }
            .joined(separator: "\n")
        return try Self.result(json: json, text: text, isError: !report.ok)
    }

    func cacheUsage(_ arguments: ToolArguments) async throws -> CallTool.Result {
        let usage: CacheUsageReport
        do {
            usage = try await CacheTools(root: historyCacheRoot).usageReport(closure: try arguments.bool("closure") ?? true)
        } catch let refusal as ToolCallRefused {
            throw refusal
        } catch {
            throw ToolCallRefused("cannot read the cache: \(error)")
        }
        let json = try OrderedJSONEncoder().serialized(usage)
        return try Self.result(json: json, text: "\(usage.cacheRoot): \(ByteSize(bytes: usage.totalBytes)) on disk")
    }

    // MARK: support

    /// A run as `runs ls --json` prints it: the library's `RunListing`.
    static func runValue(_ run: RunRecord) -> Value {
        // Strings, integers and nulls: encoding cannot fail.
        (try? value(of: run.listing)) ?? .null
    }

    /// The short text of a run's answer: verdict and commit; for the first failed stage its
    /// code, message and the last 20 lines of its log.
    static func verdict(_ summary: RunSummary, logs history: RunHistory?) -> String {
        var lines = ["run \(summary.run) \(summary.status.rawValue): \(summary.pipeline) at \(summary.commit.isEmpty ? "-" : String(summary.commit.prefix(12))) in \(Double(summary.durationMilliseconds) / 1000)s"]
        if let problem = summary.environmentProblem { lines.append("environment problem: \(problem)") }
        lines += summary.warnings.map { "warning: \($0)" }
        if let failed = summary.stages.first(where: { $0.status == .failed }) {
            lines.append("stage \(failed.name) failed [\(failed.code ?? "internal")]: \(failed.error ?? "")")
            if let history {
                let tail = StageLogWindow.tail(history.logFile(run: summary.run, stage: failed.name), lines: 20).text
                if !tail.isEmpty { lines.append("last lines of its log:\n" + tail.trimmingCharacters(in: .newlines)) }
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// Sends a run's stage starts and finishes as progress notifications, in order, from the
/// engine's synchronous event sink.
final class ProgressReporter: Sendable {
    private let continuation: AsyncStream<ProgressNotification.Parameters>.Continuation
    private let sender: Task<Void, Never>
    private let done = Synchronization.Mutex(0)
    private let token: ProgressToken
    private let total: Int

    init(server: Server, token: ProgressToken, total: Int, logger: Logger) {
        self.token = token
        self.total = total
        let (stream, continuation) = AsyncStream.makeStream(of: ProgressNotification.Parameters.self)
        self.continuation = continuation
        sender = Task {
            for await parameters in stream {
                do {
                    try await server.notify(ProgressNotification.message(parameters))
                } catch {
                    logger.warning("cannot send a progress notification", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    func report(_ event: RunEvent) {
        let message: String
        let progress: Int
        switch event.body {
        case .runStarted(let pipeline, _, _, _):
            (message, progress) = ("run \(event.run) started: \(pipeline)", 0)
        case .stageStarted(let stage, let kind):
            (message, progress) = ("\(stage) (\(kind)) started", done.withLock { $0 })
        case .stageFinished(let result):
            let how = result.cached ? "\(result.status.rawValue) (cached)" : result.status.rawValue
            (message, progress) = ("\(result.name) \(how) in \(String(format: "%.1f", Double(result.durationMilliseconds) / 1000))s",
                                   done.withLock { $0 += 1; return $0 })
        default:
            return
        }
        continuation.yield(.init(progressToken: token, progress: Double(progress), total: Double(total), message: message))
    }

    /// Waits until every notification is sent: the answer must come after them.
    func finish() async {
        continuation.finish()
        await sender.value
    }
}
