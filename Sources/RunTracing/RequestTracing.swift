import Logging
import OTel
import ServiceLifecycle
import Tracing

/// A long-lived server's own request spans (the dashboard's, through Hummingbird's
/// `TracingMiddleware`), under the same `OTEL_*` configuration as runs. Unlike a run's spans,
/// which leave at the run's end, these leave in batches every few seconds (`OTEL_BSP_SCHEDULE_DELAY`,
/// 5 s) for the server's life, and what is left is flushed when it stops, bounded by the export timeout.
public enum RequestTracing {
    /// When `environment` asks for traces: makes an exporter the process-wide tracer (what
    /// middleware uses; once per process) and returns its service, to run beside the server so that
    /// the server's graceful shutdown flushes it. Nil when tracing is off or refused (one warning).
    public static func bootstrap(environment: [String: String]) -> (any Service)? {
        guard let settings = TraceSettings.from(environment: environment) else { return nil }
        do {
            let backend = try OTel.makeTracingBackend(configuration: RunTraceExport.configuration(settings))
            InstrumentationSystem.bootstrap(backend.factory)
            return backend.service
        } catch {
            WarnOnce.warn("request spans are not exported (\(settings.endpoint)): \(error)")
            return nil
        }
    }

    /// A server's request spans with a tracer of their own: nothing is bootstrapped process-wide,
    /// so no other client of the process (the Docker API's, a run's exporter's) starts tracing its
    /// requests. Nil when `environment` asks for no traces, or the exporter is refused (one warning).
    public static func tracer(environment: [String: String]) -> RequestSpans? {
        guard let settings = TraceSettings.from(environment: environment) else { return nil }
        do {
            let backend = try OTel.makeTracingBackend(configuration: RunTraceExport.configuration(settings))
            return RequestSpans(tracer: backend.factory, service: backend.service)
        } catch {
            WarnOnce.warn("request spans are not exported (\(settings.endpoint)): \(error)")
            return nil
        }
    }
}

/// A server's own request spans (the MCP server's tool calls) and the exporter that sends them.
public struct RequestSpans: Sendable {
    let tracer: any Tracer
    let service: any Service

    /// Runs `body` inside a server span named `name`, a child of the caller's W3C `traceparent`
    /// when one is given (checked by the propagator: a malformed one starts a new trace). The span
    /// is not made the task's current context: the run a call starts has its own trace settings.
    public func withServerSpan<T>(_ name: String, traceparent: String?, attributes: [String: String],
                                  _ body: () async throws -> T) async throws -> T {
        var context = ServiceContext.topLevel
        if let traceparent { tracer.extract(["traceparent": traceparent], into: &context, using: HeaderExtractor()) }
        let span = tracer.startSpan(name, context: context, ofKind: .server)
        for (key, value) in attributes { span.attributes[key] = value }
        defer { span.end() }
        do {
            return try await body()
        } catch {
            span.recordError(error)
            span.setStatus(SpanStatus(code: .error))
            throw error
        }
    }

    /// Runs `body` (a server's life) with the exporter beside it, flushed when `body` ends
    /// (bounded by the export timeout).
    public func exporting<T: Sendable>(logger: Logger, _ body: @Sendable () async throws -> T) async throws -> T {
        let group = ServiceGroup(services: [service], gracefulShutdownSignals: [], logger: logger)
        return try await withThrowingTaskGroup(of: T?.self) { tasks in
            tasks.addTask {
                try await group.run()
                return nil
            }
            let result: Result<T, any Error>
            do { result = .success(try await body()) } catch { result = .failure(error) }
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            return try result.get()
        }
    }
}
