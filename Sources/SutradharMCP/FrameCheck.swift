import Foundation

/// Checks a frame before the SDK decodes it, for the shapes the SDK would answer with an
/// internal error (-32603) instead of what docs/mcp.md documents: a `tools/call` whose `name` is
/// not a string or whose `arguments` is not an object gets a tool result with `isError` and a
/// message saying what to send, as any other mistyped argument does.
enum FrameCheck {
    enum Outcome: Equatable {
        /// Hand the frame to the SDK.
        case forward
        /// Answer the frame with this JSON-RPC message instead.
        case answer(Data)
    }

    static func check(_ frame: Data) -> Outcome {
        // Only tool calls need a look; everything else goes through untouched and unparsed.
        guard frame.range(of: Data("tools/call".utf8)) != nil,
              let message = try? JSONSerialization.jsonObject(with: frame) as? [String: Any],
              message["method"] as? String == "tools/call", let id = message["id"],
              id is String || id is NSNumber else { return .forward }
        let parameters = message["params"] as? [String: Any]
        let problem: String
        if parameters == nil {
            problem = "tools/call needs 'params' with the tool's 'name' (a string) and its 'arguments' (an object)"
        } else if !(parameters?["name"] is String) {
            problem = "tools/call: 'name' must be a tool's name as a string, not \(describe(parameters?["name"]))"
        } else if let arguments = parameters?["arguments"], !(arguments is [String: Any]), !(arguments is NSNull) {
            problem = "tools/call: 'arguments' must be an object of named arguments, not \(describe(arguments))"
        } else {
            return .forward
        }
        return .answer(toolError(id: id, message: problem))
    }

    /// The JSON-RPC error for a frame over `limit` bytes: its ID was not read, so it is null.
    static func oversizeError(limit: Int) -> Data {
        let reply: [String: Any] = [
            "jsonrpc": "2.0", "id": NSNull(),
            "error": ["code": -32600, "message": "request larger than \(limit / (1024 * 1024)) MiB refused: a message is one line of at most \(limit) bytes"],
        ]
        return (try? JSONSerialization.data(withJSONObject: reply, options: [.sortedKeys])) ?? Data()
    }

    private static func toolError(id: Any, message: String) -> Data {
        let reply: [String: Any] = [
            "jsonrpc": "2.0", "id": id,
            "result": ["content": [["type": "text", "text": message]], "isError": true],
        ]
        return (try? JSONSerialization.data(withJSONObject: reply, options: [.sortedKeys])) ?? Data()
    }

    private static func describe(_ value: Any?) -> String {
        switch value {
        case nil, is NSNull: "missing"
        case is [Any]: "an array"
        case is [String: Any]: "an object"
        case is String: "a string"
        case is NSNumber: "a number or boolean"
        default: "another type"
        }
    }
}
