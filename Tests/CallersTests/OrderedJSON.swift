import Foundation

/// A JSON value that keeps the order of object keys (Foundation's parser does not), so the
/// contract tests can compare key order as well as keys and types.
indirect enum OrderedJSON: Equatable {
    case string(String)
    /// The number as written (integers stay integers).
    case number(String)
    case bool(Bool)
    case null
    case array([OrderedJSON])
    case object([Pair])

    struct Pair: Equatable {
        let key: String
        let value: OrderedJSON
    }

    /// Parses one JSON text; nil if it is not valid JSON.
    init?(parsing text: String) {
        var parser = Parser(scalars: Array(text.unicodeScalars))
        guard let value = parser.value(), parser.atEnd else { return nil }
        self = value
    }

    /// Compact text, keys in their order.
    var compact: String { render(indent: nil, level: 0) }

    /// Two-space indented text, keys in their order (how golden files are written).
    var pretty: String { render(indent: "  ", level: 0) }

    /// The value of `key` in an object.
    subscript(key: String) -> OrderedJSON? {
        guard case .object(let pairs) = self else { return nil }
        return pairs.first { $0.key == key }?.value
    }

    var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    private func render(indent: String?, level: Int) -> String {
        let newline = indent == nil ? "" : "\n"
        let pad = { (depth: Int) in indent.map { String(repeating: $0, count: depth) } ?? "" }
        let separator = indent == nil ? ":" : ": "
        switch self {
        case .string(let text): return Self.quote(text)
        case .number(let text): return text
        case .bool(let flag): return flag ? "true" : "false"
        case .null: return "null"
        case .array(let items):
            if items.isEmpty { return "[]" }
            return "[" + newline + items.map { pad(level + 1) + $0.render(indent: indent, level: level + 1) }
                .joined(separator: "," + newline) + newline + pad(level) + "]"
        case .object(let pairs):
            if pairs.isEmpty { return "{}" }
            return "{" + newline + pairs.map { pad(level + 1) + Self.quote($0.key) + separator + $0.value.render(indent: indent, level: level + 1) }
                .joined(separator: "," + newline) + newline + pad(level) + "}"
        }
    }

    private static func quote(_ text: String) -> String {
        var output = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\t": output += "\\t"
            case _ where scalar.value < 0x20: output += String(format: "\\u%04x", scalar.value)
            default: output.unicodeScalars.append(scalar)
            }
        }
        return output + "\""
    }

    private struct Parser {
        let scalars: [Unicode.Scalar]
        var index = 0

        var atEnd: Bool {
            mutating get {
                skipSpace()
                return index == scalars.count
            }
        }

        mutating func skipSpace() {
            while index < scalars.count, [" ", "\n", "\r", "\t"].contains(scalars[index]) { index += 1 }
        }

        mutating func value() -> OrderedJSON? {
            skipSpace()
            guard index < scalars.count else { return nil }
            switch scalars[index] {
            case "{": return object()
            case "[": return array()
            case "\"": return string().map(OrderedJSON.string)
            case "t": return literal("true", .bool(true))
            case "f": return literal("false", .bool(false))
            case "n": return literal("null", .null)
            default: return number()
            }
        }

        mutating func literal(_ word: String, _ result: OrderedJSON) -> OrderedJSON? {
            let end = index + word.unicodeScalars.count
            guard end <= scalars.count, String(String.UnicodeScalarView(scalars[index..<end])) == word else { return nil }
            index = end
            return result
        }

        mutating func number() -> OrderedJSON? {
            let start = index
            while index < scalars.count, "-+.eE0123456789".unicodeScalars.contains(scalars[index]) { index += 1 }
            guard index > start else { return nil }
            return .number(String(String.UnicodeScalarView(scalars[start..<index])))
        }

        mutating func string() -> String? {
            guard scalars[index] == "\"" else { return nil }
            index += 1
            var text = String.UnicodeScalarView()
            while index < scalars.count {
                let scalar = scalars[index]
                index += 1
                switch scalar {
                case "\"": return String(text)
                case "\\":
                    guard index < scalars.count else { return nil }
                    let escaped = scalars[index]
                    index += 1
                    switch escaped {
                    case "n": text.append("\n")
                    case "t": text.append("\t")
                    case "r": text.append("\r")
                    case "b": text.append("\u{8}")
                    case "f": text.append("\u{c}")
                    case "u":
                        guard index + 4 <= scalars.count,
                              let code = UInt32(String(String.UnicodeScalarView(scalars[index..<index + 4])), radix: 16),
                              let decoded = Unicode.Scalar(code) else { return nil }
                        index += 4
                        text.append(decoded)
                    default: text.append(escaped)
                    }
                default: text.append(scalar)
                }
            }
            return nil
        }

        mutating func array() -> OrderedJSON? {
            index += 1
            var items: [OrderedJSON] = []
            skipSpace()
            if index < scalars.count, scalars[index] == "]" {
                index += 1
                return .array(items)
            }
            while true {
                guard let item = value() else { return nil }
                items.append(item)
                skipSpace()
                guard index < scalars.count else { return nil }
                let next = scalars[index]
                index += 1
                if next == "]" { return .array(items) }
                guard next == "," else { return nil }
            }
        }

        mutating func object() -> OrderedJSON? {
            index += 1
            var pairs: [Pair] = []
            skipSpace()
            if index < scalars.count, scalars[index] == "}" {
                index += 1
                return .object(pairs)
            }
            while true {
                skipSpace()
                guard index < scalars.count, let key = string() else { return nil }
                skipSpace()
                guard index < scalars.count, scalars[index] == ":" else { return nil }
                index += 1
                guard let item = value() else { return nil }
                pairs.append(Pair(key: key, value: item))
                skipSpace()
                guard index < scalars.count else { return nil }
                let next = scalars[index]
                index += 1
                if next == "}" { return .object(pairs) }
                guard next == "," else { return nil }
            }
        }
    }
}
