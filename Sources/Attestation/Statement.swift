import Crypto
import Foundation

/// An in-toto Statement v1: what is attested (`subject`) and the claim about it (`predicate`).
/// <https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md>
public struct Statement<Predicate: Codable & Sendable>: Codable, Sendable {
    /// The statement type every v1 statement names.
    public static var type: String { "https://in-toto.io/Statement/v1" }
    /// The DSSE payload type of a statement.
    public static var payloadType: String { "application/vnd.in-toto+json" }

    /// Always `Statement.type`.
    public let _type: String
    /// The artefacts the claim is about, each with at least one digest.
    public let subject: [ResourceDescriptor]
    /// The URI naming the predicate's schema.
    public let predicateType: String
    /// The claim.
    public let predicate: Predicate

    /// Creates a statement about `subject`.
    public init(subject: [ResourceDescriptor], predicateType: String, predicate: Predicate) {
        _type = Self.type
        self.subject = subject
        self.predicateType = predicateType
        self.predicate = predicate
    }
}

/// An artefact named by digest, URI or both: a statement's subject, a dependency, a byproduct.
/// <https://github.com/in-toto/attestation/blob/main/spec/v1/resource_descriptor.md>
public struct ResourceDescriptor: Codable, Sendable, Hashable {
    /// A name for people (an image reference, a store path, a file).
    public var name: String?
    /// Where it lives (`git+https://…`, `file:…`).
    public var uri: String?
    /// Algorithm → lowercase hex (or, for `gitCommit`, the commit ID).
    public var digest: [String: String]?
    /// A media type, when known.
    public var mediaType: String?
    /// Anything else worth saying about it.
    public var annotations: [String: AttestedValue]?

    /// Creates a descriptor; at least one of `uri` and `digest` must be set for it to be valid.
    public init(name: String? = nil, uri: String? = nil, digest: [String: String]? = nil,
                mediaType: String? = nil, annotations: [String: AttestedValue]? = nil) {
        self.name = name
        self.uri = uri
        self.digest = digest
        self.mediaType = mediaType
        self.annotations = annotations
    }

    /// The descriptor in one line for people: `NAME ALG:DIGEST …`, digests sorted by algorithm.
    public var summary: String {
        ([name].compactMap { $0 } + (digest?.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" } ?? []))
            .joined(separator: " ")
    }

    /// `sha256:HEX` (a Docker image ID) → `["sha256": HEX]`; anything else is kept whole under
    /// its algorithm name when it has one.
    public static func digest(fromPrefixed text: String) -> [String: String] {
        guard let colon = text.firstIndex(of: ":") else { return ["sha256": text] }
        return [String(text[..<colon]): String(text[text.index(after: colon)...])]
    }
}

/// The type-erased view of a statement that a verifier reads before it knows the predicate.
public struct AnyStatement: Codable, Sendable {
    /// The statement type.
    public let _type: String
    /// The subjects.
    public let subject: [ResourceDescriptor]
    /// The predicate's URI.
    public let predicateType: String
    /// The predicate as JSON.
    public let predicate: AttestedValue
}

/// SHA-256 of bytes as lowercase hex: every digest written here.
public func sha256Hex(_ data: some DataProtocol) -> String {
    hexString(SHA256.hash(data: data))
}

/// Bytes as lowercase hex.
public func hexString(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var text: [UInt8] = []
    for byte in bytes {
        text.append(digits[Int(byte >> 4)])
        text.append(digits[Int(byte & 0x0f)])
    }
    return String(decoding: text, as: UTF8.self)
}
