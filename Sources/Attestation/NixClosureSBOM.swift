import Foundation

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
        struct Entry: Decodable {
            var path: String?
            var narHash: String?
            var narSize: Int64?
            var references: [String]?
            var deriver: String?
        }
        let entries: [(String, Entry)]
        if let list = try? JSONDecoder().decode([Entry].self, from: data) {
            entries = list.map { ($0.path ?? "", $0) }
        } else if let map = try? JSONDecoder().decode([String: Entry].self, from: data) {
            entries = map.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        } else {
            throw AttestationError(.badStatement, "nix path-info printed something other than its JSON list of paths")
        }
        return try entries.map { path, entry in
            guard path.hasPrefix("/"), let hash = entry.narHash, let hex = narHashHex(hash) else {
                throw AttestationError(.badStatement, "nix path-info gave no usable path and narHash for '\(path)'")
            }
            return StorePathInfo(path: path, narSHA256: hex, narSize: entry.narSize ?? 0,
                                 references: entry.references ?? [], deriver: entry.deriver)
        }
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
