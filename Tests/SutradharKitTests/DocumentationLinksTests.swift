import Foundation
import SutradharTesting
import Testing

/// The README is short and links its pages: every relative link in the README, AGENTS.md,
/// Benchmarks/README.md and docs/ must reach a file, and a `#anchor` a heading of that file.
@Suite struct DocumentationLinksTests {
    static let root = SutradharCLI.repositoryRoot

    static var pages: [String] {
        let docs = ((try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("docs").path)) ?? [])
            .filter { $0.hasSuffix(".md") }.sorted().map { "docs/\($0)" }
        return ["README.md", "AGENTS.md", "Benchmarks/README.md"] + docs
    }

    @Test func everyRelativeLinkReachesAFileAndItsHeading() throws {
        #expect(Self.pages.count > 10, "the docs folder holds the reference pages")
        var broken: [String] = []
        for page in Self.pages {
            let text = Self.withoutCodeBlocks(try String(contentsOf: Self.root.appendingPathComponent(page), encoding: .utf8))
            for target in Self.linkTargets(in: text) where !target.contains(":") {
                let parts = target.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                let file = parts[0].isEmpty ? page
                    : URL(fileURLWithPath: page).deletingLastPathComponent().appendingPathComponent(parts[0]).standardized.relativePath
                let url = Self.root.appendingPathComponent(file)
                guard FileManager.default.fileExists(atPath: url.path) else {
                    broken.append("\(page): \(target) (no file \(file))")
                    continue
                }
                if parts.count == 2, file.hasSuffix(".md") {
                    let headings = Self.headingAnchors(in: Self.withoutCodeBlocks(try String(contentsOf: url, encoding: .utf8)))
                    if !headings.contains(parts[1]) { broken.append("\(page): \(target) (no heading #\(parts[1]) in \(file))") }
                }
            }
        }
        #expect(broken.isEmpty, "\(broken.joined(separator: "\n"))")
    }

    @Test func theReadmeStaysShort() throws {
        let lines = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count < 200, "README.md has \(lines.count) lines: move reference into docs/")
    }

    /// A comment says why, not when: no issue or defect numbers in the code, tests or scripts
    /// (the issue tracker is not part of the repository; its numbers mean nothing to a reader).
    @Test func noSourceFileCitesAnIssueNumber() throws {
        let pattern = /\b(?:[Ii]ssue|[Dd]efect|[Ff]inding) \d+/
        var citing: [String] = []
        for folder in ["Sources", "Tests", "scripts", "Benchmarks"] {
            let base = Self.root.appendingPathComponent(folder)
            let files = FileManager.default.enumerator(atPath: base.path)?.compactMap { $0 as? String } ?? []
            for file in files where [".swift", ".sh", ".py"].contains(where: file.hasSuffix) {
                guard let text = try? String(contentsOf: base.appendingPathComponent(file), encoding: .utf8) else { continue }
                for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
                where line.firstMatch(of: pattern) != nil && !line.contains("noSourceFileCitesAnIssueNumber") {
                    citing.append("\(folder)/\(file):\(number + 1): \(line.trimmingCharacters(in: .whitespaces))")
                }
            }
        }
        #expect(citing.isEmpty, "\(citing.joined(separator: "\n"))")
    }

    /// The checker itself: a link that leads nowhere is found.
    @Test func aLinkToNothingIsFound() {
        let text = "See [a](docs/cli.md), [b](#two-words), [c](https://example.org), [d](missing.md#x).\n## Two words\n"
        #expect(Self.linkTargets(in: text) == ["docs/cli.md", "#two-words", "https://example.org", "missing.md#x"])
        #expect(Self.headingAnchors(in: text) == ["two-words"])
        #expect(Self.headingAnchors(in: "### JSON events (`--json`) — the machine interface") == ["json-events---json--the-machine-interface"])
    }

    static func linkTargets(in text: String) -> [String] {
        text.matches(of: /\[[^\]]*\]\(([^)\s]+)\)/).map { String($0.1) }
    }

    /// GitHub's anchors: the heading lowercased, punctuation but `-` and `_` dropped, spaces as `-`.
    static func headingAnchors(in text: String) -> Set<String> {
        Set(text.split(separator: "\n").compactMap { line -> String? in
            guard let heading = line.firstMatch(of: /^#+ (.*)$/) else { return nil }
            let kept = heading.1.lowercased().unicodeScalars.filter {
                CharacterSet.alphanumerics.contains($0) || $0 == "-" || $0 == "_" || $0 == " "
            }
            return String(String.UnicodeScalarView(kept)).replacingOccurrences(of: " ", with: "-")
        })
    }

    static func withoutCodeBlocks(_ text: String) -> String {
        text.replacing(/```.*?```/.dotMatchesNewlines(), with: "")
    }
}
