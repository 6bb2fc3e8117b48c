import Foundation

/// Whether runs are traced, read only from the standard OpenTelemetry variables. Tracing is off
/// unless an OTLP endpoint is named, so that a machine with no collector pays nothing and opens no
/// connection; `OTEL_SDK_DISABLED=true` turns it off even then.
public struct TraceSettings: Sendable, Equatable {
    /// Where spans go (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT`).
    public let endpoint: String
    /// Whether the run hands its trace context to nix and its containers as `TRACEPARENT`
    /// (`SUTRADHAR_TRACE_PROPAGATION=off` turns it off).
    public let propagate: Bool
    /// How long one export may take, and so how long a run's end waits for its spans to be sent
    /// (`OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`, else `OTEL_EXPORTER_OTLP_TIMEOUT`, in milliseconds).
    public let exportTimeout: Duration

    /// The export timeout when no variable sets one: short, because a run's end waits for it. A
    /// collector on the same network answers a batch of a run's spans well within it.
    public static let defaultExportTimeout = Duration.milliseconds(300)

    public init(endpoint: String, propagate: Bool = true, exportTimeout: Duration = defaultExportTimeout) {
        self.endpoint = endpoint
        self.propagate = propagate
        self.exportTimeout = exportTimeout
    }

    /// The settings in `environment`, or nil when tracing is off.
    public static func from(environment: [String: String]) -> TraceSettings? {
        if environment["OTEL_SDK_DISABLED"]?.lowercased() == "true" { return nil }
        if environment["OTEL_TRACES_EXPORTER"]?.lowercased() == "none" { return nil }
        let named = [environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"], environment["OTEL_EXPORTER_OTLP_ENDPOINT"]]
            .compactMap { $0 }.first { !$0.isEmpty }
        guard let endpoint = named else { return nil }
        let propagate = !["off", "false", "0", "no"].contains(environment["SUTRADHAR_TRACE_PROPAGATION"]?.lowercased() ?? "")
        // swift-otel reads the same variables for its own timeout; an unreadable value keeps the default.
        let timeout = [environment["OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"], environment["OTEL_EXPORTER_OTLP_TIMEOUT"]]
            .compactMap { $0.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } }.first { $0 > 0 }
        return TraceSettings(endpoint: endpoint, propagate: propagate,
                             exportTimeout: timeout.map { .milliseconds(min($0, 600_000)) } ?? defaultExportTimeout)
    }
}
