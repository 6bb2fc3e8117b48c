import Foundation
import SutradharTesting
import Testing

/// Trace context in and out of a run: an MCP caller's `_meta.traceparent` makes its run a child of
/// the caller's trace (and the server's own TRACEPARENT is not applied to it), and the run hands
/// its own context to its containers as `TRACEPARENT` unless that is switched off.
@Suite(.serialized)
struct TraceContextTests {
    static let callerTrace = "0af7651916cd43dd8448eb211c80319c"
    static let callerSpan = "b7ad6b7169203331"
    static let serverTrace = "11111111111111111111111111111111"

    @Test(.requiresNix, .enabled(if: OTLPReceiver.available || TestEnvironment.isCI, "the Python venv with opentelemetry-proto and mcp is installed"))
    func anMCPCallersTraceparentMakesTheRunAChildOfTheCallersTrace() async throws {
        try NixFixtures.requireNix()
        try await OTLPReceiver.with { receiver in
            try await Workspace.with { workspace in
                _ = try OTLPExportTests.pipeline(.succeeding, in: workspace, named: "traced", folder: "pipelines")
                let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Receiver/mcp_traced_call.py")
                let (status, output) = try await ScriptRunner.run(OTLPReceiver.python, [
                    script.path, SutradharCLI.executable.path, workspace.root.path, "traced", "00-\(Self.callerTrace)-\(Self.callerSpan)-01",
                    "OTEL_EXPORTER_OTLP_ENDPOINT=\(receiver.endpoint)", "OTEL_EXPORTER_OTLP_TIMEOUT=\(OTLPReceiver.patientTimeout)",
                    // The server's own trace context must not become every run's parent.
                    "TRACEPARENT=00-\(Self.serverTrace)-2222222222222222-01",
                ], timeout: .seconds(600))
                #expect(status == 0, "\(output)")
                let lines = output.split(separator: "\n").map(String.init)
                #expect(lines.contains("with-meta: \(Self.callerTrace)"), "\(output)")
                let other = try #require(lines.first { $0.hasPrefix("without-meta: ") }?.dropFirst("without-meta: ".count), "\(output)")
                #expect(other.count == 32 && other != Self.callerTrace && other != Self.serverTrace, "\(output)")

                let spans = receiver.spans()
                let callers = spans.filter { $0["trace_id"] as? String == Self.callerTrace }
                #expect(callers.count == 6, "root, checkout (fetch, write tree), build (nix build): \(spans)")
                let root = try #require(callers.first { $0["parent_span_id"] as? String == Self.callerSpan }, "\(spans)")
                #expect((root["attributes"] as? [String: Any])?["sutradhar.run.trigger"] as? String == "agent")
                #expect(!spans.contains { $0["trace_id"] as? String == Self.serverTrace }, "\(spans)")
            }
        }
    }

    @Test(.requiresDocker, .enabled(if: OTLPReceiver.available || TestEnvironment.isCI, "the Python venv with opentelemetry-proto is installed"))
    func aContainerSeesTheRunsTraceparentUnlessPropagationIsOff() async throws {
        let host = try DockerTestSupport.requireDockerHost()
        try await OTLPReceiver.with { receiver in
            try await Workspace.with { workspace in
                let source = workspace.root.appendingPathComponent("src")
                try FileManager.default.createDirectory(at: source, withIntermediateDirectories: true)
                try Data("a file\n".utf8).write(to: source.appendingPathComponent("file.txt"))
                let tag = "sutradhar-trace-test-\(UUID().uuidString.prefix(8).lowercased()):latest"
                // A label of its own gives the image an ID of its own, which no other suite removes.
                let archive = try DockerTestSupport.makeTinyImageArchive(at: workspace.root.appendingPathComponent("image.tar").path, tag: tag,
                                                                         labels: ["dev.sutradhar.test.owner": tag])
                try DockerTestSupport.run("/usr/local/bin/docker", ["load", "-i", archive.path], environment: ["DOCKER_HOST": host])
                defer { _ = try? DockerTestSupport.run("/usr/local/bin/docker", ["rmi", "-f", archive.imageID], environment: ["DOCKER_HOST": host]) }
                let definition = try workspace.writePipeline("""
                    version: 1
                    name: traced-container
                    source: { path: ./src }
                    stages:
                      work:
                        timeout: 5m
                        container:
                          image: "\(tag)"
                          command: [sh, -c, "echo traceparent=${TRACEPARENT:-none}"]
                    """)
                let traced: [String: String] = [
                    "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_EXPORTER_OTLP_TIMEOUT": OTLPReceiver.patientTimeout,
                    "TRACEPARENT": "00-\(Self.callerTrace)-\(Self.callerSpan)-01", "DOCKER_HOST": host,
                ]
                let result = try await workspace.sutradhar(["run", definition, "--json", "--no-cache"], environment: traced)
                #expect(result.exitCode == 0, "\(result.stdout)\n\(result.stderr)")
                let printed = Self.logLines(result, of: "work")
                // The caller's trace, continued: the container's parent is the run's root span, not the caller's span.
                let root = try #require(receiver.spans().first { $0["parent_span_id"] as? String == Self.callerSpan }, "\(receiver.spans())")
                let rootSpan = try #require(root["span_id"] as? String)
                #expect(printed == ["traceparent=00-\(Self.callerTrace)-\(rootSpan)-01"], "\(printed)")

                let off = try await workspace.sutradhar(["run", definition, "--json", "--no-cache"],
                                                        environment: traced.merging(["SUTRADHAR_TRACE_PROPAGATION": "off"]) { $1 })
                #expect(off.exitCode == 0, "\(off.stdout)\n\(off.stderr)")
                #expect(Self.logLines(off, of: "work") == ["traceparent=none"], "\(off.stdout)")
                #expect(off.summary?["trace_id"] as? String == Self.callerTrace, "still traced, only not propagated")
            }
        }
    }

