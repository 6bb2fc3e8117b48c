import Yams

/// Reads typed values out of a YAML node tree and records every problem with its position,
/// so that one pass over a definition reports all of them.
final class DefinitionReader {
    /// The file named in every diagnostic.
    let file: String
    private(set) var diagnostics: [Diagnostic] = []

    init(file: String) {
        self.file = file
    }

    func position(of node: Node?) -> SourcePosition {
        let mark = node?.mark
        return SourcePosition(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    func report(_ node: Node?, _ message: String) {
        diagnostics.append(Diagnostic(position(of: node), message))
    }

    /// Reads `node` as a mapping named `path` (a dotted field path used in messages).
    func mapping(_ node: Node, path: String) -> MappingReader? {
        guard case .mapping(let mapping) = node else {
            report(node, "\(Self.name(of: path)) must be a mapping (key: value lines), not \(node.kindDescription)")
            return nil
        }
        var fields: [String: (key: Node, value: Node)] = [:]
        var order: [String] = []
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else {
                report(key, "\(Self.name(of: path)) has a key that is not a plain name")
                continue
            }
            if fields[scalar.string] != nil {
                report(key, "'\(path.isEmpty ? scalar.string : "\(path).\(scalar.string)")' is given twice; keep one")
                continue
            }
            fields[scalar.string] = (key, value)
            order.append(scalar.string)
        }
        return MappingReader(reader: self, node: node, path: path, fields: fields, order: order)
    }

    /// How messages name the mapping at `path`: the root has no path.
    static func name(of path: String) -> String {
        path.isEmpty ? "the definition" : "'\(path)'"
    }

    func string(_ node: Node, path: String) -> String? {
        guard case .scalar(let scalar) = node, !(node.null != nil && scalar.style == .plain) else {
            report(node, "'\(path)' must be a string, not \(node.kindDescription)")
            return nil
        }
        return scalar.string
    }

    func stringList(_ node: Node, path: String) -> [String]? {
        // A single string where a list is expected is a common slip: say so rather than guess.
        guard case .sequence(let sequence) = node else {
            report(node, "'\(path)' must be a list of strings, e.g. [a, b], not \(node.kindDescription)")
            return nil
        }
        var items: [String] = []
        for (index, item) in sequence.enumerated() {
            if let string = string(item, path: "\(path)[\(index)]") { items.append(string) }
        }
        return items
    }
}

/// One YAML mapping being read: hands out its fields and remembers which were read, so that
/// the rest can be reported as unknown keys with a did-you-mean.
struct MappingReader {
    let reader: DefinitionReader
    let node: Node
    let path: String
    let fields: [String: (key: Node, value: Node)]
    /// Keys in file order.
    let order: [String]

    func has(_ key: String) -> Bool { fields[key] != nil }
    func value(_ key: String) -> Node? { fields[key]?.value }
    func keyNode(_ key: String) -> Node? { fields[key]?.key }
    func fieldPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// Reports `key` as missing, at the mapping's own position.
    func reportMissing(_ key: String, _ hint: String = "") {
        reader.report(node, "\(DefinitionReader.name(of: path)) is missing '\(key)'\(hint)")
    }

    func string(_ key: String, required: Bool = false) -> String? {
        guard let value = value(key) else {
            if required { reportMissing(key) }
            return nil
        }
        return reader.string(value, path: fieldPath(key))
    }

    func stringList(_ key: String, required: Bool = false) -> [String]? {
        guard let value = value(key) else {
            if required { reportMissing(key) }
            return nil
        }
        return reader.stringList(value, path: fieldPath(key))
    }

    func int(_ key: String, in range: ClosedRange<Int>) -> Int? {
        guard let value = value(key) else { return nil }
        guard case .scalar = value, let number = value.int else {
            reader.report(value, "'\(fieldPath(key))' must be a whole number, not \(value.kindDescription)")
            return nil
        }
        guard range.contains(number) else {
            reader.report(value, "'\(fieldPath(key))' must be between \(range.lowerBound) and \(range.upperBound), not \(number)")
            return nil
        }
        return number
    }

    func double(_ key: String, in range: ClosedRange<Double>) -> Double? {
        guard let value = value(key) else { return nil }
        guard case .scalar = value, let number = value.float ?? value.int.map(Double.init) else {
            reader.report(value, "'\(fieldPath(key))' must be a number, not \(value.kindDescription)")
            return nil
        }
        guard range.contains(number) else {
            reader.report(value, "'\(fieldPath(key))' must be between \(range.lowerBound) and \(range.upperBound), not \(number)")
            return nil
        }
        return number
    }

    func bool(_ key: String) -> Bool? {
        guard let value = value(key) else { return nil }
        guard case .scalar = value, let flag = value.bool else {
            reader.report(value, "'\(fieldPath(key))' must be true or false, not \(value.kindDescription)")
            return nil
        }
        return flag
    }

    func duration(_ key: String) -> Duration? {
        guard let value = value(key), let text = reader.string(value, path: fieldPath(key)) else { return nil }
        guard let duration = DurationText.parse(text) else {
            reader.report(value, "'\(fieldPath(key))' is not a duration: '\(text)'; write e.g. 30s, 5m, 1h30m, 14d")
            return nil
        }
        return duration
    }

    func size(_ key: String) -> ByteSize? {
        guard let value = value(key) else { return nil }
        let text = value.int.map(String.init) ?? reader.string(value, path: fieldPath(key))
        guard let text else { return nil }
        guard let size = ByteSize(parsing: text) else {
            reader.report(value, "'\(fieldPath(key))' is not a size: '\(text)'; write e.g. 512MiB, 20GiB, 100KB")
            return nil
        }
        return size
    }

    /// A mapping of names to strings (e.g. nix options, environment), in file order.
    func stringPairs(_ key: String) -> [(name: String, value: String)]? {
        guard let value = value(key), let nested = reader.mapping(value, path: fieldPath(key)) else { return nil }
        return nested.order.compactMap { name in
            let node = nested.fields[name]!.value
            // Scalars of any type (numbers, booleans) are passed on as written.
            guard case .scalar(let scalar) = node else {
                reader.report(node, "'\(nested.fieldPath(name))' must be a single value, not \(node.kindDescription)")
                return nil
            }
            return (name, scalar.string)
        }
    }

    func mapping(_ key: String, required: Bool = false) -> MappingReader? {
        guard let value = value(key) else {
            if required { reportMissing(key) }
            return nil
        }
        return reader.mapping(value, path: fieldPath(key))
    }

    /// Reports every key not in `allowed`, with the nearest allowed key as a suggestion.
    func rejectUnknownKeys(allowed: [String]) {
        for key in order where !allowed.contains(key) {
            reader.report(keyNode(key), "unknown key '\(key)' in \(DefinitionReader.name(of: path))"
                + DidYouMean.hint(for: key, among: allowed)
                + (DidYouMean.suggestion(for: key, among: allowed) == nil ? "; allowed: \(allowed.joined(separator: ", "))" : ""))
        }
    }
}

extension Node {
    /// What a node is, for "must be X, not Y" messages.
    var kindDescription: String {
        switch self {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let scalar):
            if self.null != nil, scalar.style == .plain { return "an empty value" }
            return "'\(scalar.string)'"
        }
    }
}
