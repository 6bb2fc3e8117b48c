import Yams

/// Reads typed values out of a YAML node tree and records every problem with its position,
/// so that one pass over a definition reports all of them.
final class DefinitionReader {
    /// The file named in every diagnostic.
    let file: String
    private(set) var diagnostics: [Diagnostic] = []
    /// Every reference to another stage read so far, in reading order, kept apart from the specs
    /// so that the cross-stage checks see a stage's references even when its spec fails.
    private(set) var references: [StageReference] = []

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

    /// A reference to another stage written at `node`, recorded in `references`.
    func reference(to name: String, field: String, at node: Node?,
                   requirement: StageReference.Requirement? = nil) -> StageReference {
        let reference = StageReference(name: name, field: field, position: position(of: node), requirement: requirement)
        references.append(reference)
        return reference
    }

    /// Reads `node` as a mapping named `path` (a dotted field path used in messages) whose place
    /// in the definition language is `schema` (see `DefinitionSchema`).
    func mapping(_ node: Node, path: String, schema: [String]) -> MappingReader? {
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
        return MappingReader(reader: self, node: node, path: path, schema: schema, fields: fields, order: order)
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
    /// Where this mapping sits in the definition language, e.g. `["stages", "*", "smoke"]`.
    let schema: [String]
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
        guard let value = value(key), let nested = reader.mapping(value, path: fieldPath(key), schema: schema + [key]) else { return nil }
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
        return reader.mapping(value, path: fieldPath(key), schema: schema + [key])
    }

    /// Reports every key neither in `allowed` nor in `refused` (keys refused with their own
    /// message elsewhere): where it belongs if it is a field of another level, else the nearest
    /// allowed key, else the allowed keys in their documented order. Refused keys are never
    /// suggested or listed.
    func rejectUnknownKeys(allowed: [String], refused: some Collection<String> = [String]()) {
        for key in order where !allowed.contains(key) && !refused.contains(key) {
            reader.report(keyNode(key), unknownKeyMessage(key, in: DefinitionReader.name(of: path), allowed: allowed,
                                                          listing: "; allowed: \(allowed.joined(separator: ", "))"))
        }
    }

    /// The message for `key`, not allowed in this mapping (named `name` in the message):
    /// misplaced (a field of another level, and where to move it), a typo of an allowed key, a
    /// typo of another level's key, or unknown with `listing` (what is allowed here).
    func unknownKeyMessage(_ key: String, in name: String, allowed: [String], listing: String) -> String {
        switch DefinitionSchema.placement(of: key, at: schema, siblings: order) {
        case .move(let advice):
            return "misplaced key '\(key)' in \(name): \(advice)"
        case .otherKind(let advice):
            return "unknown key '\(key)' in \(name): \(advice)" + listing
        case nil:
            break
        }
        if let suggestion = DidYouMean.suggestion(for: key, among: allowed) {
            return "unknown key '\(key)' in \(name); did you mean '\(suggestion)'?"
        }
        // A typo of a field that belongs elsewhere: suggest it with where it goes.
        if let suggestion = DidYouMean.suggestion(for: key, among: DefinitionSchema.allKeys),
           case .move(let advice) = DefinitionSchema.placement(of: suggestion, at: schema, siblings: order) {
            return "unknown key '\(key)' in \(name); did you mean '\(suggestion)'? \(advice)"
        }
        return "unknown key '\(key)' in \(name)" + listing
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
