/// Cuts a byte stream into lines, keeping state across reads whose boundaries fall anywhere,
/// and never holding more than `maxLineBytes` of one line: the rest of an overlong line is
/// dropped and the line is marked as truncated.
public struct LineSplitter: Sendable {
    /// Appended to a line that was cut at `maxLineBytes`.
    public static let truncationMarker = " …[line truncated]"

    public let maxLineBytes: Int
    private var pending: [UInt8] = []
    private var droppingRestOfLine = false

    public init(maxLineBytes: Int) {
        precondition(maxLineBytes > 0)
        self.maxLineBytes = maxLineBytes
    }

    /// Adds bytes and returns every line they complete, without their line terminators.
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [String] {
        var lines: [String] = []
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                lines.append(takeLine())
            } else if pending.count < maxLineBytes {
                pending.append(byte)
            } else {
                droppingRestOfLine = true
            }
        }
        return lines
    }

    /// Returns the last line if the stream ended without a newline after it.
    public mutating func finish() -> String? {
        pending.isEmpty && !droppingRestOfLine ? nil : takeLine()
    }

    private mutating func takeLine() -> String {
        if pending.last == UInt8(ascii: "\r") {
            pending.removeLast()
        }
        // Lossy decoding: a build log may hold any bytes, and a cut may split a character.
        var line = String(decoding: pending, as: UTF8.self)
        if droppingRestOfLine {
            line += Self.truncationMarker
        }
        pending.removeAll(keepingCapacity: true)
        droppingRestOfLine = false
        return line
    }
}

/// The last `limit` lines of a log, oldest first.
struct LogTail: Sendable {
    let limit: Int
    private var storage: [String] = []
    private var start = 0

    init(limit: Int) {
        self.limit = max(0, limit)
    }

    mutating func append(_ line: String) {
        guard limit > 0 else { return }
        if storage.count < limit {
            storage.append(line)
        } else {
            // A ring: overwrite the oldest line rather than shifting the array on every line.
            storage[start] = line
            start = (start + 1) % limit
        }
    }

    var lines: [String] {
        Array(storage[start...] + storage[..<start])
    }
}
