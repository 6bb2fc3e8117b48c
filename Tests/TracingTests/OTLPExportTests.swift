import Foundation
import SutradharTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Real runs of a one-stage nix pipeline traced to a real OTLP/HTTP peer: a loopback receiver in
/// Python that decodes the protobuf requests with opentelemetry-proto (Receiver/otlp_receiver.py,
/// the venv of scripts/setup.sh). Under CI=true a missing venv or nix fails instead of skipping.
@Suite(.serialized, .requiresNix)
struct OTLPExportTests {
    static let callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
    static let callerSpan = "00f067aa0ba902b7"

    @Test(.enabled(if: OTLPReceiver.available || TestEnvironment.isCI, "the Python venv with opentelemetry-proto is installed"))
    func aRunIsOneTraceWithARootSpanAndOneSpanPerStageUnderTheCallersTrace() async throws {
        try NixFixtures.requireNix()
        try await OTLPReceiver.with { receiver in
            try await Workspace.with { workspace in
                let definition = try Self.pipeline(.succeeding, in: workspace)
                let result = try await workspace.sutradhar(["run", definition, "--json"], environment: [
                    "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_EXPORTER_OTLP_TIMEOUT": OTLPReceiver.patientTimeout,
                    "TRACEPARENT": "00-\(Self.callerTrace)-\(Self.callerSpan)-01",
                ])
                #expect(result.exitCode == 0, "\(result.stdout)\n\(result.stderr)")
                // The summary names the trace: the caller's, continued.
                #expect(result.summary?["trace_id"] as? String == Self.callerTrace)

                let spans = receiver.spans()
                #expect(spans.count == 6, "root, checkout (fetch, write tree), build (nix build): \(spans)")
                #expect(spans.allSatisfy { $0["trace_id"] as? String == Self.callerTrace }, "\(spans)")
                #expect(spans.allSatisfy { $0["path"] as? String == "/v1/traces" })
                let root = try #require(spans.first { $0["parent_span_id"] as? String == Self.callerSpan }, "\(spans)")
                let rootAttributes = try #require(root["attributes"] as? [String: Any])
                let run = try #require(result.summary?["run"] as? String)
                #expect(rootAttributes["cicd.pipeline.name"] as? String == "traced")
                #expect(rootAttributes["cicd.pipeline.run.id"] as? String == run)
                #expect(rootAttributes["cicd.pipeline.result"] as? String == "success")
                #expect(rootAttributes["cicd.pipeline.action.name"] as? String == "BUILD")
                #expect(rootAttributes["vcs.ref.head.revision"] as? String == result.summary?["commit"] as? String)
                #expect((rootAttributes["vcs.repository.url.full"] as? String)?.hasPrefix("file:///") == true)
                #expect(rootAttributes["sutradhar.run.trigger"] as? String != nil)
                #expect((root["resource"] as? [String: Any])?["service.name"] as? String == "sutradhar")

                let children = spans.filter { $0["parent_span_id"] as? String == root["span_id"] as? String }
                #expect(Set(children.compactMap { $0["name"] as? String }) == ["checkout", "build"])
                // Where the time went inside the stages: their steps, as their children.
                let checkout = try #require(children.first { $0["name"] as? String == "checkout" })
                #expect(Set(OTLPReceiver.children(of: checkout, in: spans)) == ["fetch", "write tree"], "\(spans)")
                let build = try #require(children.first { $0["name"] as? String == "build" })
                let buildAttributes = try #require(build["attributes"] as? [String: Any])
                #expect(buildAttributes["cicd.pipeline.task.name"] as? String == "build")
                #expect(buildAttributes["cicd.pipeline.task.run.id"] as? String == "\(run)/build")
                #expect(buildAttributes["cicd.pipeline.task.type"] as? String == "build")
                #expect(buildAttributes["cicd.pipeline.task.run.result"] as? String == "success")
                #expect(buildAttributes["sutradhar.stage.cached"] as? Bool == false)
                #expect(OTLPReceiver.children(of: build, in: spans) == ["nix build"], "\(spans)")
            }
        }
    }

