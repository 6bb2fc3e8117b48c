import Foundation
import Logging
import MCP
import Attestation
import SutradharKit
import SutradharMCP
import SutradharTesting
import Testing

/// Every tool but `run_pipeline` (which needs the daemon: see MCPClientTests) through the SDK's
/// in-process transport, on a workspace with a recorded history made of synthetic events.
@Suite struct InProcessToolTests {
    @Test func listsEveryToolWithSchemasAndReadOnlyAnnotations() async throws {
        try await withServer { client, _ in
            let tools = try await client.listTools().tools
            #expect(tools.map(\.name).sorted() == ["cache_usage", "doctor", "get_run", "get_stage_log", "list_pipelines", "list_runs",
                                                   "run_pipeline", "validate_pipeline"])
            for tool in tools {
                #expect(tool.outputSchema != nil, "\(tool.name)")
                #expect(tool.inputSchema.objectValue?["type"] == "object", "\(tool.name)")
                #expect(tool.annotations.readOnlyHint == (tool.name != "run_pipeline"), "\(tool.name)")
            }
        }
    }

    @Test func listPipelinesAndValidateADefinition() async throws {
        try await withServer { client, _ in
            let listed = try await call(client, "list_pipelines")
            let pipelines = try #require(listed.structuredContent?.objectValue?["pipelines"]?.arrayValue)
            #expect(pipelines.compactMap { $0.objectValue?["name"]?.stringValue } == ["demo"])
            #expect(pipelines.first?.objectValue?["stages"]?.arrayValue?.first?.objectValue?["kind"] == "container")

            let valid = try await call(client, "validate_pipeline", ["pipeline": "demo"])
            #expect(valid.structuredContent?.objectValue?["valid"] == true)
            let broken = try await call(client, "validate_pipeline", ["definition": "version: 1\nname: x\n"])
            #expect(broken.isError != true)
            #expect(broken.structuredContent?.objectValue?["valid"] == false)
            let problem = try #require(broken.structuredContent?.objectValue?["problems"]?.arrayValue?.first?.objectValue)
            #expect(problem["message"]?.stringValue?.contains("source") == true, "\(problem)")
            #expect(problem["line"]?.intValue == 1)
        }
    }

    @Test func runToolsReadTheHistory() async throws {
        try await withServer { client, workspace in
            let logText = (1...30).map { "line \($0) é" }.joined(separator: "\n") + "\n"
            let run = try record(in: workspace, log: logText)

            let runs = try await call(client, "list_runs", ["limit": 5])
            #expect(runs.structuredContent?.objectValue?["runs"]?.arrayValue?.first?.objectValue?["run"]?.stringValue == run)
            // The server builds each run's value field by field (for speed); it must stay exactly
            // what `runs ls --json` prints for it.
            let recorded = try RunHistory(cacheRoot: workspace.appendingPathComponent("cache")).runs(limit: 5)
            let printed = try recorded.map { try JSONDecoder().decode(Value.self, from: Data($0.jsonLine.utf8)) }
            #expect(runs.structuredContent?.objectValue?["runs"]?.arrayValue == printed)

            let got = try await call(client, "get_run", ["run": .string(String(run.dropLast(2)))])
            let object = try #require(got.structuredContent?.objectValue)
            #expect(object["status"] == "failed")
            #expect(object["summary"]?.objectValue?["event"] == "run-finished")
            #expect(object["stages"]?.arrayValue?.first?.objectValue?["name"] == "work")
            // An ordinary run checked nothing: no reproducibility field.
            #expect(object["reproducibility"] == nil)
            #expect(object["attestations"]?.arrayValue == [])

            // An envelope in the run's folder is listed with its signer.
            let key = SigningKey.generate()
            let folder = workspace.appendingPathComponent("cache/runs/\(run)/attestations")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let statement = Statement(subject: [ResourceDescriptor(name: "app:ci", digest: ["sha256": String(repeating: "ab", count: 32)])],
                                      predicateType: TestResult.predicateType,
                                      predicate: TestResult(result: "PASSED", configuration: [], passedTests: ["probe"]))
            try CanonicalJSON.encode(Envelope.sign(statement, with: key)).write(to: folder.appendingPathComponent("work.test-result.json"))
            let attested = try await call(client, "get_run", ["run": .string(run)])
            let attestation = try #require(attested.structuredContent?.objectValue?["attestations"]?.arrayValue?.first?.objectValue)
            #expect(attestation["stage"] == "work")
            #expect(attestation["key_id"]?.stringValue == key.keyID)
            #expect(attestation["predicate_type"]?.stringValue == TestResult.predicateType)
            #expect(attestation["subjects"]?.arrayValue == [.string("app:ci sha256:" + String(repeating: "ab", count: 32))])

            let tail = try await call(client, "get_stage_log", ["run": .string(run), "stage": "work", "tail": 2])
            #expect(tail.structuredContent?.objectValue?["text"] == "line 29 é\nline 30 é\n")
            #expect(tail.structuredContent?.objectValue?["complete"] == true)

            // "line 1 é\n" is 10 bytes (é is two): a limit of 9 must not cut the é.
            let window = try await call(client, "get_stage_log", ["run": .string(run), "stage": "work", "offset": 0, "limit": 8])
            #expect(window.structuredContent?.objectValue?["text"] == "line 1 ")
            #expect(window.structuredContent?.objectValue?["next_offset"] == 7)
            #expect(window.structuredContent?.objectValue?["complete"] == false)
        }
    }

    @Test func getRunOfAReproducibilityCheckSaysWhatItFound() async throws {
        try await withServer { client, workspace in
            let history = try RunHistory(cacheRoot: workspace.appendingPathComponent("cache"))
            let recorder = HistoryRecorder(history: history, trigger: "manual")
            let run = "20261202-120000-beef"
            recorder.record(RunEvent(run: run, .runStarted(pipeline: "demo", source: workspace.path, ref: nil, cacheRoot: "")))
            let stage = StageResult(name: "image", kind: "nix-build", status: .failed, cached: true, durationMilliseconds: 5,
                                    outputs: [("reproducible", .bool(false)),
                                              ("differing_files", .array([.string("layer 1 of 1 (l.tar): etc/built-at")])),
                                              ("report", .string("/c/runs/\(run)/reproducibility/image.differences.txt"))],
                                    error: "not reproducible", code: .notReproducible)
            recorder.record(RunEvent(run: run, .stageFinished(stage)))
            recorder.record(RunEvent(run: run, .runFinished(RunSummary(run: run, pipeline: "demo", commit: "", status: .failed,
                                                                       durationMilliseconds: 9, stages: [stage]))))
            let got = try await call(client, "get_run", ["run": .string(run)])
            let found = try #require(got.structuredContent?.objectValue?["reproducibility"]?.objectValue, "\(got)")
            #expect(found["checked"] == 1)
            #expect(found["reproducible"] == 0)
            let miss = try #require(found["stages"]?.arrayValue?.first?.objectValue)
            #expect(miss["stage"] == "image")
            #expect(miss["differences"]?.arrayValue?.first == "layer 1 of 1 (l.tar): etc/built-at")
            #expect(miss["report"]?.stringValue?.hasSuffix("image.differences.txt") == true)
            #expect(text(got).contains("reproducibility: 0 of 1 output reproducible"))
        }
    }

    @Test func badInputIsAToolErrorAndTheServerKeepsServing() async throws {
        try await withServer { client, _ in
            let cases: [(String, [String: Value], String)] = [
                ("no_such_tool", [:], "unknown tool 'no_such_tool'"),
                ("get_run", [:], "missing required argument 'run'"),
                ("list_runs", ["limit": "ten"], "'limit' must be an integer"),
                ("list_runs", ["limit": 0], "must be between 1 and 1000"),
                ("list_runs", ["status": "green"], "status 'green' is not one of"),
                ("get_run", ["run": "x", "verbose": true], "unknown argument verbose"),
                ("run_pipeline", ["pipeline": "nowhere"], "no pipeline 'nowhere'"),
                ("run_pipeline", ["pipeline": "demo", "source": "/etc"], "not under an allowed folder"),
                ("run_pipeline", ["pipeline": "demo", "stage": "nope"], "no stage 'nope'"),
                ("get_run", ["run": "19990101-000000-0000"], "no run '19990101-000000-0000'"),
                ("validate_pipeline", [:], "exactly one of 'pipeline'"),
            ]
            for (tool, arguments, says) in cases {
                let result = try await call(client, tool, arguments)
                #expect(result.isError == true, "\(tool) \(arguments)")
                #expect(text(result).contains(says), "\(tool) \(arguments): \(text(result))")
            }
            #expect(try await call(client, "list_pipelines").isError != true)
        }
    }

    @Test func doctorAndCacheUsageAnswerWithTheLibraryReports() async throws {
        try await withServer { client, workspace in
            let usage = try await call(client, "cache_usage", ["closure": false])
            #expect(usage.isError != true, "\(text(usage))")
            #expect(usage.structuredContent?.objectValue?["cache_root"]?.stringValue == workspace.appendingPathComponent("cache").path)
            let doctor = try await call(client, "doctor")
            let checks = try #require(doctor.structuredContent?.objectValue?["checks"]?.arrayValue)
            #expect(checks.contains { $0.objectValue?["name"] == "cache" && $0.objectValue?["ok"] == true }, "\(checks)")
            #expect(!checks.contains { $0.objectValue?["name"] == "nix-push" }, "no pipeline named, yet: \(checks)")
        }
    }

    @Test func doctorChecksThePushKeyOfEachPipelineNamedAndRefusesAnUnknownOne() async throws {
        try await withServer { client, workspace in
            try Data("""
                version: 1
                name: pushy
                source: { path: ../src }
                cache: { nix-push: "file://\(workspace.path)/binary-cache", nix-push-key: "\(workspace.path)/no-such.key" }
                stages:
                  work:
                    container: { image: "busybox:latest", command: [true] }

                """.utf8).write(to: workspace.appendingPathComponent("pipelines/pushy.yaml"))
            let doctor = try await call(client, "doctor", ["pipelines": ["pushy"]])
            #expect(doctor.isError == true, "a push key nobody can read is a failing check")
            let checks = try #require(doctor.structuredContent?.objectValue?["checks"]?.arrayValue)
            let push = checks.first { $0.objectValue?["name"] == "nix-push" }?.objectValue
            #expect(push?["ok"] == false, "\(checks)")
            #expect(push?["detail"]?.stringValue?.contains("no-such.key") == true, "\(String(describing: push))")

            let unknown = try await call(client, "doctor", ["pipelines": ["nope"]])
            #expect(unknown.isError == true)
            #expect(text(unknown).contains("nope") && text(unknown).contains("pushy"), "\(text(unknown))")
            let mistyped = try await call(client, "doctor", ["pipelines": "pushy"])
            #expect(text(mistyped).contains("must be an array of strings"), "\(text(mistyped))")
        }
    }

    // MARK: support

    func call(_ client: Client, _ tool: String, _ arguments: [String: Value] = [:]) async throws -> CallTool.Result {
        let context: RequestContext<CallTool.Result> = try await client.callTool(name: tool, arguments: arguments)
        return try await context.value
    }

    func text(_ result: CallTool.Result) -> String {
        result.content.compactMap { if case .text(let text, _, _) = $0 { text } else { nil } }.joined(separator: "\n")
    }

    /// A workspace with `pipelines/demo.yaml` and an `allowed/` folder, a server on it, and a
    /// connected client.
    func withServer(_ body: (Client, URL) async throws -> Void) async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-mcp-inproc") { workspace in
            for folder in ["pipelines", "src", "allowed"] {
                try FileManager.default.createDirectory(at: workspace.appendingPathComponent(folder), withIntermediateDirectories: true)
            }
            try Data("""
                version: 1
                name: demo
                source: { path: ../src }
                stages:
                  work:
                    container: { image: "busybox:latest", command: [true] }

                """.utf8).write(to: workspace.appendingPathComponent("pipelines/demo.yaml"))
            let server = SutradharMCPServer(
                configuration: MCPServerConfiguration(cacheDirectory: workspace.appendingPathComponent("cache").path,
                                                      dockerHost: "unix:///nonexistent.sock",
                                                      allowedSources: [workspace.appendingPathComponent("allowed").path],
                                                      workingDirectory: workspace),
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
            let (clientSide, serverSide) = await InMemoryTransport.createConnectedPair()
            let serving = Task { try await server.serve(transport: serverSide) }
            let client = Client(name: "tests", version: "1")
            _ = try await client.connect(transport: clientSide)
            do {
                try await body(client, workspace)
            } catch {
                await server.stop()
                throw error
            }
            await client.disconnect()
            await server.stop()
            try await serving.value
        }
    }

    /// Records a finished, failed run of `demo` with one stage whose log is `log`, as a run
    /// records itself (through `HistoryRecorder`); returns its ID.
    func record(in workspace: URL, log: String) throws -> String {
        let history = try RunHistory(cacheRoot: workspace.appendingPathComponent("cache"))
        let recorder = HistoryRecorder(history: history, trigger: "agent")
        let run = "20261201-120000-abcd"
        recorder.record(RunEvent(run: run, .runStarted(pipeline: "demo", source: workspace.path, ref: nil, cacheRoot: "")))
        for line in log.split(separator: "\n") { recorder.record(RunEvent(run: run, .log(stage: "work", stream: "stdout", line: String(line)))) }
        let stage = StageResult(name: "work", kind: "container", status: .failed, cached: false, durationMilliseconds: 5,
                                error: "exited 3", code: .containerFailed)
        recorder.record(RunEvent(run: run, .stageFinished(stage)))
        recorder.record(RunEvent(run: run, .runFinished(RunSummary(run: run, pipeline: "demo", commit: "", status: .failed,
                                                                   durationMilliseconds: 9, stages: [stage]))))
        return run
    }
}
