import MCP

/// A tool call the server refuses before doing anything: bad arguments, an unknown pipeline,
/// run or tool, a policy refusal. Answered as a tool result with `isError` and this message;
/// the server keeps serving.
public struct ToolCallRefused: Error, Sendable, CustomStringConvertible {
    /// What was wrong and what to send instead.
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// A tool's arguments, checked against what the tool takes: unknown names and wrong types are
/// refused with a message naming the argument (a typo must not be silently ignored).
struct ToolArguments {
    let tool: String
    let values: [String: Value]

    init(tool: String, values: [String: Value]?, accepted: Set<String>) throws(ToolCallRefused) {
        self.tool = tool
        self.values = (values ?? [:]).filter { !$0.value.isNull }
        let unknown = self.values.keys.filter { !accepted.contains($0) }.sorted()
        if !unknown.isEmpty {
            let takes = accepted.isEmpty ? "no arguments" : "only: \(accepted.sorted().joined(separator: ", "))"
            throw ToolCallRefused("\(tool): unknown argument\(unknown.count == 1 ? "" : "s") \(unknown.joined(separator: ", ")); it takes \(takes)")
        }
    }

    func string(_ name: String) throws(ToolCallRefused) -> String? {
        guard let value = values[name] else { return nil }
        guard let text = value.stringValue else { throw mistyped(name, "a string") }
        return text
    }

    func requiredString(_ name: String) throws(ToolCallRefused) -> String {
        guard let text = try string(name) else { throw ToolCallRefused("\(tool): missing required argument '\(name)'") }
        guard !text.isEmpty else { throw ToolCallRefused("\(tool): '\(name)' is empty") }
        return text
    }

    /// An array of strings.
    func strings(_ name: String) throws(ToolCallRefused) -> [String]? {
        guard let value = values[name] else { return nil }
        guard let items = value.arrayValue else { throw mistyped(name, "an array of strings") }
        var texts: [String] = []
        for item in items {
            guard let text = item.stringValue else { throw mistyped(name, "an array of strings") }
            texts.append(text)
        }
        return texts
    }

    func bool(_ name: String) throws(ToolCallRefused) -> Bool? {
        guard let value = values[name] else { return nil }
        guard let flag = value.boolValue else { throw mistyped(name, "true or false") }
        return flag
    }

    /// An integer in `range` (a JSON number with no fraction: clients send 5.0 for 5).
    func int(_ name: String, in range: ClosedRange<Int>) throws(ToolCallRefused) -> Int? {
        guard let value = values[name] else { return nil }
        let number: Int? = switch value {
        case .int(let integer): integer
        case .double(let double) where double.rounded() == double && abs(double) < 1e15: Int(double)
        default: nil
        }
        guard let number else { throw mistyped(name, "an integer") }
        guard range.contains(number) else {
            throw ToolCallRefused("\(tool): '\(name)' is \(number); it must be between \(range.lowerBound) and \(range.upperBound)")
        }
        return number
    }

    private func mistyped(_ name: String, _ expected: String) -> ToolCallRefused {
        ToolCallRefused("\(tool): '\(name)' must be \(expected), not \(Self.describe(values[name]!))")
    }

    private static func describe(_ value: Value) -> String {
        switch value {
        case .null: "null"
        case .bool(let flag): "\(flag)"
        case .int(let number): "the number \(number)"
        case .double(let number): "the number \(number)"
        case .string(let text): "the string \"\(text.prefix(40))\""
        case .data: "data"
        case .array: "an array"
        case .object: "an object"
        }
    }
}
