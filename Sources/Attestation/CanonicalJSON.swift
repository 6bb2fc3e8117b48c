import Foundation

/// The one JSON encoding of everything signed or stored here: keys sorted, slashes unescaped, no
/// whitespace. Two encodings of equal values are equal bytes, so a statement's digest is stable.
public enum CanonicalJSON {
    /// Encodes `value` deterministically.
    /// - Throws: `EncodingError` if a value cannot be encoded (a non-finite number).
    public static func encode<Value: Encodable>(_ value: Value) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    /// Encodes `value` for a person to read (and a file to diff): sorted, indented.
    /// - Throws: `EncodingError` if a value cannot be encoded.
    public static func encodePretty<Value: Encodable>(_ value: Value) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
        return try encoder.encode(value)
    }
}

/// A JSON value of a statement's free-form parts (external parameters, annotations): what the
/// in-toto and SLSA schemas leave open.
public enum AttestedValue: Codable, Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByIntegerLiteral {
    case string(String)
    case int(Int64)
    case bool(Bool)
    case array([AttestedValue])
    case object([String: AttestedValue])
    case null

    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([AttestedValue].self) {
            self = .array(value)
        } else if let value = try? container.decode([String: AttestedValue].self) {
            self = .object(value)
        } else if let value = try? container.decode(Double.self) {
            // Fractions are not produced here; one read from elsewhere keeps its digits as text.
            self = .string(String(value))
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a JSON value")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        case .null: try container.encodeNil()
        }
    }

    /// The string inside, if this is one.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }
}
