import CLibGit2
import Foundation

/// Turns the counters of a clone or fetch (libgit2's transfer progress, the source's own
/// "Counting/Compressing objects" text, the local object copy) into log lines for `progress`, at
/// most one per `interval`, so a long first mirror is not silent and a fast one is not noisy.
///
/// libgit2 calls its progress callbacks once per object (tens of thousands of times a second):
/// `report` only reads the clock and compares, and builds its line only when one is due.
final class ProgressReporter {
    /// The shortest time between two lines (the final summary is always written).
    let interval: Duration
    private let emit: (String) -> Void
    private let now: () -> ContinuousClock.Instant
    private let started: ContinuousClock.Instant
    private var lastLine: ContinuousClock.Instant

    /// - Parameters:
    ///   - interval: the shortest time between two lines; the first is due one interval after
    ///     creation, so an operation that ends sooner writes only its summary.
    ///   - now: the clock (tests pass their own).
    ///   - emit: receives the lines.
    init(interval: Duration = .milliseconds(250),
         now: @escaping () -> ContinuousClock.Instant = { ContinuousClock.now },
         emit: @escaping (String) -> Void) {
        self.interval = interval
        self.emit = emit
        self.now = now
        started = now()
        lastLine = started
    }

    /// Writes `line()` if at least `interval` has passed since the last line; otherwise does not
    /// even build it. A nil line writes nothing and leaves the next line due.
    func report(_ line: @autoclosure () -> String?) {
        let time = now()
        guard time - lastLine >= interval, let text = line() else { return }
        lastLine = time
        emit(text)
    }

    /// Writes `line` now, whatever the time since the last one (for summaries).
    func finish(_ line: String) {
        lastLine = now()
        emit(line)
    }

    /// Seconds since this reporter was created, for summaries ("in 1.2 s").
    var elapsed: String {
        let duration = now() - started
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return String(format: "%.1f s", seconds)
    }

    // MARK: - What a transfer reports

    /// A line for libgit2's transfer counters: receiving objects, then resolving deltas.
    func transfer(_ stats: git_indexer_progress) {
        report(Self.describe(stats))
    }

    /// A line for text the source sends about its own work (a server's "Counting objects",
    /// "Compressing objects: 45% (…)"; libgit2's local transport says the same while it builds a
    /// pack). Only the last line of a chunk is kept, and the text is decoded only when a line is due.
    func sideband(_ text: UnsafePointer<CChar>, length: Int) {
        report(Self.lastLine(ofSideband: String(decoding: UnsafeRawBufferPointer(start: text, count: length), as: UTF8.self))
            .map { "source: \($0)" })
    }

    static func describe(_ stats: git_indexer_progress) -> String {
        if stats.total_objects > 0, stats.received_objects < stats.total_objects {
            return "receiving objects: \(percent(stats.received_objects, of: stats.total_objects)) (\(stats.received_objects)/\(stats.total_objects)), \(mebibytes(stats.received_bytes))"
        }
        if stats.total_deltas > 0, stats.indexed_deltas < stats.total_deltas {
            return "resolving deltas: \(percent(stats.indexed_deltas, of: stats.total_deltas)) (\(stats.indexed_deltas)/\(stats.total_deltas))"
        }
        return "indexing objects: \(stats.indexed_objects)/\(stats.total_objects), \(mebibytes(stats.received_bytes))"
    }

    static func lastLine(ofSideband text: String) -> String? {
        text.split(whereSeparator: { $0 == "\r" || $0 == "\n" })
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .last { !$0.isEmpty }
    }

    static func percent<Count: BinaryInteger>(_ part: Count, of whole: Count) -> String {
        guard whole > 0 else { return "0%" }
        return "\(Int(Double(part) * 100 / Double(whole)))%"
    }

    static func mebibytes<Count: BinaryInteger>(_ bytes: Count) -> String {
        String(format: "%.1f MiB", Double(bytes) / 1_048_576)
    }
}
