/// A YAML document as an ordered tree, and the one way it is written: block style, two-space
/// indentation, keys in the order given, strings quoted only when a plain scalar would be read
/// back as something else. Rendering the same tree always gives the same bytes, which is what
/// golden files and `kubectl diff` need (a dictionary's order would not be stable).
public indirect enum YAMLNode: Sendable, Equatable {
    /// A string; multi-line text is written as a literal block (`|`).
    case string(String)
    /// An integer.
    case int(Int)
    /// `true` or `false`.
    case bool(Bool)
    /// Keys and values in this order.
    case mapping([(String, YAMLNode)])
    /// Items in this order.
    case sequence([YAMLNode])

    public static func == (lhs: YAMLNode, rhs: YAMLNode) -> Bool {
        switch (lhs, rhs) {
        case (.string(let a), .string(let b)): return a == b
        case (.int(let a), .int(let b)): return a == b
        case (.bool(let a), .bool(let b)): return a == b
        case (.sequence(let a), .sequence(let b)): return a == b
        case (.mapping(let a), .mapping(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// The value at `key` of a mapping, else nil (for tests and callers that inspect a manifest).
    public subscript(key: String) -> YAMLNode? {
        guard case .mapping(let pairs) = self else { return nil }
        return pairs.first { $0.0 == key }?.1
    }

    /// The document's text, ending with a newline.
    public var text: String {
        var lines: [String] = []
        YAMLWriter.write(self, indent: 0, into: &lines)
        return lines.joined(separator: "\n") + "\n"
    }
}

enum YAMLWriter {
    static func write(_ node: YAMLNode, indent: Int, into lines: inout [String]) {
        let pad = String(repeating: " ", count: indent)
        switch node {
        case .mapping(let pairs):
            for (key, value) in pairs { writeEntry(prefix: pad + scalar(key) + ":", value, indent: indent, into: &lines) }
        case .sequence(let items):
            for item in items { writeItem(item, indent: indent, into: &lines) }
        case .string(let text) where usesBlock(text):
            lines.append(pad + blockHeader(text))
            appendBlock(text, indent: indent + 2, into: &lines)
        default:
            lines.append(pad + inline(node)!)
        }
    }

    /// A literal block's lines, indented; empty lines stay empty.
    private static func appendBlock(_ text: String, indent: Int, into lines: inout [String]) {
        for line in blockLines(text) { lines.append(line.isEmpty ? "" : String(repeating: " ", count: indent) + line) }
    }

    /// `key: value`, or `key:` with the block below it.
    private static func writeEntry(prefix: String, _ value: YAMLNode, indent: Int, into lines: inout [String]) {
        if let inline = inline(value) {
            lines.append(prefix + " " + inline)
        } else if case .string(let text) = value {
            lines.append(prefix + " " + blockHeader(text))
            appendBlock(text, indent: indent + 2, into: &lines)
        } else if case .sequence = value {
            // Sequences under a key are not indented further (kubectl's own style).
            lines.append(prefix)
            write(value, indent: indent, into: &lines)
        } else {
            lines.append(prefix)
            write(value, indent: indent + 2, into: &lines)
        }
    }

    /// `- item`: a mapping's first key goes on the dash's line, the rest under it.
    private static func writeItem(_ item: YAMLNode, indent: Int, into lines: inout [String]) {
        let pad = String(repeating: " ", count: indent)
        if let inline = inline(item) {
            lines.append(pad + "- " + inline)
            return
        }
        if case .string(let text) = item {
            lines.append(pad + "- " + blockHeader(text))
            appendBlock(text, indent: indent + 2, into: &lines)
            return
        }
        var nested: [String] = []
        write(item, indent: indent + 2, into: &nested)
        guard let first = nested.first else { return }
        lines.append(pad + "- " + first.dropFirst(indent + 2))
        lines.append(contentsOf: nested.dropFirst())
    }

    /// The one-line form of a scalar or an empty collection; nil for what needs a block.
    private static func inline(_ node: YAMLNode) -> String? {
        switch node {
        case .int(let value): return String(value)
        case .bool(let value): return value ? "true" : "false"
        case .string(let text): return usesBlock(text) ? nil : scalar(text)
        case .mapping(let pairs): return pairs.isEmpty ? "{}" : nil
        case .sequence(let items): return items.isEmpty ? "[]" : nil
        }
    }

    /// Multi-line text that a literal block keeps exactly: printable, ending in one newline, a
    /// first line not starting with a space (that would need an indentation indicator) and no
    /// trailing spaces (editors strip them; a quoted string shows them).
    private static func usesBlock(_ text: String) -> Bool {
        guard text.contains("\n") else { return false }
        let body = text.hasSuffix("\n") ? String(text.dropLast()) : text
        guard !body.hasSuffix("\n"), !body.isEmpty else { return false }
        guard !body.hasPrefix(" ") else { return false }
        return body.split(separator: "\n", omittingEmptySubsequences: false).allSatisfy { line in
            !line.hasSuffix(" ") && line.unicodeScalars.allSatisfy { $0 == "\t" || !needsEscape($0) }
        }
    }

    private static func blockHeader(_ text: String) -> String { text.hasSuffix("\n") ? "|" : "|-" }

    private static func blockLines(_ text: String) -> [Substring] {
        let body = text.hasSuffix("\n") ? text.dropLast() : Substring(text)
        return body.split(separator: "\n", omittingEmptySubsequences: false)
    }

    /// Plain when YAML 1.1 and 1.2 readers both read it back as this same string; else
    /// double-quoted with JSON escapes (valid YAML).
    static func scalar(_ text: String) -> String {
        guard isPlainSafe(text) else { return quoted(text) }
        return text
    }

    private static let reserved: Set<String> = ["true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"]

    private static func isPlainSafe(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, !reserved.contains(text.lowercased()) else { return false }
        let allowed = text.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "-_./".unicodeScalars.contains($0) }
        guard allowed, first != "-", first != "." else { return false }
        // Anything a reader could take for a number (1, 1.5, 0x1F, 1e3, 1_000, .inf) is quoted.
        let looksNumeric = text.unicodeScalars.allSatisfy { ("0"..."9").contains($0) || "._-+eExXoObB".unicodeScalars.contains($0) || ("a"..."f").contains($0) || ("A"..."F").contains($0) }
            && text.unicodeScalars.contains { ("0"..."9").contains($0) }
        return !looksNumeric
    }

    /// What YAML cannot hold as it is (outside its printable set, c-printable) or would read as a
    /// line break (YAML 1.1's NEL, LS, PS): JSON's escaping is not enough here, it leaves DEL, C1
    /// controls and those breaks as they are.
    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        return value < 0x20 || (0x7F...0x9F).contains(value) || value == 0x2028 || value == 0x2029 || value == 0xFFFE || value == 0xFFFF
    }

    /// Double-quoted, with `\uXXXX` for what `needsEscape` finds.
    private static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            default:
                if needsEscape(scalar) {
                    let hex = String(scalar.value, radix: 16)
                    result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }
}
