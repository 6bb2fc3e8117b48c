import Foundation

/// `serve --trace-url-template`: where a run's trace is viewed (Jaeger, Tempo, Honeycomb…), as a
/// URL with `{trace_id}` in it. Checked once at start: an http(s) URL of printable ASCII without
/// spaces or quotes, so that a page can link to it safely; the trace ID put in is only ever 32
/// lowercase hex digits (what the history holds is checked again, never trusted).
public struct TraceLink: Sendable, Equatable {
    /// The placeholder the trace ID replaces.
    public static let placeholder = "{trace_id}"
    /// The longest template accepted.
    public static let maximumLength = 2048

    public let template: String

    /// - Throws: `TraceLinkError` saying what to change.
    public init(template: String) throws(TraceLinkError) {
        guard template.utf8.count <= Self.maximumLength else {
            throw TraceLinkError("--trace-url-template is longer than \(Self.maximumLength) bytes")
        }
        let lowered = template.lowercased()
        guard lowered.hasPrefix("http://") || lowered.hasPrefix("https://") else {
            throw TraceLinkError("--trace-url-template must be an http:// or https:// URL, e.g. 'https://jaeger.example/trace/{trace_id}'")
        }
        guard template.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F && !"\"'<>\\`".unicodeScalars.contains($0) }) else {
            throw TraceLinkError("--trace-url-template may hold only printable ASCII without spaces, quotes, '<', '>', '\\' or '`' (percent-encode them)")
        }
        guard template.contains(Self.placeholder) else {
            throw TraceLinkError("--trace-url-template has no \(Self.placeholder) to put the trace ID in, e.g. 'https://jaeger.example/trace/{trace_id}'")
        }
        self.template = template
    }

    /// The URL of `traceID`'s trace, or nil when it is not a W3C trace ID (32 lowercase hex, not all zero).
    public func url(for traceID: String) -> String? {
        guard Self.isTraceID(traceID) else { return nil }
        return template.replacingOccurrences(of: Self.placeholder, with: traceID)
    }

    /// Whether `value` is a W3C trace ID: 32 lowercase hex digits, not all zero.
    public static func isTraceID(_ value: String) -> Bool {
        value.utf8.count == 32 && value.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
            && value.contains { $0 != "0" }
    }
}

/// A `--trace-url-template` that is refused (the CLI exits 2).
public struct TraceLinkError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
