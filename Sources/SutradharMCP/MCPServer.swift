import Foundation
import Logging
import MCP
import SutradharKit
import Synchronization

/// What the operator grants when starting `sutradhar mcp`. Tool calls can never raise these:
/// `allow_network` and `allow_rootful` are start flags only, and a `source` argument must be a
/// folder under `allowedSources`.
public struct MCPServerConfiguration: Sendable {
    /// `--cache-dir`; nil resolves as `run` does (per definition).
    public var cacheDirectory: String?
    /// `--docker-host`.
    public var dockerHost: String?
    /// `--allow-network`: stages asking for `network: bridge` get one.
    public var allowNetwork: Bool
    /// `--allow-rootful`: a rootful daemon is accepted (loudly).
    public var allowRootful: Bool
    /// `--signing-key` and `--no-attest`: how runs started here sign their attestations.
    public var attestation = AttestationSettings()
    /// `--allow-source`: the folders a `source` argument may name (none by default).
    public var sourcePolicy: SourcePolicy
    /// Where pipelines are looked up from (`pipelines/NAME.yaml` here or above).
    public var workingDirectory: URL {
        didSet { catalog = PipelineCatalog(servedFrom: workingDirectory) }
    }
    /// The pipelines a tool call may name: those of the served folder, by name.
    public private(set) var catalog: PipelineCatalog

    public init(cacheDirectory: String? = nil, dockerHost: String? = nil, allowNetwork: Bool = false, allowRootful: Bool = false,
                allowedSources: [String] = [],
                workingDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)) {
        self.cacheDirectory = cacheDirectory
        self.dockerHost = dockerHost
        self.allowNetwork = allowNetwork
        self.allowRootful = allowRootful
        self.workingDirectory = workingDirectory
        catalog = PipelineCatalog(servedFrom: workingDirectory)
        sourcePolicy = SourcePolicy(allowed: allowedSources, base: workingDirectory)
    }
}

/// `sutradhar mcp`: pipelines as Model Context Protocol tools. Thin over SutradharKit: each tool
/// is one library call, its answer the library's typed result as structured content.
public final class SutradharMCPServer: Sendable {
    let configuration: MCPServerConfiguration
    let logger: Logger
    let server: Server
    /// The runs in flight, so that a stop (SIGTERM, stdin closed) cancels them and waits for
    /// their cleanup (containers removed) before the process exits.
    let runs = RunLauncher()
    private let openHistory = Mutex<(root: URL, history: RunHistory)?>(nil)

    /// - Parameter logger: where the server logs (the CLI sends it to stderr: stdout is the protocol's).
    public init(configuration: MCPServerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        server = Server(name: "sutradhar", version: "0.1.0", title: "Sutradhar",
                        instructions: "Rootless build pipelines: list_pipelines, validate_pipeline, run_pipeline (with progress and cancellation), then list_runs, get_run and get_stage_log to read results.",
                        capabilities: .init(tools: .init(listChanged: false)))
    }

    /// Serves over `transport` until its input ends or `stop()` is called; then cancels the runs
    /// in flight and returns once they have cleaned up.
    /// - Throws: what the transport throws when connecting.
    public func serve(transport: any Transport) async throws {
        await server.withMethodHandler(ListTools.self) { _ in ListTools.Result(tools: ToolCatalog.tools) }
        await server.withMethodHandler(CallTool.self) { [self] parameters in
            try await self.call(parameters)
        }
        try await server.start(transport: transport)
        logger.info("serving MCP on stdio", metadata: ["pid": "\(getpid())"])
        await server.waitUntilCompleted()
        logger.info("input closed: cancelling runs in flight")
        await runs.cancelAllAndWait()
    }

    /// Cancels the runs in flight (as Ctrl-C does), waits for their cleanup, then stops serving.
    public func stop() async {
        await runs.cancelAllAndWait()
        await server.stop()
    }

