import Foundation
import SutradharKit
import Synchronization

/// Human output: on a terminal, one live line per stage with its state and elapsed time; in a
/// log file, a line per change. A failing stage's last log lines are shown under it.
final class TerminalRenderer: EventRenderer, Sendable {
    /// What is on the screen, changed by one event (or one tick) at a time.
    private let screen: Mutex<Screen>
    /// Redraws the live block every 250 ms (elapsed times move, the window may be resized).
    private let ticker = Mutex<Task<Void, Never>?>(nil)

    static func make(quiet: Bool = false) -> TerminalRenderer {
        TerminalRenderer(live: !quiet && isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["TERM"] != "dumb",
                         quiet: quiet)
    }

    private init(live: Bool, quiet: Bool) {
        screen = Mutex(Screen(live: live, quiet: quiet))
        guard live else { return }
        ticker.withLock {
            $0 = Task { [weak self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(250))
                    self?.screen.withLock { $0.redraw() }
                }
            }
        }
    }

    func render(_ event: RunEvent) {
        screen.withLock { $0.render(event) }
    }

    func finish(_ summary: RunSummary) {
        ticker.withLock { $0?.cancel() }
        screen.withLock { $0.finish(summary) }
    }
}

/// The renderer's state and drawing, used only with `TerminalRenderer.screen`'s lock held.
private struct Screen {
    private static let tailLength = 25

    private let output = LineWriter(.standardOutput)
    private let live: Bool
    /// `--quiet`: no progress, only failures and the verdict.
    private let quiet: Bool
    private var rows: [Row] = []
    private var logTails: [String: [String]] = [:]
    /// The run's cache root (from `run-started`), to complete advice that names it.
    private var cacheRoot: String?
    private var drawnLines = 0
    /// Set by `finish`: the block is final, and a tick that was already due must not draw it again
    /// under the verdict.
    private var finished = false

    private struct Row {
        let stage: String
        let kind: String
        let started: ContinuousClock.Instant
        var state: String
        var detail: String?
        var finished: Duration?
    }

    init(live: Bool, quiet: Bool) {
        self.live = live
        self.quiet = quiet
    }

    mutating func render(_ event: RunEvent) {
        if quiet {
            // Only what went wrong, then the verdict from finish().
            if case .stageFinished(let result) = event.body, result.status == .failed {
                output.write("\(safe(result.name)): failed — \(safe(result.error ?? ""))\n")
            }
            return
        }
        switch event.body {
        case .runStarted(let pipeline, let source, let ref, let cacheRoot):
            self.cacheRoot = cacheRoot
            emitLine("\(bold("sutradhar")) run \(event.run): \(safe(pipeline)) from \(safe(source))\(ref.map { " at \(safe($0))" } ?? "") (cache: \(safe(cacheRoot)))")
        case .queued(let reason):
            emitLine(yellow("queued: \(safe(reason))"))
        case .stageStarted(let stage, let kind):
            rows.append(Row(stage: stage, kind: kind, started: .now, state: "running"))
            if !live { emitLine("  ▶ \(safe(stage)) (\(safe(kind)))") }
        case .stageWaiting(let stage, let reason, _):
            update(stage) { $0.detail = reason }
            if !live { emitLine("  … \(safe(stage)): \(safe(reason))") }
        case .log(let stage, _, let line):
            var tail = logTails[stage, default: []]
            tail.append(line)
            if tail.count > Self.tailLength { tail.removeFirst(tail.count - Self.tailLength) }
            logTails[stage] = tail
            update(stage) { $0.detail = String(line.prefix(100)) }
        case .warning(let stage, let message):
            emitLine(yellow("warning\(stage.map { " (\(safe($0)))" } ?? ""): \(safe(message))"))
        case .stageFinished(let result):
            finishRow(result)
        case .runFinished:
            break
        }
        draw()
    }

    mutating func finish(_ summary: RunSummary) {
        draw()
        finished = true
        drawnLines = 0
        let seconds = String(format: "%.1fs", Double(summary.durationMilliseconds) / 1000)
        let commit = summary.commit.isEmpty ? "" : " at \(summary.commit.prefix(12))"
        let verdict: String
        switch summary.status {
        case .passed: verdict = green("passed")
        case .failed: verdict = red("failed")
        case .cancelled: verdict = yellow("cancelled")
        }
        if let problem = summary.environmentProblem {
            output.write(red("environment problem: ") + safe(RemedyAdvice.advised(problem, remedy: summary.remedy, cacheRoot: cacheRoot)) + "\n")
        }
        for warning in summary.warnings { output.write(yellow("warning: \(safe(warning))") + "\n") }
        output.write("\(bold(safe(summary.pipeline)))\(safe(commit)): \(verdict) in \(seconds) (run \(summary.run))\n")
    }

    // MARK: Drawing

