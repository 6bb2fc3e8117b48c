import Foundation

// Reading the schema-1 JSON lines back into typed values, so that any front end (the `runs`
// commands, a dashboard, an MCP server) works with `RunEvent`s instead of `[String: Any]`.
// `RunEvent(jsonLine:)` is the exact inverse of `jsonLine()`: decoding a line and encoding it
// again gives the same bytes, key order included (the golden files are the contract).

/// A JSON line that is not a schema-1 event: what is wrong, and where (a key path).
public struct EventDecodingError: Error, Sendable, CustomStringConvertible {
    /// What is wrong, e.g. `stages[1].status: "lost" is not one of passed, failed, skipped, cancelled`.
    public let message: String

    init(_ message: String) { self.message = message }
    public var description: String { "not a Sutradhar event line (schema 1): \(message)" }
}

extension JSONValue {
    /// Parses one JSON text, keeping the order of object keys (Foundation's parser does not).
    /// Integers without fraction or exponent become `.int`, other numbers `.double`.
    /// - Throws: `EventDecodingError` naming the offset of the first syntax error.
    public init(parsing text: String) throws {
        var parser = JSONParser(bytes: Array(text.utf8))
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.offset == parser.bytes.count else { throw parser.failure("text after the JSON value") }
        self = value
    }
}

/// A small recursive-descent parser over UTF-8 bytes: enough for event lines, strict about syntax.
private struct JSONParser {
    let bytes: [UInt8]
    var offset = 0
    /// Deeper nesting than any event has: a bound, so hostile input cannot exhaust the stack.
    static let maximumDepth = 64

    init(bytes: [UInt8]) { self.bytes = bytes }

    func failure(_ what: String) -> EventDecodingError { EventDecodingError("\(what) at byte \(offset)") }

    mutating func skipWhitespace() {
        while offset < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[offset]) { offset += 1 }
    }

    mutating func value(depth: Int) throws(EventDecodingError) -> JSONValue {
        guard depth < Self.maximumDepth else { throw failure("nesting deeper than \(Self.maximumDepth)") }
        guard offset < bytes.count else { throw failure("unexpected end") }
        switch bytes[offset] {
        case UInt8(ascii: "{"):
            offset += 1
            var pairs: [(String, JSONValue)] = []
            skipWhitespace()
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "}") { offset += 1; return .object(pairs) }
            while true {
                skipWhitespace()
                let key = try string()
                skipWhitespace()
                try expect(":")
                skipWhitespace()
                pairs.append((key, try value(depth: depth + 1)))
                skipWhitespace()
                if try endOrComma("}") { return .object(pairs) }
            }
        case UInt8(ascii: "["):
            offset += 1
            var items: [JSONValue] = []
            skipWhitespace()
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "]") { offset += 1; return .array(items) }
            while true {
                skipWhitespace()
                items.append(try value(depth: depth + 1))
                skipWhitespace()
                if try endOrComma("]") { return .array(items) }
            }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default: return try number()
        }
    }

    private mutating func expect(_ character: Unicode.Scalar) throws(EventDecodingError) {
        guard offset < bytes.count, bytes[offset] == UInt8(ascii: character) else { throw failure("expected '\(character)'") }
        offset += 1
    }

    /// After an item: true at the closing bracket, false after a comma.
    private mutating func endOrComma(_ closing: Unicode.Scalar) throws(EventDecodingError) -> Bool {
        guard offset < bytes.count else { throw failure("unexpected end") }
        if bytes[offset] == UInt8(ascii: closing) { offset += 1; return true }
        try expect(",")
        return false
    }

    private mutating func literal(_ word: String) throws(EventDecodingError) {
        let expected = Array(word.utf8)
        guard bytes.count - offset >= expected.count, Array(bytes[offset..<offset + expected.count]) == expected else {
            throw failure("expected \(word)")
        }
        offset += expected.count
    }

    private mutating func number() throws(EventDecodingError) -> JSONValue {
        let start = offset
        var integral = true
        while offset < bytes.count {
            let byte = bytes[offset]
            if (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+") {
                offset += 1
            } else if byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
                integral = false
                offset += 1
            } else {
                break
            }
        }
        let text = String(decoding: bytes[start..<offset], as: UTF8.self)
        if integral, let number = Int64(text) { return .int(number) }
        // `Double(_:)` also takes "nan" and "inf", which JSON does not: the loop above admits only digits and signs.
        guard !text.isEmpty, let number = Double(text) else {
            offset = start
            throw failure("not a JSON value")
        }
        return .double(number)
    }

    private mutating func string() throws(EventDecodingError) -> String {
        try expect("\"")
        var scalars = String.UnicodeScalarView()
        var run = offset  // start of the current stretch without escapes
        func flush(_ end: Int) { scalars.append(contentsOf: String(decoding: bytes[run..<end], as: UTF8.self).unicodeScalars) }
        while offset < bytes.count {
            let byte = bytes[offset]
            if byte == UInt8(ascii: "\"") {
                flush(offset)
                offset += 1
                return String(scalars)
            }
            guard byte >= 0x20 else { throw failure("a control character inside a string") }
            guard byte == UInt8(ascii: "\\") else { offset += 1; continue }
            flush(offset)
            offset += 1
            guard offset < bytes.count else { break }
            let escape = bytes[offset]
            offset += 1
            switch escape {
            case UInt8(ascii: "\""): scalars.append("\"")
            case UInt8(ascii: "\\"): scalars.append("\\")
            case UInt8(ascii: "/"): scalars.append("/")
            case UInt8(ascii: "b"): scalars.append("\u{08}")
            case UInt8(ascii: "f"): scalars.append("\u{0C}")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "u"):
                var value = try hex4()
                if (0xD800..<0xDC00).contains(value), bytes.count - offset >= 6,
                   bytes[offset] == UInt8(ascii: "\\"), bytes[offset + 1] == UInt8(ascii: "u") {
                    offset += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw failure("an unpaired surrogate") }
                    value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let scalar = Unicode.Scalar(value) else { throw failure("an unpaired surrogate") }
                scalars.append(scalar)
            default:
                throw failure("an unknown escape")
            }
            run = offset
        }
        throw failure("an unterminated string")
    }

    private mutating func hex4() throws(EventDecodingError) -> UInt32 {
        guard bytes.count - offset >= 4,
              let value = UInt32(String(decoding: bytes[offset..<offset + 4], as: UTF8.self), radix: 16) else {
            throw failure("a bad \\u escape")
        }
        offset += 4
        return value
    }
}