    /// One tool call: a refusal or failure becomes a tool result with `isError`, never a
    /// protocol error, so that the agent reads why and the server keeps serving.
    /// - Throws: only `CancellationError`, for a request the client cancelled: the SDK then
    ///   sends no answer, as the protocol asks.
    func call(_ parameters: CallTool.Parameters) async throws -> CallTool.Result {
        do {
            guard let tool = ToolName(rawValue: parameters.name), let accepted = ToolCatalog.accepted(parameters.name) else {
                let names = ToolCatalog.tools.map(\.name).joined(separator: ", ")
                throw ToolCallRefused("unknown tool '\(parameters.name.prefix(80))'; the tools are: \(names)")
            }
            let arguments = try ToolArguments(tool: parameters.name, values: parameters.arguments, accepted: accepted)
            switch tool {
            case .listPipelines: return try listPipelines()
            case .validatePipeline: return try validatePipeline(arguments)
            case .runPipeline:
                return try await runPipeline(arguments, progressToken: parameters._meta?.progressToken,
                                             traceparent: parameters._meta?["traceparent"]?.stringValue)
            case .listRuns: return try listRuns(arguments)
            case .getRun: return try getRun(arguments)
            case .getStageLog: return try getStageLog(arguments)
            case .doctor: return try await doctor(arguments)
            case .cacheUsage: return try await cacheUsage(arguments)
            }
        } catch is CancellationError {
            throw CancellationError()
        } catch let refusal as ToolCallRefused {
            logger.notice("tool call refused", metadata: ["tool": "\(parameters.name)", "reason": "\(refusal.message)"])
            return CallTool.Result(content: [Self.text(refusal.message)], isError: true)
        } catch {
            logger.error("tool call failed", metadata: ["tool": "\(parameters.name)", "error": "\(error)"])
            return CallTool.Result(content: [Self.text("\(parameters.name) failed: \(error)")], isError: true)
        }
    }

    // MARK: shared

    /// The definition of pipeline `name` in the served folder: a name, never a path (see
    /// `PipelineCatalog`, the library's one rule for callers who are not the operator).
    func locate(_ name: String) throws(ToolCallRefused) -> String {
        do {
            return try configuration.catalog.path(of: name)
        } catch {
            throw ToolCallRefused(error.message)
        }
    }

    /// The cache whose history the run tools read: as `run` would choose it from the working directory.
    var historyCacheRoot: URL {
        // No lookup of pipelines/ when --cache-dir settles it: the run tools must answer in milliseconds.
        if let explicit = configuration.cacheDirectory { return CacheRoot.resolve(explicit: explicit, definitionPath: nil) }
        return CacheRoot.resolve(definitionPath: Definitions.defaultDefinitionPath(from: configuration.workingDirectory))
    }

    /// The run history, opened once (with its integrity check) and kept: the run tools are
    /// called often and must answer in milliseconds.
    func history() throws(ToolCallRefused) -> RunHistory {
        let root = historyCacheRoot
        if let open = openHistory.withLock({ $0 }), open.root == root { return open.history }
        do {
            let history = try RunHistory(cacheRoot: root)
            openHistory.withLock { $0 = (root, history) }
            return history
        } catch {
            throw ToolCallRefused("cannot open the run history under \(root.path): \(error)")
        }
    }

    /// The run `id` names (an ID or a unique prefix).
    func details(_ id: String, in history: RunHistory) throws(ToolCallRefused) -> RunDetails {
        let found: RunDetails?
        do {
            found = try history.run(id)
        } catch {
            throw ToolCallRefused("cannot read the run history: \(error)")
        }
        guard let found else {
            throw ToolCallRefused("no run '\(id)' in \(history.folder.path) (not an ID, or a prefix of several); list_runs shows the runs")
        }
        return found
    }

    /// A JSON text (the library's documented JSON) as structured content.
    static func value(json: String) throws -> Value {
        try JSONDecoder().decode(Value.self, from: Data(json.utf8))
    }

    /// The library's JSON as MCP's: a walk over the tree, no text in between (a run listing goes
    /// through this for every run of `list_runs`).
    static func value(_ json: JSONValue) -> Value {
        switch json {
        case .string(let string): .string(string)
        case .int(let int): .int(Int(int))
        case .double(let double): .double(double)
        case .bool(let bool): .bool(bool)
        case .null: .null
        case .array(let items): .array(items.map(value))
        case .object(let pairs): .object(Dictionary(pairs.map { ($0.0, value($0.1)) }, uniquingKeysWith: { _, last in last }))
        }
    }

    /// A library type as MCP structured content, encoded as every front end encodes it.
    static func value(of encodable: some Encodable) throws -> Value {
        value(try OrderedJSONEncoder().value(of: encodable))
    }

    /// A JSON text as a result: structured, and the same JSON as the text content (for clients
    /// that read only text).
    static func result(json: String, text: String? = nil, isError: Bool = false) throws -> CallTool.Result {
        answer(text ?? json, structuredContent: try value(json: json), isError: isError)
    }

    /// Text content, with no annotations.
    static func text(_ text: String) -> Tool.Content { .text(text: text, annotations: nil, _meta: nil) }

    /// A result with text and structured content (the SDK's non-generic initialiser: a `Value`
    /// is structured content as it is).
    static func answer(_ text: String, structuredContent: Value, isError: Bool = false) -> CallTool.Result {
        let structured: Value? = structuredContent
        return CallTool.Result(content: [Self.text(text)], structuredContent: structured, isError: isError ? true : nil)
    }
}