    @Test(.enabled(if: OTLPReceiver.available || TestEnvironment.isCI, "the Python venv with opentelemetry-proto is installed"))
    func aFailedStageCarriesTheFailureResultAndItsException() async throws {
        try NixFixtures.requireNix()
        try await OTLPReceiver.with { receiver in
            try await Workspace.with { workspace in
                let definition = try Self.pipeline(.failing, in: workspace)
                let result = try await workspace.sutradhar(["run", definition, "--json"],
                                                           environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_EXPORTER_OTLP_TIMEOUT": OTLPReceiver.patientTimeout])
                #expect(result.exitCode == 1, "\(result.stdout)\n\(result.stderr)")
                let spans = receiver.spans()
                let traceID = try #require(result.summary?["trace_id"] as? String)
                #expect(spans.allSatisfy { $0["trace_id"] as? String == traceID }, "\(spans)")
                let root = try #require(spans.first { ($0["parent_span_id"] as? String)?.isEmpty == true }, "\(spans)")
                #expect((root["attributes"] as? [String: Any])?["cicd.pipeline.result"] as? String == "failure")
                let build = try #require(spans.first { $0["name"] as? String == "build" })
                let attributes = try #require(build["attributes"] as? [String: Any])
                #expect(attributes["cicd.pipeline.task.run.result"] as? String == "failure")
                #expect(attributes["error.type"] as? String == "nix-build-failed")
                #expect(build["status"] as? Int == 2, "status code ERROR")
                let events = (build["events"] as? [[String: Any]]) ?? []
                #expect(events.contains { $0["name"] as? String == "exception" }, "\(events)")
            }
        }
    }

    @Test(.enabled(if: OTLPReceiver.available || TestEnvironment.isCI, "the Python venv with opentelemetry-proto is installed"))
    func aMalformedTraceparentIsIgnoredAndTheRunStartsItsOwnTrace() async throws {
        try NixFixtures.requireNix()
        try await OTLPReceiver.with { receiver in
            try await Workspace.with { workspace in
                let definition = try Self.pipeline(.succeeding, in: workspace)
                let result = try await workspace.sutradhar(["run", definition, "--json"], environment: [
                    "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_EXPORTER_OTLP_TIMEOUT": OTLPReceiver.patientTimeout, "TRACEPARENT": "00-not-a-trace\u{1b}[31m-01",
                ])
                #expect(result.exitCode == 0, "\(result.stdout)\n\(result.stderr)")
                let traceID = try #require(result.summary?["trace_id"] as? String)
                #expect(traceID.count == 32 && traceID != String(repeating: "0", count: 32))
                let spans = receiver.spans()
                #expect(spans.count == 6 && spans.allSatisfy { $0["trace_id"] as? String == traceID }, "\(spans)")
                #expect(spans.contains { ($0["parent_span_id"] as? String)?.isEmpty == true }, "the root has no parent")
            }
        }
    }

    @Test func aCollectorThatIsNotThereNeitherFailsNorBlocksTheRun() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let definition = try Self.pipeline(.succeeding, in: workspace)
            let result = try await workspace.sutradhar(["run", definition, "--json"],
                                                       environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:\(try freePort())"])
            #expect(result.exitCode == 0, "\(result.stdout)\n\(result.stderr)")
            #expect(result.summary?["status"] as? String == "passed")
            // At most one warning about it, on standard error (standard output stays events only):
            // the probe beside the flush saw the refusal, so the run did not wait out the export timeout.
            #expect(result.stderr.components(separatedBy: "trace").count <= 3, "\(result.stderr)")
            #expect(result.stderr.contains("is unreachable (connection refused)"), "\(result.stderr)")
        }
    }

