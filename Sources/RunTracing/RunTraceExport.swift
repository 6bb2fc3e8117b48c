import Foundation
import Logging
import OTel
import ServiceLifecycle
import Synchronization
import Tracing

/// One run's connection to an OTLP/HTTP collector (swift-otel, configured by the standard
/// `OTEL_*` variables): a tracer whose spans are queued (bounded) and sent in batches in the
/// background, and a flush at the end of the run that waits at most `flushLimit`. A collector that
/// is down or never answers costs the run nothing but that wait, and the process one warning.
///
/// Each run has its own exporter, so a run's end flushes exactly its spans, and a process that
/// runs many (the dashboard, the MCP server, `watch`) needs no process-wide setup.
public final class RunTraceExport: Sendable {
    /// The tracer the run's spans are started with.
    public let tracer: any Tracer
    private let group: ServiceGroup
    private let running: Task<Void, Never>
    private let flushLimit: Duration

    /// Starts an exporter for `settings`, or returns nil (with the reason in one warning on
    /// standard error) when swift-otel refuses the configuration, e.g. an unknown protocol.
    public static func start(_ settings: TraceSettings, flushLimit: Duration = .seconds(1)) -> RunTraceExport? {
        var configuration = OTel.Configuration.default
        configuration.serviceName = "sutradhar"
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.traces.enabled = true
        // A collector that does not answer must not hold the exit longer than the flush wait.
        configuration.traces.otlpExporter.timeout = flushLimit
        configuration.traces.batchSpanProcessor.exportTimeout = flushLimit
        configuration.diagnosticLogger = .custom(Logger(label: "sutradhar.tracing") { _ in WarnOnce() })
        do {
            // Applies OTEL_EXPORTER_OTLP_*, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, … over the above.
            let backend = try OTel.makeTracingBackend(configuration: configuration)
            return RunTraceExport(tracer: backend.factory, service: backend.service, flushLimit: flushLimit)
        } catch {
            WarnOnce.warn("traces are not exported (\(settings.endpoint)): \(error)")
            return nil
        }
    }

    private init(tracer: any Tracer, service: some Service, flushLimit: Duration) {
        self.tracer = tracer
        self.flushLimit = flushLimit
        let group = ServiceGroup(configuration: .init(services: [.init(service: service)], logger: Logger(label: "sutradhar.tracing") { _ in SwiftLogNoOpLogHandler() }))
        self.group = group
        // The exporter's background work (batching, sending) for the life of the run.
        running = Task { try? await group.run() }
    }

    /// Sends what is queued and stops, waiting at most the flush limit; what is not sent by then
    /// is dropped (a run never waits on a collector longer than that).
    public func finish() async {
        await group.triggerGracefulShutdown()
        let running = self.running
        let limit = flushLimit
        await withTaskGroup(of: Void.self) { waits in
            waits.addTask { await running.value }
            waits.addTask { try? await Task.sleep(for: limit) }
            await waits.next()
            waits.cancelAll()
        }
        running.cancel()
    }
}

/// swift-otel's diagnostics as at most one warning per process on standard error: a collector
/// that is down would otherwise print a line per failed batch.
struct WarnOnce: LogHandler {
    private static let warned = Atomic<Bool>(false)

    static func warn(_ message: String) {
        guard !warned.exchange(true, ordering: .relaxed) else { return }
        FileHandle.standardError.write(Data("sutradhar: warning: \(message) (further trace export problems are not shown)\n".utf8))
    }

    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .warning

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: Logging.LogEvent) {
        guard event.level >= .warning else { return }
        Self.warn("trace export: \(event.message)")
    }
}