    private mutating func update(_ stage: String, _ change: (inout Row) -> Void) {
        guard let index = rows.lastIndex(where: { $0.stage == stage }) else { return }
        change(&rows[index])
    }

    private mutating func finishRow(_ result: StageResult) {
        let error = result.error.map { safe(RemedyAdvice.advised($0, remedy: result.remedy, cacheRoot: cacheRoot)) }
        if !rows.contains(where: { $0.stage == result.name }) {
            rows.append(Row(stage: result.name, kind: result.kind, started: .now, state: "pending"))
        }
        update(result.name) {
            // A reproducibility check's verdict on a build that passed is part of its state.
            let reproducible = result.outputs.first { $0.0 == "reproducible" }?.1 == .bool(true) ? ", reproducible" : ""
            $0.state = result.status.rawValue + (result.cached ? " (cached\(reproducible))" : reproducible.isEmpty ? "" : " (reproducible)")
            $0.finished = .milliseconds(result.durationMilliseconds)
            $0.detail = error
        }
        if !live {
            emitLine("  \(symbol(result.status)) \(safe(result.name)): \(result.status.rawValue)\(result.cached ? " (cached)" : "") "
                + "in \(format(.milliseconds(result.durationMilliseconds)))\(error.map { " — \($0)" } ?? "")")
        }
        if result.status == .failed, let tail = logTails[result.name], !tail.isEmpty {
            // The failing stage's own words, under it, before anything else scrolls by.
            var block = "    last \(tail.count) log lines of \(safe(result.name)):\n"
            for line in tail { block += "    │ \(safe(line))\n" }
            if live {
                commitRows()
                output.write(block)
            } else {
                output.write(block)
            }
        }
    }

    /// Prints a line above the live block.
    private mutating func emitLine(_ line: String) {
        if live {
            clearBlock()
            output.write(line + "\n")
            drawnLines = 0
        } else {
            output.write(line + "\n")
        }
    }

    /// Freezes the live rows into the scrollback (so a failure's log appears under its stage).
    private mutating func commitRows() {
        draw()
        drawnLines = 0
        rows.removeAll { $0.finished != nil }
    }

    mutating func redraw() {
        guard !finished else { return }
        draw()
    }

    private mutating func draw() {
        guard live else { return }
        clearBlock()
        // Every row must take exactly one physical row, or `clearBlock` moves up too little and
        // leaves copies of the table behind. The width is asked for at every draw (one ioctl),
        // which also follows SIGWINCH: the ticker draws at least every 250 ms, so a resized window
        // is fitted within that without a signal handler beside Interrupts' ones. The last column
        // stays free: some terminals wrap as soon as it is written.
        let columns = (TerminalText.width(of: STDOUT_FILENO) ?? 80) - 1
        var text = ""
        let width = max(14, rows.map(\.stage.count).max() ?? 0)
        for row in rows {
            let elapsed = row.finished ?? row.started.duration(to: .now)
            let state = row.finished == nil ? cyan(row.state) : colour(for: row.state)
            let detail = row.detail.map { "  " + dim(TerminalText.printable($0.prefix(90))) } ?? ""
            let line = "  \(TerminalText.printable(row.stage.padding(toLength: width, withPad: " ", startingAt: 0))) \(state) \(format(elapsed))\(detail)"
            text += TerminalText.fit(line, width: columns) + "\n"
        }
        output.write(text)
        drawnLines = rows.count
    }

    private mutating func clearBlock() {
        guard live, drawnLines > 0 else { return }
        output.write("\u{1B}[\(drawnLines)A\u{1B}[J")
        drawnLines = 0
    }

    private func colour(for state: String) -> String {
        if state.hasPrefix("passed") { return green(state) }
        if state.hasPrefix("failed") { return red(state) }
        return yellow(state)
    }

    private func symbol(_ status: StageStatus) -> String {
        switch status {
        case .passed: return "✓"
        case .failed: return "✗"
        case .skipped: return "-"
        case .cancelled: return "!"
        }
    }

    private func format(_ duration: Duration) -> String {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return seconds < 60 ? String(format: "%.1fs", seconds) : "\(Int(seconds) / 60)m\(Int(seconds) % 60)s"
    }

    /// Text from outside (a log line, an error, a name) as the terminal may show it: see `TextPolicy`.
    private func safe(_ text: some StringProtocol) -> String { TextPolicy.terminal(text, keepingNewlines: false) }

    private func styled(_ text: String, _ code: String) -> String { live ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }
    private func bold(_ text: String) -> String { styled(text, "1") }
    private func dim(_ text: String) -> String { styled(text, "2") }
    private func red(_ text: String) -> String { styled(text, "31") }
    private func green(_ text: String) -> String { styled(text, "32") }
    private func yellow(_ text: String) -> String { styled(text, "33") }
    private func cyan(_ text: String) -> String { styled(text, "36") }
}
