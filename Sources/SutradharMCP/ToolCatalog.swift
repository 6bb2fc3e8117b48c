import MCP

/// The tools `sutradhar mcp` offers: names, descriptions, input and output schemas, annotations.
/// The input schemas list exactly the arguments `ToolArguments` accepts.
/// The tools, one case each: the server's dispatch switches over this enum, so a tool added to
/// the catalog without a handler does not compile (it cannot fall through to another tool).
enum ToolName: String, CaseIterable, Sendable {
    case listPipelines = "list_pipelines"
    case validatePipeline = "validate_pipeline"
    case runPipeline = "run_pipeline"
    case listRuns = "list_runs"
    case getRun = "get_run"
    case getStageLog = "get_stage_log"
    case doctor = "doctor"
    case cacheUsage = "cache_usage"
}

enum ToolCatalog {
    static let listPipelines = ToolName.listPipelines.rawValue
    static let validatePipeline = ToolName.validatePipeline.rawValue
    static let runPipeline = ToolName.runPipeline.rawValue
    static let listRuns = ToolName.listRuns.rawValue
    static let getRun = ToolName.getRun.rawValue
    static let getStageLog = ToolName.getStageLog.rawValue
    static let doctor = ToolName.doctor.rawValue
    static let cacheUsage = ToolName.cacheUsage.rawValue

    static let tools: [Tool] = [
        Tool(name: listPipelines, title: "List pipelines",
             description: "The pipeline definitions found in pipelines/ (from the server's working directory upwards): name, description, source, and stages with kinds and needs.",
             inputSchema: object([:]),
             annotations: readOnly("List pipelines"),
             outputSchema: object(["pipelines": array(.object(["type": "object", "required": ["name", "file", "valid"]]))], required: ["pipelines"])),
        Tool(name: validatePipeline, title: "Validate a pipeline",
             description: "Checks a definition without running anything: every problem with line, column and message. Give `pipeline` (a name) or `definition` (the YAML text).",
             inputSchema: object(["pipeline": string("A pipeline name: NAME for pipelines/NAME.yaml of the served folder (list_pipelines lists them); never a path."),
                                  "definition": string("The definition as YAML text, instead of `pipeline`.")]),
             annotations: readOnly("Validate a pipeline"),
             outputSchema: object(["file": .object(["type": "string"]), "valid": .object(["type": "boolean"]),
                                   "problems": array(object(["file": .object(["type": "string"]), "line": .object(["type": "integer"]),
                                                            "column": .object(["type": "integer"]), "message": .object(["type": "string"])],
                                                           required: ["line", "column", "message"]))],
                                  required: ["file", "valid", "problems"])),
        Tool(name: runPipeline, title: "Run a pipeline",
             description: "Runs a pipeline (checkout, nix build, image load, smoke containers) and answers when it has finished. Structured content: the run-finished summary (schema 1, as `sutradhar run --json` ends with). isError is true when the run did not pass. Send a progress token for one notification per stage start and finish; cancel the request to stop the run (its containers are removed).",
             inputSchema: object(["pipeline": string("A pipeline name: NAME for pipelines/NAME.yaml of the served folder (list_pipelines lists them); never a path."),
                                  "commit": string("Build this branch, tag or commit instead of the definition's source.ref."),
                                  "source": string("Build this folder instead of the definition's source: only under a folder the server was started with --allow-source for."),
                                  "stage": string("Run only this stage and the stages it needs."),
                                  "no_cache": .object(["type": "boolean", "description": "Run every stage again, ignoring cached results."])],
                                 required: ["pipeline"]),
             annotations: .init(title: "Run a pipeline", readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true),
             outputSchema: summarySchema),
        Tool(name: listRuns, title: "List runs",
             description: "Past and running runs, newest first, from the run history.",
             inputSchema: object(["pipeline": string("Only runs of this pipeline."),
                                  "status": .object(["type": "string", "enum": .array(["running", "passed", "failed", "cancelled", "abandoned"])]),
                                  "limit": .object(["type": "integer", "minimum": 1, "maximum": 1000, "description": "At most this many (default 20)."])]),
             annotations: readOnly("List runs"),
             outputSchema: object(["runs": array(runSchema)], required: ["runs"])),
        Tool(name: getRun, title: "Get a run",
             description: "One run: its record, its stages and, once finished, its run-finished summary; for a reproducibility check (`sutradhar reproduce`, or a nightly that checks), `reproducibility`: how many outputs were checked and reproducible, and where each miss differs. `run` may be a unique prefix of the ID.",
             inputSchema: object(["run": string("The run's ID or a unique prefix.")], required: ["run"]),
             annotations: readOnly("Get a run"),
             outputSchema: runSchema),
        Tool(name: getStageLog, title: "Read a stage's log",
             description: "A stage's log from the run history, at most 64 KiB per answer: the last `tail` lines, or `limit` bytes from `offset` (continue from `next_offset` until `complete`).",
             inputSchema: object(["run": string("The run's ID or a unique prefix."), "stage": string("The stage's name (checkout for the source step)."),
                                  "tail": .object(["type": "integer", "minimum": 1, "maximum": 10000, "description": "Only the last N lines."]),
                                  "offset": .object(["type": "integer", "minimum": 0, "description": "The byte offset to start from (default 0)."]),
                                  "limit": .object(["type": "integer", "minimum": 1, "maximum": 65536, "description": "At most this many bytes (default and maximum 65536)."])],
                                 required: ["run", "stage"]),
             annotations: readOnly("Read a stage's log"),
             outputSchema: object(["run": .object(["type": "string"]), "stage": .object(["type": "string"]), "text": .object(["type": "string"]),
                                   "offset": .object(["type": "integer"]), "next_offset": .object(["type": "integer"]),
                                   "total_bytes": .object(["type": "integer"]), "complete": .object(["type": "boolean"])],
                                  required: ["run", "stage", "text", "offset", "next_offset", "total_bytes", "complete"])),
        Tool(name: doctor, title: "Check the machine",
             description: "Checks nix, libgit2, the cache folder, free disk and the Docker daemon, as `sutradhar doctor --json`; for each pipeline named, also pings its remote builders and checks its push key, as `sutradhar doctor PIPELINE… --json`.",
             inputSchema: object(["pipelines": .object(["type": "array", "items": .object(["type": "string"]),
                                                        "description": "Pipeline names (pipelines/NAME.yaml of the served folder) whose remote builders and push key to check too."])]),
             annotations: readOnly("Check the machine"),
             outputSchema: object(["ok": .object(["type": "boolean"]), "checks": array(.object(["type": "object"]))], required: ["ok", "checks"])),
        Tool(name: cacheUsage, title: "Cache usage",
             description: "Where the cache's space went, per kind and per pipeline, as `sutradhar cache du --json`.",
             inputSchema: object(["closure": .object(["type": "boolean", "description": "Ask nix for closure sizes (default true; slower)."])]),
             annotations: readOnly("Cache usage"),
             outputSchema: object(["total_bytes": .object(["type": "integer"])], required: ["total_bytes"])),
    ]

