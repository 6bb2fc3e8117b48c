/// Whether runs are traced, read only from the standard OpenTelemetry variables. Tracing is off
/// unless an OTLP endpoint is named, so that a machine with no collector pays nothing and opens no
/// connection; `OTEL_SDK_DISABLED=true` turns it off even then.
public struct TraceSettings: Sendable, Equatable {
    /// Where spans go (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT`).
    public let endpoint: String
    /// The caller's W3C trace context (`TRACEPARENT`), which the run's root span continues.
    public let traceparent: String?

    /// The settings in `environment`, or nil when tracing is off.
    public static func from(environment: [String: String]) -> TraceSettings? {
        if environment["OTEL_SDK_DISABLED"]?.lowercased() == "true" { return nil }
        if environment["OTEL_TRACES_EXPORTER"]?.lowercased() == "none" { return nil }
        let named = [environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"], environment["OTEL_EXPORTER_OTLP_ENDPOINT"]]
            .compactMap { $0 }.first { !$0.isEmpty }
        guard let endpoint = named else { return nil }
        let traceparent = environment["TRACEPARENT"].flatMap { $0.isEmpty ? nil : $0 }
        return TraceSettings(endpoint: endpoint, traceparent: traceparent)
    }
}
