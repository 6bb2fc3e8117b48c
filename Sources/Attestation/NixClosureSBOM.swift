import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One store path of a closure as `nix path-info -r --json` describes it.
public struct StorePathInfo: Sendable, Hashable {
    /// `/nix/store/HASH-NAME`.
    public let path: String
    /// The NAR's SHA-256, lowercase hex (nix prints it as SRI base64 or nix base32).
    public let narSHA256: String
    /// The NAR's size in bytes.
    public let narSize: Int64
    /// The store paths it refers to (itself excluded).
    public let references: [String]
    /// The derivation that built it, if nix knows.
    public let deriver: String?

    /// Creates a path's description.
    public init(path: String, narSHA256: String, narSize: Int64, references: [String], deriver: String?) {
        self.path = path
        self.narSHA256 = narSHA256
        self.narSize = narSize
        self.references = references.filter { $0 != path }
        self.deriver = deriver
    }

    /// The name part of the path (`hello-2.12` of `/nix/store/…-hello-2.12`).
    public var name: String {
        let base = path.split(separator: "/").last.map(String.init) ?? path
        guard let dash = base.firstIndex(of: "-") else { return base }
        return String(base[base.index(after: dash)...])
    }

    /// Reads `nix path-info --json` output: nix 2.8 prints an array of objects with `path`,
    /// newer nix an object keyed by path. Every path must carry its `narHash`.
    /// - Throws: `AttestationError` `.badStatement` if the JSON is not that.
    public static func parse(pathInfoJSON data: Data) throws -> [StorePathInfo] {
        var reader = PathInfoReader()
        var paths: [StorePathInfo] = []
        try data.withUnsafeBytes { try reader.feed($0) { paths.append($0) } }
        try reader.finish()
        return paths
    }

    /// Reads the `nix path-info --json` output in `file` a block at a time: memory holds one
    /// path's entry of the text, never the whole (a closure of thousands of paths is megabytes).
    /// - Throws: `AttestationError` `.badStatement` if the JSON is not that, `.io` if the file
    ///   cannot be read.
    public static func parse(pathInfoFile file: URL) throws -> [StorePathInfo] {
        let descriptor = open(file.path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw AttestationError(.io, "cannot read \(file.path) (errno \(errno))") }
        defer { close(descriptor) }
        var reader = PathInfoReader()
        var paths: [StorePathInfo] = []
        var block = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = block.withUnsafeMutableBytes { read(descriptor, $0.baseAddress!, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw AttestationError(.io, "cannot read \(file.path) (errno \(errno))") }
            if count == 0 { break }
            try block.withUnsafeBytes { try reader.feed(UnsafeRawBufferPointer(rebasing: $0[..<count])) { paths.append($0) } }
        }
        try reader.finish()
        return paths
    }

    /// `sha256-BASE64` (SRI), `sha256:BASE32` (nix's own alphabet) or `sha256:HEX` → hex.
    public static func narHashHex(_ text: String) -> String? {
        if text.hasPrefix("sha256-") {
            guard let bytes = Data(base64Encoded: String(text.dropFirst(7))), bytes.count == 32 else { return nil }
            return hexString(bytes)
        }
        guard text.hasPrefix("sha256:") else { return nil }
        let body = String(text.dropFirst(7))
        if body.count == 64, body.allSatisfy(\.isHexDigit) { return body.lowercased() }
        return nixBase32Decode(body, byteCount: 32).map(hexString)
    }

    /// Nix's base32: alphabet without e, o, u, t; the last character holds the lowest bits.
    static func nixBase32Decode(_ text: String, byteCount: Int) -> [UInt8]? {
        let alphabet = Array("0123456789abcdfghijklmnpqrsvwxyz".utf8)
        let characters = Array(text.utf8)
        guard characters.count == (byteCount * 8 + 4) / 5 else { return nil }
        var bytes = [UInt8](repeating: 0, count: byteCount)
        for n in 0..<characters.count {
            guard let digit = alphabet.firstIndex(of: characters[characters.count - 1 - n]) else { return nil }
            let bit = n * 5, index = bit / 8, shift = bit % 8
            bytes[index] |= UInt8(truncatingIfNeeded: digit << shift)
            let carry = digit >> (8 - shift)
            if index + 1 < byteCount {
                bytes[index + 1] |= UInt8(truncatingIfNeeded: carry)
            } else if carry != 0 {
                return nil
            }
        }
        return bytes
    }
}