/// Reads fields out of one JSON object, with errors that name the key path.
private struct FieldReader {
    let pairs: [(String, JSONValue)]
    let path: String

    init(_ value: JSONValue, path: String) throws(EventDecodingError) {
        guard case .object(let pairs) = value else { throw EventDecodingError("\(path.isEmpty ? "the line" : path): not an object") }
        self.pairs = pairs
        self.path = path
    }

    func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func optional(_ key: String) -> JSONValue? {
        guard let value = pairs.first(where: { $0.0 == key })?.1, value != .null else { return nil }
        return value
    }

    func required(_ key: String) throws(EventDecodingError) -> JSONValue {
        guard let value = pairs.first(where: { $0.0 == key })?.1 else { throw EventDecodingError("\(name(key)): missing") }
        return value
    }

    func string(_ key: String) throws(EventDecodingError) -> String {
        guard case .string(let text) = try required(key) else { throw EventDecodingError("\(name(key)): not a string") }
        return text
    }

    func optionalString(_ key: String) throws(EventDecodingError) -> String? {
        guard let value = optional(key) else { return nil }
        guard case .string(let text) = value else { throw EventDecodingError("\(name(key)): not a string or null") }
        return text
    }

    func int(_ key: String) throws(EventDecodingError) -> Int64 {
        guard case .int(let number) = try required(key) else { throw EventDecodingError("\(name(key)): not an integer") }
        return number
    }

    func bool(_ key: String) throws(EventDecodingError) -> Bool {
        guard case .bool(let flag) = try required(key) else { throw EventDecodingError("\(name(key)): not true or false") }
        return flag
    }

    func array(_ key: String) throws(EventDecodingError) -> [JSONValue] {
        guard case .array(let items) = try required(key) else { throw EventDecodingError("\(name(key)): not an array") }
        return items
    }

    func object(_ key: String) throws(EventDecodingError) -> [(String, JSONValue)] {
        guard case .object(let pairs) = try required(key) else { throw EventDecodingError("\(name(key)): not an object") }
        return pairs
    }

