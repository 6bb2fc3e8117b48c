import Foundation
import Logging
import NIOCore
import NIOPosix
import OTel
import ServiceLifecycle
import Synchronization
import Tracing

/// One run's connection to an OTLP/HTTP collector (swift-otel, configured by the standard
/// `OTEL_*` variables): a tracer whose spans are queued (bounded) and sent in batches in the
/// background, and a flush at the end of the run that waits at most `flushLimit` (the export
/// timeout, 300 ms unless set). A collector that never answers costs the run that wait; one that
/// is down (the connection is refused, the host unknown) costs it about nothing, because a probe
/// beside the flush sees that at once and the run stops waiting. Either costs the process one warning.
///
/// Each run has its own exporter, so a run's end flushes exactly its spans, and a process that
/// runs many (the dashboard, the MCP server, `watch`) needs no process-wide setup.
public final class RunTraceExport: Sendable {
    /// The tracer the run's spans are started with.
    public let tracer: any Tracer
    private let group: ServiceGroup
    private let running: Task<Void, Never>
    /// Ends when the exporter has stopped; waiting on it, unlike on `running.value`, ends when the waiter is cancelled.
    private let stopped: AsyncStream<Void>
    private let flushLimit: Duration
    private let endpoint: String

    /// Starts an exporter for `settings`, or returns nil (with the reason in one warning on
    /// standard error) when swift-otel refuses the configuration, e.g. an unknown protocol.
    public static func start(_ settings: TraceSettings) -> RunTraceExport? {
        let flushLimit = settings.exportTimeout
        var configuration = Self.configuration(settings)
        // A run's spans leave together at its end, not every 5 s: a run killed midway (SIGKILL)
        // then exports nothing half-made, no stage spans without their root. The bounded queue
        // (2048) is sent early only when a run fills it.
        configuration.traces.batchSpanProcessor.scheduleDelay = .seconds(24 * 3600)
        do {
            // Applies OTEL_EXPORTER_OTLP_*, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, … over the above.
            let backend = try OTel.makeTracingBackend(configuration: configuration)
            return RunTraceExport(tracer: backend.factory, service: backend.service, flushLimit: flushLimit, endpoint: settings.endpoint)
        } catch {
            WarnOnce.warn("traces are not exported (\(settings.endpoint)): \(error)")
            return nil
        }
    }

    /// Traces only, OTLP/HTTP, `service.name` sutradhar, diagnostics as one warning; the export
    /// timeout bounds what a collector that does not answer can cost.
    static func configuration(_ settings: TraceSettings) -> OTel.Configuration {
        var configuration = OTel.Configuration.default
        configuration.serviceName = "sutradhar"
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.traces.enabled = true
        configuration.traces.otlpExporter.timeout = settings.exportTimeout
        configuration.traces.batchSpanProcessor.exportTimeout = settings.exportTimeout
        configuration.diagnosticLogger = .custom(Logger(label: "sutradhar.tracing") { _ in WarnOnce() })
        return configuration
    }

    private init(tracer: any Tracer, service: some Service, flushLimit: Duration, endpoint: String) {
        self.tracer = tracer
        self.flushLimit = flushLimit
        self.endpoint = endpoint
        let group = ServiceGroup(configuration: .init(services: [.init(service: service)], logger: Logger(label: "sutradhar.tracing") { _ in SwiftLogNoOpLogHandler() }))
        self.group = group
        // The exporter's background work (batching, sending) for the life of the run.
        let (stopped, stop) = AsyncStream.makeStream(of: Void.self)
        self.stopped = stopped
        running = Task {
            try? await group.run()
            stop.finish()
        }
    }

    /// Sends what is queued and stops, waiting at most the flush limit, and not at all once the
    /// collector is seen to be down; what is not sent by then is dropped (a run never waits on a
    /// collector longer than that). Called once.
    public func finish() async {
        // In a task of its own: a cancelled run (Ctrl-C) is exactly one whose spans must still
        // go, and the caller's cancellation would otherwise end every wait below at once.
        await Task { await self.flush() }.value
    }

    private func flush() async {
        await group.triggerGracefulShutdown()
        let stopped = self.stopped
        let limit = flushLimit
        let endpoint = self.endpoint
        await withTaskGroup(of: Void.self) { waits in
            waits.addTask { for await _ in stopped {} }
            waits.addTask {
                guard (try? await Task.sleep(for: limit)) != nil else { return }
                WarnOnce.warn("trace export: the collector at \(endpoint) did not take the run's spans within \(limit) (OTEL_EXPORTER_OTLP_TIMEOUT); they were dropped")
            }
            waits.addTask {
                // async-http-client retries a refused connection until the export times out: the
                // probe is what makes a collector that is down cost nothing.
                if let problem = await CollectorProbe.unreachable(endpoint, within: limit) {
                    WarnOnce.warn("trace export: the collector at \(endpoint) is unreachable (\(problem)); the run's spans were dropped")
                    return
                }
                try? await Task.sleep(for: limit)
            }
            await waits.next()
            waits.cancelAll()
        }
        running.cancel()
    }
}

/// Whether a collector can be reached at all: one TCP connection to the endpoint's host and
/// port, closed at once. It tells a collector that is down (refused, unknown host, no route) from
/// one that is merely slow, which the flush wait bounds anyway.
enum CollectorProbe {
    /// Why the endpoint cannot be reached, or nil when it accepted the connection, or did not
    /// answer within `limit` (slow, not known to be down), or is not a URL with a host.
    static func unreachable(_ endpoint: String, within limit: Duration) async -> String? {
        guard let url = URL(string: endpoint), let host = url.host, !host.isEmpty else { return nil }
        let port = url.port ?? (url.scheme == "https" ? 443 : 80)
        let milliseconds = Int64(limit.components.seconds * 1000 + limit.components.attoseconds / 1_000_000_000_000_000)
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.milliseconds(max(milliseconds, 1)))
                .connect(host: host, port: port).get()
            try? await channel.close()
            return nil
        } catch ChannelError.connectTimeout {
            return nil
        } catch {
            return Self.describe(error)
        }
    }

    /// A short reason: the system's error text, not NIO's type dump.
    static func describe(_ error: any Error) -> String {
        if let failure = error as? NIOConnectionError {
            if let first = failure.connectionErrors.first { return describe(first.error) }
            return "the host name could not be resolved"
        }
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)).lowercased() }
        return "\(error)"
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
