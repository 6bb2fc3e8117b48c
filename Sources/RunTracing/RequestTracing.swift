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
}
