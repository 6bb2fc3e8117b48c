import Foundation
import SutradharKit
import SutradharTesting
import Testing

/// The library's text policy: what a person's terminal is shown of text from outside.
@Suite struct TextPolicyTests {
    @Test(arguments: [
        ("\u{1B}]52;c;aGVsbG8=\u{07}", "^[]52;c;aGVsbG8=^G"),            // clipboard write
        ("\u{1B}]0;title\u{07}", "^[]0;title^G"),                        // window title
        ("\u{1B}]8;;file:///etc/passwd\u{1B}\\x", "^[]8;;file:///etc/passwd^[\\x"),  // hyperlink
        ("\u{1B}[2J\u{1B}[H", "^[[2J^[[H"),                              // clear screen
        ("a\rb", "a^Mb"),
        ("\u{7F}", "^?"),
        ("\u{9B}31m", "<U+009B>31m"),                                      // C1 CSI
        ("\u{202E}gpj.exe", "<U+202E>gpj.exe"),                           // right-to-left override
        ("\u{2066}\u{2069}\u{200F}\u{061C}", "<U+2066><U+2069><U+200F><U+061C>"),
        ("plain é 漢字 tab\there", "plain é 漢字 tab\there"),
    ])
    func controlAndBidiCharactersAreShownNotActedOn(input: String, shown: String) {
        #expect(TextPolicy.terminal(input) == shown)
    }

    @Test func everyC0C1AndBidiControlIsMadeVisible() {
        let values: [UInt32] = Array(0x00...0x1F) + [0x7F] + Array(0x80...0x9F)
            + [0x061C, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069]
        for scalar in values.compactMap({ Unicode.Scalar($0) }) where scalar != "\t" && scalar != "\n" {
            let shown = TextPolicy.terminal("a" + String(scalar) + "b")
            #expect(!shown.unicodeScalars.contains(scalar), "U+\(String(scalar.value, radix: 16)) kept: \(shown.debugDescription)")
            #expect(shown.hasPrefix("a") && shown.hasSuffix("b") && shown.count > 3)
        }
        #expect(TextPolicy.terminal("one\ntwo") == "one\ntwo")
        #expect(TextPolicy.terminal("one\ntwo", keepingNewlines: false) == "one^Jtwo")
    }
}

/// The pipelines a caller who is not the operator may name.
@Suite struct PipelineCatalogTests {
    @Test func onlyNamesOfTheFoldersOwnDefinitionsAreAccepted() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-catalog") { root in
            let pipelines = root.appendingPathComponent("pipelines")
            try FileManager.default.createDirectory(at: pipelines, withIntermediateDirectories: true)
            try Data("version: 1\n".utf8).write(to: pipelines.appendingPathComponent("alpha.yaml"))
            try Data("version: 1\n".utf8).write(to: pipelines.appendingPathComponent("beta.yml"))
            try Data("secret\n".utf8).write(to: root.appendingPathComponent("outside.yaml"))
            try FileManager.default.createSymbolicLink(at: pipelines.appendingPathComponent("link.yaml"),
                                                       withDestinationURL: root.appendingPathComponent("outside.yaml"))
            let nested = root.appendingPathComponent("deep/er")
            try FileManager.default.createDirectory(at: nested, withIntermediateDirectories: true)
            let catalog = PipelineCatalog(servedFrom: nested)
            #expect(catalog.names == ["alpha", "beta", "link"])
            #expect(try catalog.path(of: "alpha") == pipelines.appendingPathComponent("alpha.yaml").path)
            #expect(try catalog.path(of: "beta") == pipelines.appendingPathComponent("beta.yml").path)
            for refused in ["../outside", "/etc/passwd", "pipelines/alpha.yaml", "alpha.yaml/..", ".alpha", "", "link", "gamma",
                            String(repeating: "a", count: 200), "al\u{0}pha"] {
                let error = #expect(throws: PipelineRefused.self) { try catalog.path(of: refused) }
                #expect(error?.message.contains("secret") == false)
            }
            #expect(#expect(throws: PipelineRefused.self) { try catalog.path(of: "gamma") }?.message.contains("alpha, beta") == true)
        }
    }
}