    @Test(.enabled(if: OTLPReceiver.available || TestEnvironment.isCI, "the Python venv with opentelemetry-proto is installed"))
    func aCollectorThatNeverAnswersDoesNotFailTheRun() async throws {
        try NixFixtures.requireNix()
        try await OTLPReceiver.with(silent: true) { receiver in
            try await Workspace.with { workspace in
                let definition = try Self.pipeline(.succeeding, in: workspace)
                let result = try await workspace.sutradhar(["run", definition, "--json"],
                                                           environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint])
                #expect(result.exitCode == 0, "\(result.stdout)\n\(result.stderr)")
                #expect(result.summary?["status"] as? String == "passed")
                #expect(result.summary?["trace_id"] as? String != nil)
            }
        }
    }

    @Test func withNoVariableSetTheSummaryHasNoTraceID() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let definition = try Self.pipeline(.succeeding, in: workspace)
            let result = try await workspace.sutradhar(["run", definition, "--json"], environment: [
                "OTEL_EXPORTER_OTLP_ENDPOINT": "", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "",
            ])
            #expect(result.exitCode == 0, "\(result.stdout)\n\(result.stderr)")
            #expect(result.summary?["trace_id"] == nil)
        }
    }

    @Test(.enabled(if: OTLPReceiver.available || TestEnvironment.isCI, "the Python venv with opentelemetry-proto is installed"))
    func aCancelledRunsRootSpanSaysCancellation() async throws {
        try NixFixtures.requireNix()
        try await OTLPReceiver.with { receiver in
            try await Workspace.with { workspace in
                let definition = try Self.pipeline(.slow, in: workspace, pidFile: "slow.pids")
                let run = try SutradharCLI.start(["run", definition, "--json", "--cache-dir", workspace.cache.path], environment: [
                    "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_EXPORTER_OTLP_TIMEOUT": OTLPReceiver.patientTimeout,
                ], workingDirectory: workspace.root)
                #expect(await run.waitForOutput(containing: #""kind":"nix-build""#), "the build never started: \(run.stdoutSoFar)")
                run.signal(SIGINT)
                // nix-daemon stops the builder a moment after its client goes.
                let result = await run.finish()
                #expect(result.exitCode == 130, "\(result.stdout)\n\(result.stderr)")
                let spans = receiver.spans()
                let root = try #require(spans.first { ($0["parent_span_id"] as? String)?.isEmpty == true },
                                        "\(spans)\n\(result.stdout.suffix(2000))\n\(result.stderr)")
                #expect((root["attributes"] as? [String: Any])?["cicd.pipeline.result"] as? String == "cancellation")
                #expect(root["trace_id"] as? String == result.summary?["trace_id"] as? String)
                let build = try #require(spans.first { $0["name"] as? String == "build" })
                #expect((build["attributes"] as? [String: Any])?["cicd.pipeline.task.run.result"] as? String == "cancellation")
            }
        }
    }

    @Test(.enabled(if: OTLPReceiver.available || TestEnvironment.isCI, "the Python venv with opentelemetry-proto is installed"))
    func aRunKilledMidwayExportsNothingAndTheNextRunExportsWhole() async throws {
        try NixFixtures.requireNix()
        try await OTLPReceiver.with { receiver in
            try await Workspace.with { workspace in
                let tracing = ["OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_EXPORTER_OTLP_TIMEOUT": OTLPReceiver.patientTimeout]
                let slow = try Self.pipeline(.slow, in: workspace, named: "slow", pidFile: "slow.pids")
                let killed = try SutradharCLI.start(["run", slow, "--json", "--cache-dir", workspace.cache.path], environment: tracing,
                                                    workingDirectory: workspace.root)
                #expect(await killed.waitForOutput(containing: #""kind":"nix-build""#), "the build never started: \(killed.stdoutSoFar)")
                // Past swift-otel's default batch delay (5 s), when ended spans (the checkout's)
                // would otherwise have left without their root.
                try await Task.sleep(for: .seconds(6))
                killed.signal(SIGKILL)
                _ = await killed.finish()
                #expect(receiver.spans().isEmpty, "\(receiver.spans())")

                let next = try await workspace.sutradhar(["run", try Self.pipeline(.succeeding, in: workspace, named: "next"), "--json"],
                                                         environment: tracing)
                #expect(next.exitCode == 0, "\(next.stdout)\n\(next.stderr)")
                let spans = receiver.spans()
                #expect(spans.count == 6 && spans.allSatisfy { $0["trace_id"] as? String == next.summary?["trace_id"] as? String }, "\(spans)")
                #expect(spans.filter { ($0["parent_span_id"] as? String)?.isEmpty == true }.count == 1)
            }
        }
    }

    /// A one-stage nix pipeline over a fresh fixture flake (a new derivation each time).
    static func pipeline(_ kind: NixFixtureFlake.Kind, in workspace: Workspace, named name: String = "pipeline", folder: String = ".",
                         pidFile: String = "unused") throws -> String {
        let repository = try GitFixtureRepository(at: workspace.root.appendingPathComponent("repo-\(name)"))
        _ = try NixFixtures.writeFlake(kind, into: repository.directory,
                                       pidFile: try workspace.stateFolder().appendingPathComponent(pidFile))
        _ = try repository.commit("a fixture flake")
        return try workspace.writePipeline("""
            version: 1
            name: traced
            source: { git: "\(repository.directory.path)", ref: main }
            nix:
              options: { substituters: "" }
            stages:
              build:
                nix-build: { installable: ".#\(NixFixtures.attribute)" }
            """, named: name, in: folder)
    }
}

