import Foundation
import Testing
@testable import Pipeline

/// Definitions written to hurt: they must be refused quickly, never hang or exhaust memory.
/// A hang here would show as this suite hitting its time limit (and CI as a timeout).
@Suite(.timeLimit(.minutes(1))) struct HostileInputTests {
    static let aliasBombMessage = "the definition expands to more than 20000 YAML nodes (an alias bomb?); refusing to read it"

    /// `levels` lines `aN: &aN [*aN-1 × 10]`, the first of ten scalars: 10^levels leaves.
    static func aliasLevels(_ levels: Int, prefix: String = "a", indent: String = "", key: Bool = false) -> [String] {
        (0..<levels).map { level in
            let items = level == 0 ? Array(repeating: "lol", count: 10) : Array(repeating: "*\(prefix)\(level - 1)", count: 10)
            let head = key ? "\(indent)- " : "\(prefix)\(level): "
            return "\(head)&\(prefix)\(level) [\(items.joined(separator: ", "))]"
        }
    }

    @Test func billionLaughsIsRefusedWhereItCrossesTheBudget() {
        // Ten levels: 10^10 nodes once expanded. Expansion passes 20,000 nodes at the second
        // alias of level 4 (each level-3 alias stands for 11,111 nodes).
        let yaml = (Self.aliasLevels(10) + ["version: 1", "lolz: *a9"]).joined(separator: "\n")
        let start = ContinuousClock.now
        #expect(diagnostics(yaml) == ["p.yaml:5:15: \(Self.aliasBombMessage)"])
        #expect(ContinuousClock.now - start < .seconds(30))  // a hang, not a speed check
    }

    @Test func aliasBombInsideAMappingKeyIsRefusedBeforeComposing() {
        // Yams hashes every mapping key while composing: a key holding ten alias levels would
        // take hours to hash if the expansion were only bounded after composing.
        let key = Self.aliasLevels(10, prefix: "k", indent: "  ", key: true)
        var lines = ["version: 1", "? " + key[0].dropFirst(2)]
        lines += key.dropFirst()
        lines += [": boom"]
        let start = ContinuousClock.now
        #expect(diagnostics(lines.joined(separator: "\n")) == ["p.yaml:6:15: \(Self.aliasBombMessage)"])
        #expect(ContinuousClock.now - start < .seconds(30))  // a hang, not a speed check
    }

    @Test func aliasesWithinTheBudgetAreFollowed() throws {
        let yaml = withStages("""
              a:
                smoke:
                  image: busybox:latest
                  limits: &limits {data: 128MiB, nofile: 1024}
                  probe: &probe {exec: [true], attempts: 5}
              b:
                smoke:
                  image: busybox:latest
                  limits: *limits
                  probe: *probe
            """)
        let b = try plan(yaml).spec("b", as: SmokeSpec.self)
        #expect(b?.container.limits.data == ByteSize(bytes: 128 * 1024 * 1024))
        #expect(b?.container.limits.nofile == 1024)
        #expect(b?.probe.attempts == 5)
    }

    @Test func fileLargerThanOneMebibyteIsRefusedWithoutBeingParsed() throws {
        try withTemporaryFolder { folder in
            let path = folder.appendingPathComponent("huge.yaml").path
            // Unbalanced brackets: parsed, this would be a syntax error (or a very deep tree).
            let text = String(repeating: "[", count: PipelineLoader.maximumFileSize + 1)
            try text.write(toFile: path, atomically: false, encoding: .utf8)
            #expect(loadDiagnostics(path) == ["\(path):1:1: the definition is larger than 1 MiB; a pipeline definition is a few kilobytes"])
        }
    }

    @Test func fileOfExactlyOneMebibyteIsParsed() throws {
        try withTemporaryFolder { folder in
            let path = folder.appendingPathComponent("padded.yaml").path
            let head = "version: 1\n#"
            let text = head + String(repeating: "x", count: PipelineLoader.maximumFileSize - head.utf8.count)
            try text.write(toFile: path, atomically: false, encoding: .utf8)
            // Read and parsed: what is reported is what the text lacks, not its size.
            #expect(loadDiagnostics(path) == [
                "\(path):1:1: the definition is missing 'name'",
                "\(path):1:1: the definition is missing 'source'",
                "\(path):1:1: the definition is missing 'stages'",
            ])
        }
    }

    @Test func missingFileAndNonUTF8FileAreOneProblemEach() throws {
        try withTemporaryFolder { folder in
            let missing = folder.appendingPathComponent("nope.yaml").path
            #expect(loadDiagnostics(missing) == ["\(missing):1:1: the definition file does not exist"])

            let binary = folder.appendingPathComponent("binary.yaml").path
            try Data([0x76, 0x3A, 0x20, 0xFF, 0xFE, 0x0A]).write(to: URL(fileURLWithPath: binary))
            #expect(loadDiagnostics(binary) == ["\(binary):1:1: the definition is not UTF-8 text"])
        }
    }

    @Test func deeplyNestedFlowListsAreASyntaxErrorNotACrash() {
        // libyaml limits nesting depth; past it, the text is refused with a position.
        let yaml = "version: " + String(repeating: "[", count: 20_000) + String(repeating: "]", count: 20_000)
        #expect(diagnostics(yaml) == [
            "p.yaml:1:11: YAML syntax: nested more than 1000 levels deep; a pipeline definition needs a handful",
        ])
    }

    @Test func nulByteIsReportedAtItsOwnLineAndColumn() {
        // A NUL on line 3, after "name: té" (the é is one column, two bytes).
        let yaml = "version: 1\n# comment\nname: t\u{E9}\u{0}x\nstages: {}\n"
        #expect(diagnostics(yaml) == [
            "p.yaml:3:9: YAML: the definition contains a control character (U+0000) that YAML does not allow; remove it",
        ])
    }

    @Test func nulByteOnTheFirstLineIsReportedAtItsColumn() {
        #expect(diagnostics("version:\u{0} 1\n") == [
            "p.yaml:1:9: YAML: the definition contains a control character (U+0000) that YAML does not allow; remove it",
        ])
    }
}

/// Runs `body` with a fresh temporary folder, removed afterwards.
func withTemporaryFolder<T>(_ body: (URL) throws -> T) throws -> T {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("pipeline-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    return try body(folder)
}

/// The rendered diagnostics of `PipelineLoader.load(path:)`, which must fail.
func loadDiagnostics(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) -> [String] {
    do {
        _ = try PipelineLoader.load(path: path)
        Issue.record("\(path) was accepted; expected it to be refused", sourceLocation: sourceLocation)
        return []
    } catch {
        return error.diagnostics.map(\.description)
    }
}