/// A CycloneDX 1.5 bill of materials of a nix closure: every store path a component, with its
/// NAR hash, and the reference graph as `dependencies`.
public enum NixClosureSBOM {
    /// The SBOM's media type, as a provenance byproduct names it.
    public static let mediaType = "application/vnd.cyclonedx+json"

    /// The BOM of `closure` whose top is `root`, made by `toolVersion` of Sutradhar. The serial
    /// number is derived from the closure, so the same closure gives the same bytes.
    /// - Throws: `EncodingError` (never, for these types).
    public static func encode(root: String, closure: [StorePathInfo], toolVersion: String) throws -> Data {
        let sorted = closure.sorted { $0.path < $1.path }
        let known = Set(sorted.map(\.path))
        let components: [AttestedValue] = sorted.map { component($0) }
        let dependencies: [AttestedValue] = sorted.map { info in
            .object(["ref": .string(info.path),
                     "dependsOn": .array(info.references.filter(known.contains).sorted().map(AttestedValue.string))])
        }
        let top = sorted.first { $0.path == root }
        var metadata: [String: AttestedValue] = [
            "tools": .object(["components": .array([.object(["type": "application", "name": "sutradhar",
                                                             "version": .string(toolVersion)])])]),
        ]
        if let top {
            var main = component(top)
            if case .object(var fields) = main {
                fields["bom-ref"] = .string("root:" + top.path)
                fields["type"] = "container"
                main = .object(fields)
            }
            metadata["component"] = main
        }
        let bom: [String: AttestedValue] = [
            "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
            "serialNumber": .string(serial(of: sorted)),
            "metadata": .object(metadata),
            "components": .array(components),
            "dependencies": .array(dependencies),
        ]
        return try CanonicalJSON.encodePretty(bom)
    }

    private static func component(_ info: StorePathInfo) -> AttestedValue {
        var properties: [AttestedValue] = [
            .object(["name": "nix:store_path", "value": .string(info.path)]),
            .object(["name": "nix:nar_size", "value": .string(String(info.narSize))]),
        ]
        if let deriver = info.deriver {
            properties.append(.object(["name": "nix:deriver", "value": .string(deriver)]))
        }
        var fields: [String: AttestedValue] = [
            "type": "library", "bom-ref": .string(info.path), "name": .string(info.name),
            "hashes": .array([.object(["alg": "SHA-256", "content": .string(info.narSHA256)])]),
            "properties": .array(properties),
        ]
        if let version = version(of: info.name) { fields["version"] = .string(version) }
        return .object(fields)
    }

    /// nix's convention: the version starts at the first `-` followed by a digit.
    static func version(of name: String) -> String? {
        let characters = Array(name)
        for index in characters.indices.dropLast() where characters[index] == "-" && characters[index + 1].isNumber {
            return String(characters[(index + 1)...])
        }
        return nil
    }

    /// `urn:uuid:` of a version-4-shaped UUID taken from the closure's digest.
    private static func serial(of closure: [StorePathInfo]) -> String {
        let digest = sha256Hex(Array(closure.map { "\($0.path) \($0.narSHA256)\n" }.joined().utf8))
        var hex = Array(digest.prefix(32))
        hex[12] = "4"
        hex[16] = "8"
        let text = String(hex)
        let parts = [text.prefix(8), text.dropFirst(8).prefix(4), text.dropFirst(12).prefix(4),
                     text.dropFirst(16).prefix(4), text.dropFirst(20)]
        return "urn:uuid:" + parts.joined(separator: "-")
    }
}

