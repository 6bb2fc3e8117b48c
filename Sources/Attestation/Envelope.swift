import Crypto
import Foundation

/// A DSSE envelope: a payload, its type, and signatures over both.
/// <https://github.com/secure-systems-lab/dsse/blob/master/envelope.md>
public struct Envelope: Codable, Sendable, Equatable {
    /// The payload, base64 (standard alphabet, padded).
    public let payload: String
    /// What the payload is (`application/vnd.in-toto+json`).
    public let payloadType: String
    /// The signatures.
    public let signatures: [Signature]

    /// One signature: the key's ID and the Ed25519 signature of the PAE, base64.
    public struct Signature: Codable, Sendable, Equatable {
        /// The signing key's ID (`SigningKey.keyID`).
        public let keyid: String
        /// The signature, base64.
        public let sig: String

        /// Creates a signature entry.
        public init(keyid: String, sig: String) {
            self.keyid = keyid
            self.sig = sig
        }
    }

    /// Creates an envelope (`sign` makes signed ones).
    public init(payload: String, payloadType: String, signatures: [Signature]) {
        self.payload = payload
        self.payloadType = payloadType
        self.signatures = signatures
    }

    /// DSSE's pre-authentication encoding, the bytes actually signed:
    /// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths as ASCII decimal.
    public static func preAuthenticationEncoding(payloadType: String, payload: some Collection<UInt8>) -> [UInt8] {
        let type = Array(payloadType.utf8)
        var bytes = Array("DSSEv1 \(type.count) ".utf8)
        bytes += type
        bytes += Array(" \(payload.count) ".utf8)
        bytes += payload
        return bytes
    }

    /// Signs `payload` of `payloadType` with `key`.
    /// - Throws: `AttestationError` `.badKey` if the signature cannot be made.
    public static func sign(payload: Data, payloadType: String, with key: SigningKey) throws -> Envelope {
        let signature = try key.sign(preAuthenticationEncoding(payloadType: payloadType, payload: payload))
        return Envelope(payload: payload.base64EncodedString(), payloadType: payloadType,
                        signatures: [Signature(keyid: key.keyID, sig: signature.base64EncodedString())])
    }

    /// Signs `statement` (canonical JSON) as an in-toto envelope.
    /// - Throws: `AttestationError` `.badKey`, or `EncodingError`.
    public static func sign<Predicate>(_ statement: Statement<Predicate>, with key: SigningKey) throws -> Envelope {
        try sign(payload: CanonicalJSON.encode(statement), payloadType: Statement<Predicate>.payloadType, with: key)
    }

    /// The decoded payload.
    /// - Throws: `AttestationError` `.malformedEnvelope` if it is not base64.
    public func payloadBytes() throws -> Data {
        guard let data = Self.canonicalBase64(payload) else {
            throw AttestationError(.malformedEnvelope, "the envelope's payload is not base64")
        }
        return data
    }

    /// Decodes base64 only in the one form `sign` writes: a changed character that a lenient
    /// decoder would drop (the unused low bits of the last one) must not pass as unchanged.
    static func canonicalBase64(_ text: String) -> Data? {
        guard let data = Data(base64Encoded: text), data.base64EncodedString() == text else { return nil }
        return data
    }

    /// Checks that a signature by `key` covers this envelope's payload and type, and returns the
    /// payload. A signature under another key ID is not tried; one under this ID must verify.
    /// - Throws: `AttestationError` `.badSignature` naming why (no signature by the key, or one
    ///   that does not verify), `.malformedEnvelope` if the payload or signature is not base64.
    public func verifiedPayload(with key: VerifyingKey) throws -> Data {
        let payload = try payloadBytes()
        let mine = signatures.filter { $0.keyid == key.keyID || $0.keyid.isEmpty }
        guard !mine.isEmpty else {
            let ids = signatures.map(\.keyid).joined(separator: ", ")
            throw AttestationError(.badSignature, "the envelope has no signature by key \(key.keyID) (it is signed by \(ids.isEmpty ? "nobody" : ids))")
        }
        let message = Self.preAuthenticationEncoding(payloadType: payloadType, payload: payload)
        for signature in mine {
            guard let bytes = Self.canonicalBase64(signature.sig) else {
                throw AttestationError(.malformedEnvelope, "the envelope's signature is not base64")
            }
            if key.isValidSignature(bytes, for: message) { return payload }
        }
        throw AttestationError(.badSignature, "the signature by key \(key.keyID) does not match the envelope: its payload or type was changed, or it was signed by another key")
    }

    /// Reads an envelope from JSON.
    /// - Throws: `AttestationError` `.malformedEnvelope` saying what is missing.
    public static func decode(_ data: Data) throws -> Envelope {
        do {
            return try JSONDecoder().decode(Envelope.self, from: data)
        } catch {
            throw AttestationError(.malformedEnvelope, "not a DSSE envelope (JSON with payload, payloadType and signatures): \(Self.describe(error))")
        }
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "no '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "'\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type"
        case DecodingError.dataCorrupted: return "the file is not JSON"
        default: return "\(error)"
        }
    }
}
