@testable import KubeRendering
import Testing
import Yams

/// The YAML emitter: what it writes reads back (with libyaml, through Yams) as the same tree.
struct YAMLTextTests {
    /// Strings a naive emitter gets wrong: YAML 1.1 booleans and nulls, numbers, indicators,
    /// leading dashes, colons, comments, quotes, escapes, blocks that need care.
    static let awkward = [
        "yes", "No", "on", "OFF", "y", "null", "~", "true", "1", "1.5", "0x1F", "1e3", "1_000", "-1", ".inf", "",
        "-x", "--commit", "a: b", "#not a comment", "key # no", "\"quoted\"", "back\\slash", "tab\there", "ünïcode",
        "*alias", "&anchor", "!tag", "%directive", "@at", "`tick", "{a}", "[a]", "a,b", "?", "|", ">",
        "multi\nline\n", "no final newline\nhere", "two final\n\n", " leading space\nline\n", "trailing \nspace\n",
        "\nleading newline\n", "cafe", "3f2c1e9", "unix:///run/sutradhar/docker.sock", "0 3 * * 1-5", "bell\u{7}",
        "del\u{7F}", "c1\u{9B}", "nel\u{85}here\n", "ls\u{2028}ps\u{2029}\n", "tabs\tin\na block\n",
    ]

    @Test(arguments: awkward)
    func aStringReadsBackAsItself(text: String) throws {
        let document = YAMLNode.mapping([("value", .string(text)), ("list", .sequence([.string(text)])), (text, .int(1))]).text
        let read = try #require(try Yams.load(yaml: document) as? [String: Any], "\(document)")
        #expect(read["value"] as? String == text, "\(document)")
        #expect((read["list"] as? [Any])?.first as? String == text, "\(document)")
        #expect(read[text] as? Int == 1, "\(document)")
    }

    @Test func nestedCollectionsKeepTheirOrderAndTypes() throws {
        let node = YAMLNode.mapping([
            ("z", .int(0)), ("a", .bool(false)),
            ("items", .sequence([.mapping([("name", .string("one")), ("more", .mapping([("deep", .sequence([.int(1), .int(2)]))]))]), .sequence([.string("x")])])),
            ("empty", .mapping([])), ("none", .sequence([])),
        ])
        let text = node.text
        #expect(text.hasPrefix("z: 0\na: false\nitems:\n- name: one\n  more:\n    deep:\n    - 1\n    - 2\n- - x\nempty: {}\nnone: []\n"), "\(text)")
        let read = try #require(try Yams.load(yaml: text) as? [String: Any])
        let items = try #require(read["items"] as? [Any])
        #expect(((items[0] as? [String: Any])?["more"] as? [String: Any])?["deep"] as? [Int] == [1, 2])
        #expect(items[1] as? [String] == ["x"])
        #expect((read["empty"] as? [String: Any])?.isEmpty == true)
    }
}