    @Test(.requiresDocker, .requiresNix, .enabled(if: OTLPReceiver.available || TestEnvironment.isCI, "the Python venv with opentelemetry-proto is installed"))
    func theExamplesTraceShowsWhereTheTimeWentInsideEachStage() async throws {
        let host = try DockerTestSupport.requireDockerHost()
        try NixFixtures.requireNix()
        try await OTLPReceiver.with { receiver in
            try await Workspace.with { workspace in
                let example = SutradharCLI.repositoryRoot.appendingPathComponent("pipelines/example.yaml").path
                let result = try await workspace.sutradhar(["run", example, "--json"], environment: [
                    "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_EXPORTER_OTLP_TIMEOUT": OTLPReceiver.patientTimeout, "DOCKER_HOST": host,
                ], timeout: .seconds(900))
                #expect(result.exitCode == 0, "\(result.stdout.suffix(3000))\n\(result.stderr)")
                let traceID = try #require(result.summary?["trace_id"] as? String)
                // The server's removal comes after the verdict, its span possibly in a later batch.
                var spans = receiver.spans()
                for _ in 0..<100 where !spans.contains(where: { $0["name"] as? String == "container remove" }) {
                    try await Task.sleep(for: .milliseconds(50))
                    spans = receiver.spans()
                }
                #expect(spans.allSatisfy { $0["trace_id"] as? String == traceID })
                let root = try #require(spans.first { ($0["parent_span_id"] as? String)?.isEmpty == true }, "\(spans)")
                func stage(_ name: String) -> [String: Any]? {
                    spans.first { $0["name"] as? String == name && $0["parent_span_id"] as? String == root["span_id"] as? String }
                }
                #expect(OTLPReceiver.children(of: try #require(stage("checkout")), in: spans) == ["write tree"], "a folder source is not fetched")
                #expect(OTLPReceiver.children(of: try #require(stage("image")), in: spans) == ["nix build"])
                // An image the shared daemon already has is not sent again (the stage's `bytes` is 0 then).
                let sent = ((result.stage("load")?["outputs"] as? [String: Any])?["bytes"] as? Int ?? 0) > 0
                #expect(OTLPReceiver.children(of: try #require(stage("load")), in: spans) == (sent ? ["image upload"] : []), "\(spans)")
                let smoke = OTLPReceiver.children(of: try #require(stage("smoke")), in: spans)
                #expect(smoke == ["container create", "container remove", "container start", "probe"], "\(spans)")
                let sidecar = OTLPReceiver.children(of: try #require(stage("probe-from-sidecar")), in: spans)
                // The server's create, start, removal and probe; each sidecar probe's create and removal.
                #expect(Set(sidecar) == ["container create", "container remove", "container start", "probe"], "\(spans)")
            }
        }
    }

    static func logLines(_ result: SutradharCLI.Result, of stage: String) -> [String] {
        result.events.filter { $0["event"] as? String == "log" && $0["stage"] as? String == stage && $0["stream"] as? String == "stdout" }
            .compactMap { $0["line"] as? String }
    }
}