    func enumeration<T: RawRepresentable & CaseIterable>(_ key: String, as type: T.Type) throws(EventDecodingError) -> T
    where T.RawValue == String {
        let text = try string(key)
        guard let value = T(rawValue: text) else {
            let allowed = T.allCases.map(\.rawValue).joined(separator: ", ")
            throw EventDecodingError("\(name(key)): \"\(text)\" is not one of \(allowed)")
        }
        return value
    }
}

extension RunEvent {
    /// Decodes one line as `jsonLine()` writes it (a trailing newline is allowed). Unknown keys
    /// are ignored, so later additive fields of schema 1 do not break older readers.
    /// - Throws: `EventDecodingError` if the line is not JSON, not schema 1, or a field is missing
    ///   or of the wrong type.
    public init(jsonLine line: some StringProtocol) throws {
        let text = line.hasSuffix("\n") ? String(line.dropLast()) : String(line)
        try self.init(json: try JSONValue(parsing: text))
    }

    /// Decodes an event from its JSON value (see `init(jsonLine:)`).
    /// - Throws: `EventDecodingError`.
    public init(json: JSONValue) throws {
        let fields = try FieldReader(json, path: "")
        let schema = try fields.int("schema")
        guard schema == 1 else { throw EventDecodingError("schema \(schema): this build reads schema 1") }
        let timeText = try fields.string("time")
        guard let time = RunEvent.date(rfc3339: timeText) else { throw EventDecodingError("time: \"\(timeText)\" is not an RFC 3339 UTC time") }
        let run = try fields.string("run")
        let event = try fields.string("event")
        let body: Body
        switch event {
        case "run-started":
            body = .runStarted(pipeline: try fields.string("pipeline"), source: try fields.string("source"),
                               ref: try fields.optionalString("ref"), cacheRoot: try fields.string("cache_root"))
        case "queued":
            body = .queued(reason: try fields.string("reason"))
        case "stage-started":
            body = .stageStarted(stage: try fields.string("stage"), kind: try fields.string("kind"))
        case "stage-waiting":
            let holder = try fields.optional("held_by").map { value throws(EventDecodingError) in
                let holder = try FieldReader(value, path: "held_by")
                return LockHolder(run: try holder.string("run"), stage: try holder.string("stage"))
            }
            body = .stageWaiting(stage: try fields.string("stage"), reason: try fields.string("reason"), heldBy: holder)
        case "log":
            body = .log(stage: try fields.string("stage"), stream: try fields.string("stream"), line: try fields.string("line"))
        case "warning":
            body = .warning(stage: try fields.optionalString("stage"), message: try fields.string("message"))
        case "stage-finished":
            body = .stageFinished(try StageResult(fields, nameKey: "stage"))
        case "run-finished":
            let stages = try fields.array("stages").enumerated().map { index, value throws(EventDecodingError) in
                try StageResult(try FieldReader(value, path: "stages[\(index)]"), nameKey: "name")
            }
            let warnings = try fields.array("warnings").enumerated().map { index, value throws(EventDecodingError) in
                guard case .string(let text) = value else { throw EventDecodingError("warnings[\(index)]: not a string") }
                return text
            }
            var summary = RunSummary(
                run: run, pipeline: try fields.string("pipeline"), commit: try fields.string("commit"),
                status: try fields.enumeration("status", as: RunStatus.self), durationMilliseconds: try fields.int("duration_ms"),
                stages: stages, warnings: warnings, environmentProblem: try fields.optionalString("environment_problem"),
                remedy: try fields.optionalString("remedy"))
            summary.traceID = try fields.optionalString("trace_id")
            body = .runFinished(summary)
        default:
            throw EventDecodingError("event: \"\(event)\" is not an event of schema 1")
        }
        self.init(run: run, body, time: time)
    }

    /// Reads `rfc3339(_:)`'s form back (`2026-11-29T06:52:12.345Z`; the fraction may be absent).
    /// The date returned is the middle of the millisecond, so that `rfc3339` of it gives the same
    /// text again despite floating-point rounding.
    public static func date(rfc3339 text: String) -> Date? {
        let characters = Array(text.utf8)
        guard characters.count == 20 || characters.count == 24, characters.last == UInt8(ascii: "Z") else { return nil }
        func number(_ start: Int, _ length: Int) -> Int32? {
            let digits = characters[start..<start + length]
            guard digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return nil }
            return Int32(String(decoding: digits, as: UTF8.self))
        }
        let separators: [(Int, Unicode.Scalar)] = [(4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":")]
        guard separators.allSatisfy({ characters[$0.0] == UInt8(ascii: $0.1) }),
              let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        var milliseconds: Int32 = 0
        if characters.count == 24 {
            guard characters[19] == UInt8(ascii: "."), let fraction = number(20, 3) else { return nil }
            milliseconds = fraction
        }
        var parts = tm()
        parts.tm_year = year - 1900
        parts.tm_mon = month - 1
        parts.tm_mday = day
        parts.tm_hour = hour
        parts.tm_min = minute
        parts.tm_sec = second
        let seconds = timegm(&parts)
        return Date(timeIntervalSince1970: (Double(Int64(seconds) * 1000 + Int64(milliseconds)) + 0.5) / 1000)
    }
}

