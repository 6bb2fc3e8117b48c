@testable import Attestation
import Foundation
import Testing

/// `nix path-info -r --json` of a closure far larger than a pipe buffer: read a block at a time
/// from a file, in both shapes nix prints, with the same answer as reading it whole.
@Suite struct LargeClosureTests {
    static let hash = "sha256-ZLVUAEL/65QVt3vLmq/H5PXBlfMTttrl6pPWc0AZNas="

    /// A fake closure of `count` paths, each referring to the next ten (nix 2.8's list shape, or
    /// the newer object keyed by path), with strings that need escaping inside entries.
    static func pathInfo(count: Int, keyedByPath: Bool) -> Data {
        var text = keyedByPath ? "{" : "[\n"
        for index in 0..<count {
            let path = "/nix/store/\(String(format: "%032d", index))-package-\(index).\(index % 7)"
            let references = (index..<min(count, index + 10)).map { "\"/nix/store/\(String(format: "%032d", $0))-package-\($0).\($0 % 7)\"" }
            let fields = "\"narHash\":\"\(hash)\",\"narSize\":\(index * 4096),\"references\":[\(references.joined(separator: ","))],"
                + "\"deriver\":\"/nix/store/\(String(format: "%032d", index))-package.drv\",\"signatures\":[\"cache-1:a\\\"b}{]\"]"
            text += (index > 0 ? ",\n" : "") + (keyedByPath ? "\"\(path)\": {\(fields)}" : "  {\"path\":\"\(path)\",\(fields)}")
        }
        return Data((text + (keyedByPath ? "}" : "\n]")).utf8)
    }

    static func write(_ data: Data) throws -> URL {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("path-info-\(UUID().uuidString).json")
        try data.write(to: file)
        return file
    }

    @Test(arguments: [false, true])
    func aClosureOverSeveralMiBIsReadFromItsFileWhole(keyedByPath: Bool) throws {
        let data = Self.pathInfo(count: 6_000, keyedByPath: keyedByPath)
        #expect(data.count > 4 << 20, "the fake closure must be larger than the 1 MiB nix's stdout was once cut at")
        let file = try Self.write(data)
        defer { try? FileManager.default.removeItem(at: file) }
        let streamed = try StorePathInfo.parse(pathInfoFile: file)
        #expect(streamed.count == 6_000)
        #expect(Set(streamed) == Set(try StorePathInfo.parse(pathInfoJSON: data)))
        let last = try #require(streamed.first { $0.path.hasSuffix("-package-5999.0") })
        #expect(last.narSize == 5_999 * 4096 && last.references.isEmpty && last.deriver?.hasSuffix("package.drv") == true)
        let first = try #require(streamed.first { $0.path.hasSuffix("-package-0.0") })
        #expect(first.references.count == 9, "itself is not a reference")
        let bom = try NixClosureSBOM.encode(root: first.path, closure: streamed, toolVersion: "test")
        let components = try #require((try JSONSerialization.jsonObject(with: bom) as? [String: Any])?["components"] as? [Any])
        #expect(components.count == 6_000)
    }

    @Test func blocksSplitAnywhereGiveTheSameEntries() throws {
        // Block boundaries inside strings, escapes and keys: every split of a small closure reads the same.
        let data = Self.pathInfo(count: 3, keyedByPath: true)
        let whole = try StorePathInfo.parse(pathInfoJSON: data)
        for split in 1..<data.count {
            var reader = PathInfoReader()
            var found: [StorePathInfo] = []
            for part in [data.prefix(split), data.dropFirst(split)] {
                try Data(part).withUnsafeBytes { try reader.feed($0) { found.append($0) } }
            }
            try reader.finish()
            #expect(found == whole, "split at \(split)")
        }
    }

    @Test(arguments: [
        ("", "no JSON"),
        ("[{\"path\":\"/nix/store/a\",\"narHash\":\"\(hash)\"}", "ends inside"),
        ("{\"/nix/store/a\": null}", "not an object"),
        ("[\"/nix/store/a\"]", "not an object"),
        ("[{\"path\":\"/nix/store/a\"}]", "no usable path and narHash"),
        ("[] []", "more than one value"),
        ("[]]", "unbalanced"),
    ])
    func brokenPathInfoIsRefusedWithAReason(text: String, reason: String) throws {
        let file = try Self.write(Data(text.utf8))
        defer { try? FileManager.default.removeItem(at: file) }
        let error = #expect(throws: AttestationError.self) { try StorePathInfo.parse(pathInfoFile: file) }
        #expect(error?.message.contains(reason) == true, "\(error?.message ?? "")")
    }

    @Test func anUnreadableFileIsAnIOError() {
        let error = #expect(throws: AttestationError.self) {
            try StorePathInfo.parse(pathInfoFile: URL(fileURLWithPath: "/nonexistent/path-info.json"))
        }
        #expect(error?.code == .io)
    }
}