/// A TCP port on loopback where nothing listens (bound, then closed).
func freePort() throws -> Int {
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0 }
    }
    guard bound else { throw POSIXError(.EADDRNOTAVAIL) }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Receiver/otlp_receiver.py, run with the venv's Python for the length of a test.
struct OTLPReceiver {
    static let python = (ProcessInfo.processInfo.environment["SUTRADHAR_VENV"] ?? "/opt/sutradhar-venv") + "/bin/python3"
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Receiver/otlp_receiver.py").path
    static var available: Bool { FileManager.default.isExecutableFile(atPath: python) }

    /// An export timeout for tests that expect the spans: a loaded machine may take longer than the default's 300 ms.
    static let patientTimeout = "10000"

    let endpoint: String
    let spansFile: URL

    /// The names of the spans whose parent is `span`, sorted.
    static func children(of span: [String: Any], in spans: [[String: Any]]) -> [String] {
        spans.filter { $0["parent_span_id"] as? String == span["span_id"] as? String }.compactMap { $0["name"] as? String }.sorted()
    }

    /// Every span received so far, decoded.
    func spans() -> [[String: Any]] {
        let text = (try? String(contentsOf: spansFile, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }

    /// Starts the receiver (answering, or `silent`: accepting and never answering), runs `body`, stops it.
    static func with<T>(silent: Bool = false, _ body: (OTLPReceiver) async throws -> T) async throws -> T {
        try await GitFixtures.withTemporaryDirectory("otlp-receiver") { folder in
            let portFile = folder.appendingPathComponent("port"), spansFile = folder.appendingPathComponent("spans.jsonl")
            let process = Process()
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = [script, portFile.path, spansFile.path] + (silent ? ["--silent"] : [])
            try process.run()
            // SIGKILL: a child of the test runner may inherit a mask that blocks SIGTERM.
            defer { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
            let deadline = ContinuousClock.now + .seconds(30)
            while !FileManager.default.fileExists(atPath: portFile.path), process.isRunning, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            let port = try #require(try? String(contentsOf: portFile, encoding: .utf8), "the receiver did not start")
            return try await body(OTLPReceiver(endpoint: "http://127.0.0.1:\(port)", spansFile: spansFile))
        }
    }
}
