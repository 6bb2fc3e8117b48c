import Foundation
import SutradharTesting
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `sutradhar serve` under the same `OTEL_*` configuration as runs: each of its own requests is a
/// span (Hummingbird's TracingMiddleware), continuing a `traceparent` header, flushed when it stops.
@Suite struct RequestSpanTests {
    @Test(.enabled(if: OTLPReceiver.available || TestEnvironment.isCI, "the Python venv with opentelemetry-proto is installed"))
    func theDashboardsOwnRequestsAreSpans() async throws {
        let callerTrace = "5bf92f3577b34da6a3ce929d0e0e4737", callerSpan = "10f067aa0ba902b8"
        try await OTLPReceiver.with { receiver in
            try await Workspace.with { workspace in
                let server = try SutradharCLI.start(["serve", "--listen", "127.0.0.1:0", "--cache-dir", workspace.cache.path], environment: [
                    "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_EXPORTER_OTLP_TIMEOUT": OTLPReceiver.patientTimeout,
                ], workingDirectory: workspace.root)
                defer { server.signal(SIGKILL) }
                #expect(await server.waitForOutput(containing: "sutradhar dashboard: http://127.0.0.1:"), "\(server.stderrSoFar)")
                let line = try #require(server.stdoutSoFar.split(separator: "\n").first { $0.hasPrefix("sutradhar dashboard:") })
                let port = try #require(line.firstMatch(of: /http:\/\/127\.0\.0\.1:(\d+)\//)).1
                var request = URLRequest(url: try #require(URL(string: "http://127.0.0.1:\(port)/?status=failed")))
                request.setValue("00-\(callerTrace)-\(callerSpan)-01", forHTTPHeaderField: "traceparent")
                let (_, response) = try await URLSession.shared.data(for: request)
                #expect((response as? HTTPURLResponse)?.statusCode == 200)
                server.signal(SIGTERM)
                let result = await server.finish(timeout: .seconds(60))
                #expect(result.exitCode == 0, "\(result.stderr)")

                let spans = receiver.spans()
                let span = try #require(spans.first { $0["trace_id"] as? String == callerTrace }, "\(spans)")
                #expect(span["parent_span_id"] as? String == callerSpan)
                let attributes = try #require(span["attributes"] as? [String: Any])
                #expect(attributes["http.request.method"] as? String == "GET")
                #expect(attributes["url.path"] as? String == "/")
                #expect((span["resource"] as? [String: Any])?["service.name"] as? String == "sutradhar")
            }
        }
    }
}