extension StageResult {
    /// Reads a stage's result: `name` in a summary's `stages`, `stage` in a stage-finished event.
    fileprivate init(_ fields: FieldReader, nameKey: String) throws(EventDecodingError) {
        self.init(name: try fields.string(nameKey), kind: try fields.string("kind"),
                  status: try fields.enumeration("status", as: StageStatus.self), cached: try fields.bool("cached"),
                  durationMilliseconds: try fields.int("duration_ms"), outputs: try fields.object("outputs"),
                  error: try fields.optionalString("error"), writtenCode: try fields.optionalString("code"),
                  writtenRemedy: try fields.optionalString("remedy"))
    }
}

// `Codable` for embedding events in other Codable values (an MCP response, a dashboard's state).
// The content is exactly the event line's; the byte-exact form, key order included, is
// `jsonLine()` / `init(jsonLine:)`, because Codable encoders and decoders do not promise to keep
// the order of keys.

extension JSONValue: Codable {
    /// Decodes any JSON value. Object keys come in the decoder's order.
    public init(from decoder: any Decoder) throws {
        if let container = try? decoder.container(keyedBy: AnyKey.self) {
            self = .object(try container.allKeys.map { ($0.stringValue, try container.decode(JSONValue.self, forKey: $0)) })
        } else if var container = try? decoder.unkeyedContainer() {
            var items: [JSONValue] = []
            while !container.isAtEnd { items.append(try container.decode(JSONValue.self)) }
            self = .array(items)
        } else {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                self = .null
            } else if let flag = try? container.decode(Bool.self) {
                self = .bool(flag)
            } else if let number = try? container.decode(Int64.self) {
                self = .int(number)
            } else if let number = try? container.decode(Double.self) {
                self = .double(number)
            } else {
                self = .string(try container.decode(String.self))
            }
        }
    }

    /// Encodes the value; object keys are handed to the encoder in order.
    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .object(let pairs):
            var container = encoder.container(keyedBy: AnyKey.self)
            for (key, value) in pairs { try container.encode(value, forKey: AnyKey(key)) }
        case .array(let items):
            var container = encoder.unkeyedContainer()
            for item in items { try container.encode(item) }
        case .string(let text): var container = encoder.singleValueContainer(); try container.encode(text)
        case .int(let number): var container = encoder.singleValueContainer(); try container.encode(number)
        case .double(let number): var container = encoder.singleValueContainer(); try container.encode(number)
        case .bool(let flag): var container = encoder.singleValueContainer(); try container.encode(flag)
        case .null: var container = encoder.singleValueContainer(); try container.encodeNil()
        }
    }

    private struct AnyKey: CodingKey {
        let stringValue: String
        init(_ key: String) { stringValue = key }
        init?(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }
}

extension RunEvent: Codable {
    /// Decodes the event from the same fields as its JSON line.
    /// - Throws: `EventDecodingError` (or the decoder's error) if they are not a schema-1 event.
    public init(from decoder: any Decoder) throws {
        try self.init(json: try JSONValue(from: decoder))
    }

    /// Encodes the event's JSON line fields.
    public func encode(to encoder: any Encoder) throws {
        try JSONValue(parsing: jsonLine()).encode(to: encoder)
    }
}

extension RunSummary {
    /// Reads a run-finished event line (as the history stores it) into its summary.
    /// - Throws: `EventDecodingError` if the line is not a run-finished event of schema 1.
    public init(runFinishedLine line: some StringProtocol) throws {
        let event = try RunEvent(jsonLine: line)
        guard case .runFinished(let summary) = event.body else {
            throw EventDecodingError("event: \"\(event.name)\" where a run-finished event was expected")
        }
        self = summary
    }
}
