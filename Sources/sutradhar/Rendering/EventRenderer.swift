import Foundation
import SutradharKit
import Synchronization

/// A consumer of a run's events. `render` is called from many tasks at once.
protocol EventRenderer: Sendable {
    func render(_ event: RunEvent)
    /// Called once after the run, with its summary (already rendered as an event).
    func finish(_ summary: RunSummary)
}

/// Writes to a file descriptor with one lock, so lines from concurrent stages never interleave.
final class LineWriter: Sendable {
    private let handle: Mutex<FileHandle>

    init(_ handle: FileHandle) { self.handle = Mutex(handle) }

    func write(_ text: String) {
        handle.withLock { $0.write(Data(text.utf8)) }
    }
}

/// `--json`: one JSON object per line on stdout, the contract documented in docs/events.md.
struct JSONLinesRenderer: EventRenderer {
    private let output = LineWriter(.standardOutput)
    /// `--quiet`: only the `run-finished` line.
    let onlySummary: Bool

    func render(_ event: RunEvent) {
        if onlySummary, case .runFinished = event.body {
            output.write(event.jsonLine() + "\n")
        } else if !onlySummary {
            output.write(event.jsonLine() + "\n")
        }
    }

    func finish(_ summary: RunSummary) {}
}