    /// The arguments each tool accepts (the keys of its input schema).
    static func accepted(_ tool: String) -> Set<String>? {
        guard let schema = tools.first(where: { $0.name == tool })?.inputSchema.objectValue,
              let properties = schema["properties"]?.objectValue else { return nil }
        return Set(properties.keys)
    }

    /// The run-finished event (docs/events.md), as structured content.
    static let summarySchema = object([
        "event": .object(["type": "string", "const": "run-finished"]), "schema": .object(["type": "integer"]),
        "run": .object(["type": "string"]), "pipeline": .object(["type": "string"]), "commit": .object(["type": "string"]),
        "status": .object(["type": "string", "enum": ["passed", "failed", "cancelled"]]),
        "duration_ms": .object(["type": "integer"]),
        "stages": array(object(["name": .object(["type": "string"]), "kind": .object(["type": "string"]), "status": .object(["type": "string"]),
                                "cached": .object(["type": "boolean"]), "duration_ms": .object(["type": "integer"]),
                                "error": .object(["type": "string"]), "code": .object(["type": "string"])],
                               required: ["name", "kind", "status"])),
        "warnings": array(.object(["type": "string"])),
        // Present when the run was traced (OTEL_* variables): the W3C trace ID, 32 hex.
        "trace_id": .object(["type": "string"]),
    ], required: ["event", "schema", "run", "pipeline", "commit", "status", "stages"])

    /// A run as `get_run` and `list_runs` give it.
    static let runSchema = object([
        "run": .object(["type": "string"]), "pipeline": .object(["type": "string"]), "status": .object(["type": "string"]),
        "trigger": .object(["type": "string"]), "commit": .object(["type": "string"]),
    ], required: ["run", "pipeline", "status"])

    private static func readOnly(_ title: String) -> Tool.Annotations {
        .init(title: title, readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false)
    }

    private static func object(_ properties: [String: Value], required: [String] = []) -> Value {
        var schema: [String: Value] = ["type": "object", "properties": .object(properties)]
        if !required.isEmpty { schema["required"] = .array(required.map(Value.string)) }
        return .object(schema)
    }

    private static func array(_ items: Value) -> Value { .object(["type": "array", "items": items]) }

    private static func string(_ description: String) -> Value { .object(["type": "string", "description": .string(description)]) }
}
