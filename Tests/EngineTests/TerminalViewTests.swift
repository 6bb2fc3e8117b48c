import Foundation
import SutradharTesting
import Testing

/// The live view on a terminal narrower than its lines: a row wider than the
/// terminal wraps, the redraw moves the cursor up one row per stage instead of one per physical
/// row, and the table is left printed again and again.
@Suite(.serialized)
struct TerminalViewTests {
    /// The width of the pseudo-terminal the run gets.
    static let columns = 80

    @Test func liveViewFitsEveryRedrawnRowToAnEightyColumnTerminal() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            // A long source path (in the header and the checkout row's log) and a builder whose log
            // lines are far wider than the terminal: each becomes the stage row's detail, redrawn.
            let repository = try makeRepository(at: workspace.root.appendingPathComponent("repo-" + String(repeating: "long", count: 25)))
            // Wide characters too: a terminal may give each two columns.
            let wide = "wide-log-line ✓ 日本語 " + String(repeating: "0123456789", count: 15)
            try ScriptFlake.commit(["a": "for i in 1 2 3 4 5 6; do echo \"$i \(wide)\" >&2; done\n" + ScriptFlake.writing("a")], to: repository)
            let definition = try workspace.writePipeline(nixPipeline(repository: repository.directory, stages: [(name: "a", installable: ".#a", needs: [])]))
            let command = [SutradharCLI.executable.path, "run", definition, "--cache-dir", workspace.cache.path]
                .map { "'\($0)'" }.joined(separator: " ")

            // script(1) gives the run a pseudo-terminal; `stty` sets its size as a resized window would.
            let transcript = try DockerTestSupport.run("/usr/bin/script", ["-qec", "stty rows 50 cols \(Self.columns); exec \(command)", "/dev/null"],
                                                       environment: ["TERM": "xterm"])
            #expect(transcript.contains("\u{1B}["), "no live view: \(transcript)")

            // Every row of every redrawn block fits: the rows are those of the stages (`  a …`, `  checkout …`).
            let written = TerminalScreen.plainLines(of: transcript)
            let rows = written.filter { $0.hasPrefix("  a ") || $0.hasPrefix("  checkout ") }
            #expect(rows.contains { $0.contains("wide-log-line ✓ 日本語") }, "the wide log line was never shown: \(written)")
            let tooWide = rows.filter { TerminalScreen.mostColumns(of: $0) > Self.columns }
            #expect(tooWide.isEmpty, "rows wider than \(Self.columns) columns: \(tooWide)")

            // What the user sees at the end, replayed on an 80-column screen: each stage once, passed,
            // no stale copy of a row that wrapped, and the verdict last.
            let screen = TerminalScreen(columns: Self.columns).replaying(transcript).nonBlankRows
            for stage in ["checkout", "a"] {
                #expect(screen.filter { $0.hasPrefix("  \(stage) ") }.count == 1, "the table was printed more than once:\n\(screen.joined(separator: "\n"))")
            }
            #expect(!screen.contains { $0.contains("running") }, "stale rows left on screen:\n\(screen.joined(separator: "\n"))")
            #expect(screen.filter { $0.hasPrefix("sutradhar run ") }.count == 1, "\(screen.joined(separator: "\n"))")
            #expect(screen.last?.contains(": passed in ") == true, "the verdict is not last:\n\(screen.joined(separator: "\n"))")
        }
    }
}

/// A tiny model of an xterm-like screen, enough to replay the live view: printable characters
/// (one column each, wrapping at the right margin), CR, LF, cursor up (`ESC[nA`) and erase to the
/// end of the screen (`ESC[J`); other escape sequences (colours) change nothing on it. It has no
/// height limit, so rows never scroll away.
struct TerminalScreen {
    let columns: Int
    private(set) var rows: [String] = [""]
    private var row = 0
    private var column = 0

    init(columns: Int) { self.columns = columns }

    /// The rows with something other than spaces on them, top to bottom.
    var nonBlankRows: [String] {
        var result: [String] = []
        for row in rows where row.unicodeScalars.contains(where: { $0 != " " }) { result.append(row) }
        return result
    }

    /// The screen after `output` was written to it.
    func replaying(_ output: String) -> TerminalScreen {
        var screen = self
        var characters = output[...]
        while let character = characters.popFirst() {
            switch character {
            case "\u{1B}":
                guard characters.first == "[" else { continue }
                characters.removeFirst()
                var parameters = ""
                while let next = characters.popFirst() {
                    if next.isLetter {
                        screen.control(next, Int(parameters) ?? 1)
                        break
                    }
                    parameters.append(next)
                }
            case "\r\n", "\n":
                // The pty turns LF into CR LF.
                screen.row += 1
                screen.column = 0
                if screen.row == screen.rows.count { screen.rows.append("") }
            case "\r":
                screen.column = 0
            default:
                screen.put(character)
            }
        }
        return screen
    }

    private mutating func control(_ command: Character, _ count: Int) {
        switch command {
        case "A":
            row = max(0, row - count)
            column = min(column, columns - 1)
        case "J":
            rows[row] = String(rows[row].prefix(column))
            rows.removeSubrange((row + 1)...)
        default:
            break
        }
    }

    private mutating func put(_ character: Character) {
        if column == columns {
            // Deferred wrap: the character after the last column starts the next row.
            row += 1
            column = 0
            if row == rows.count { rows.append("") }
        }
        var line = Array(rows[row])
        while line.count < column { line.append(" ") }
        if column < line.count { line[column] = character } else { line.append(character) }
        rows[row] = String(line)
        column += 1
    }

    /// The most columns `line` can take: two for every character beyond ASCII.
    static func mostColumns(of line: String) -> Int {
        line.reduce(0) { $0 + ($1.isASCII ? 1 : 2) }
    }

    /// The lines of `output` as written, without escape sequences (`ESC[…X`) and carriage returns.
    static func plainLines(of output: String) -> [String] {
        var plain = String.UnicodeScalarView()
        var scalars = output.unicodeScalars[...]
        while let scalar = scalars.popFirst() {
            if scalar == "\u{1B}", scalars.first == "[" {
                while let next = scalars.popFirst(), !(("A"..."Z").contains(next) || ("a"..."z").contains(next)) {}
            } else if scalar != "\r" {
                plain.append(scalar)
            }
        }
        return String(plain).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }
}
