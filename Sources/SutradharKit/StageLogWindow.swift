import Foundation

/// A bounded piece of a stage's log, for front ends that must not answer with megabytes (an
/// agent's context, an MCP answer): at most `maximumBytes` from `offset`, with where to go on.
public struct StageLogWindow: Sendable, Equatable {
    /// The most one window holds: 64 KiB.
    public static let maximumBytes = 64 * 1024

    /// The text (UTF-8; never cut inside a character).
    public let text: String
    /// The byte offset in the log file where `text` starts.
    public let offset: Int
    /// The byte offset just after `text`: pass it as `offset` to continue.
    public let nextOffset: Int
    /// The log file's size now (a running stage's log grows).
    public let totalBytes: Int
    /// Whether `text` reaches the end of the log as it is now.
    public var complete: Bool { nextOffset >= totalBytes }

    /// Reads `limit` bytes (at most `maximumBytes`) from `offset` of `file`; a missing file is an empty log.
    /// An offset inside a character moves forward to the next character; the end moves back so
    /// that no character is cut.
    public static func read(_ file: URL, offset: Int, limit: Int = maximumBytes) -> StageLogWindow {
        let total = size(of: file)
        let start = min(max(0, offset), total)
        let wanted = min(max(0, limit), maximumBytes)
        guard wanted > 0, start < total, let handle = try? FileHandle(forReadingFrom: file) else {
            return StageLogWindow(text: "", offset: start, nextOffset: start, totalBytes: total)
        }
        defer { try? handle.close() }
        try? handle.seek(toOffset: UInt64(start))
        // Three bytes more: enough to finish a character cut by the limit.
        var bytes = [UInt8]((try? handle.read(upToCount: wanted + 3)) ?? Data())
        var skipped = 0
        while skipped < bytes.count, skipped < 3, isContinuation(bytes[skipped]) { skipped += 1 }
        bytes.removeFirst(skipped)
        var end = min(bytes.count, wanted)
        if end < bytes.count {
            // Back up to the start of the character the limit cuts.
            while end > 0, isContinuation(bytes[end]) { end -= 1 }
        }
        let text = String(decoding: bytes[..<end], as: UTF8.self)
        return StageLogWindow(text: text, offset: start + skipped, nextOffset: start + skipped + end, totalBytes: total)
    }

    /// The last `lines` lines of `file` (within the last `maximumBytes`).
    public static func tail(_ file: URL, lines: Int) -> StageLogWindow {
        let total = size(of: file)
        let window = read(file, offset: max(0, total - maximumBytes))
        let all = window.text.split(separator: "\n", omittingEmptySubsequences: false)
        // A final newline ends the last line; it does not start an empty one.
        let body = window.text.hasSuffix("\n") ? all.dropLast() : all[...]
        let kept = body.suffix(max(0, lines))
        let text = kept.joined(separator: "\n") + (kept.isEmpty || !window.text.hasSuffix("\n") ? "" : "\n")
        let start = window.nextOffset - text.utf8.count
        return StageLogWindow(text: text, offset: start, nextOffset: window.nextOffset, totalBytes: total)
    }

    private static func isContinuation(_ byte: UInt8) -> Bool { byte & 0b1100_0000 == 0b1000_0000 }

    private static func size(of file: URL) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: file.path))?[.size] as? NSNumber)?.intValue ?? 0
    }
}