/// Splits `nix path-info --json` text, fed in blocks of any size, into its entries and decodes
/// each on its own: the top level is an array of objects with `path` (nix 2.8) or an object
/// keyed by path (newer nix). Only the entry being read is held.
struct PathInfoReader {
    /// The largest one entry may be (a path with tens of thousands of references is ~2 MiB).
    static let maximumEntrySize = 16 << 20

    private enum Top { case unknown, array, object, done }
    private var top = Top.unknown
    /// Depth of `{`/`[` outside strings: 1 is inside the top level.
    private var depth = 0
    private var inString = false
    private var escaped = false
    /// The key (object form) being read or last read, as raw JSON string bytes.
    private var key: [UInt8] = []
    private var readingKey = false
    /// The entry being read, from its `{`.
    private var entry: [UInt8] = []
    private var readingEntry = false
    private var entries = 0

    private struct Entry: Decodable {
        var path: String?
        var narHash: String?
        var narSize: Int64?
        var references: [String]?
        var deriver: String?
    }

    private static func fail(_ why: String) -> AttestationError {
        AttestationError(.badStatement, "nix path-info printed something other than its JSON list of paths: \(why)")
    }

    mutating func feed(_ bytes: UnsafeRawBufferPointer, _ found: (StorePathInfo) -> Void) throws {
        for byte in bytes {
            if readingEntry {
                entry.append(byte)
                guard entry.count <= Self.maximumEntrySize else { throw Self.fail("an entry is over \(Self.maximumEntrySize >> 20) MiB") }
            } else if readingKey {
                key.append(byte)
            }
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") {
                    inString = false
                    if readingKey { readingKey = false }
                }
                continue
            }
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                continue
            case UInt8(ascii: "\""):
                inString = true
                if depth == 1 && top == .object && !readingEntry {
                    key = [byte]
                    readingKey = true
                } else if depth == 1 && !readingEntry {
                    throw Self.fail("an entry is not an object")
                }
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                if depth == 0 {
                    guard top == .unknown else { throw Self.fail("more than one value") }
                    top = byte == UInt8(ascii: "[") ? .array : .object
                } else if depth == 1 {
                    guard byte == UInt8(ascii: "{") else { throw Self.fail("an entry is not an object") }
                    guard top == .array || !key.isEmpty else { throw Self.fail("an entry has no path") }
                    readingEntry = true
                    entry = [byte]
                }
                depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                guard depth >= 0 else { throw Self.fail("unbalanced brackets") }
                if depth == 0 { top = .done }
                if depth == 1 && readingEntry {
                    readingEntry = false
                    found(try decodeEntry())
                    key = []
                }
            case UInt8(ascii: ":"), UInt8(ascii: ","):
                continue
            default:
                // A bare value (null, a number) where an entry belongs: nix's "invalid path".
                if depth <= 1 { throw Self.fail(depth == 0 ? "not JSON" : "an entry is not an object") }
            }
        }
    }

    /// - Throws: `AttestationError` `.badStatement` if the text ended inside a value.
    func finish() throws {
        guard top == .done, depth == 0 else { throw Self.fail(top == .unknown ? "no JSON" : "the text ends inside it") }
    }

    private mutating func decodeEntry() throws -> StorePathInfo {
        entries += 1
        guard let decoded = try? JSONDecoder().decode(Entry.self, from: Data(entry)) else { throw Self.fail("entry \(entries) does not read") }
        let path: String
        if top == .object {
            guard let name = try? JSONDecoder().decode([String].self, from: Data([UInt8(ascii: "[")] + key + [UInt8(ascii: "]")])).first else { throw Self.fail("entry \(entries) has no path") }
            path = name
        } else {
            path = decoded.path ?? ""
        }
        entry = []
        guard path.hasPrefix("/"), let hash = decoded.narHash, let hex = StorePathInfo.narHashHex(hash) else {
            throw AttestationError(.badStatement, "nix path-info gave no usable path and narHash for '\(path.prefix(200))'")
        }
        return StorePathInfo(path: path, narSHA256: hex, narSize: decoded.narSize ?? 0,
                             references: decoded.references ?? [], deriver: decoded.deriver)
    }
}
