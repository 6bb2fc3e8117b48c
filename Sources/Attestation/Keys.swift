import Crypto
import Foundation

/// An Ed25519 private key that signs envelopes. Its bytes stay in this process: nothing here
/// logs, encodes or hands them to anything but the key file and the signer, and printing one
/// (or dumping it, or interpolating it into an error) shows only its key ID.
public struct SigningKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let key: Curve25519.Signing.PrivateKey
    /// The public half.
    public let publicKey: VerifyingKey

    /// Wraps a private key.
    public init(_ key: Curve25519.Signing.PrivateKey) {
        self.key = key
        publicKey = VerifyingKey(key.publicKey)
    }

    /// A fresh random key.
    public static func generate() -> SigningKey { SigningKey(Curve25519.Signing.PrivateKey()) }

    /// The key's ID: its public key's (`VerifyingKey.keyID`).
    public var keyID: String { publicKey.keyID }

    public var description: String { "SigningKey(keyID: \(keyID))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["keyID": keyID]) }

    /// Signs `message`.
    /// - Throws: `AttestationError` `.badKey` if the crypto library refuses.
    public func sign(_ message: [UInt8]) throws -> Data {
        do {
            return try key.signature(for: message)
        } catch {
            throw AttestationError(.badKey, "cannot sign with the Ed25519 key: \(error)")
        }
    }

    /// The key as PKCS#8 PEM (`BEGIN PRIVATE KEY`), the form OpenSSL and Python's cryptography read.
    public var pkcs8PEM: String {
        PEM.encode(DER.pkcs8Prefix + Array(key.rawRepresentation), label: "PRIVATE KEY")
    }

    /// Reads a PKCS#8 PEM Ed25519 private key (what `openssl genpkey -algorithm ed25519` writes).
    /// - Throws: `AttestationError` `.badKey` saying what the text is instead.
    public init(pkcs8PEM text: String) throws {
        let der = try PEM.decode(text, label: "PRIVATE KEY")
        guard der.count == DER.pkcs8Prefix.count + 32, Array(der.prefix(DER.pkcs8Prefix.count)) == DER.pkcs8Prefix else {
            throw AttestationError(.badKey, "the private key is not an Ed25519 key in PKCS#8 form (make one with 'openssl genpkey -algorithm ed25519')")
        }
        do {
            self.init(try Curve25519.Signing.PrivateKey(rawRepresentation: der.suffix(32)))
        } catch {
            throw AttestationError(.badKey, "the private key's 32 bytes are not an Ed25519 key: \(error)")
        }
    }
}

/// An Ed25519 public key that verifies envelopes, exported as PEM SubjectPublicKeyInfo.
public struct VerifyingKey: Sendable, Equatable {
    private let key: Curve25519.Signing.PublicKey

    /// Wraps a public key.
    public init(_ key: Curve25519.Signing.PublicKey) { self.key = key }

    public static func == (lhs: VerifyingKey, rhs: VerifyingKey) -> Bool { lhs.key.rawRepresentation == rhs.key.rawRepresentation }

    /// The SubjectPublicKeyInfo DER: the standard encoding every verifier reads.
    public var spkiDER: [UInt8] { DER.spkiPrefix + Array(key.rawRepresentation) }

    /// The key's ID: SHA-256 of its SubjectPublicKeyInfo DER, lowercase hex.
    public var keyID: String { sha256Hex(spkiDER) }

    /// The key as PEM (`BEGIN PUBLIC KEY`).
    public var pem: String { PEM.encode(spkiDER, label: "PUBLIC KEY") }

    /// Reads a PEM SubjectPublicKeyInfo Ed25519 public key.
    /// - Throws: `AttestationError` `.badKey` if it is not one.
    public init(pem text: String) throws {
        let der = try PEM.decode(text, label: "PUBLIC KEY")
        guard der.count == DER.spkiPrefix.count + 32, Array(der.prefix(DER.spkiPrefix.count)) == DER.spkiPrefix else {
            throw AttestationError(.badKey, "the public key is not an Ed25519 SubjectPublicKeyInfo (expected the PEM 'sutradhar attest public-key' prints)")
        }
        do {
            self.init(try Curve25519.Signing.PublicKey(rawRepresentation: der.suffix(32)))
        } catch {
            throw AttestationError(.badKey, "the public key's 32 bytes are not an Ed25519 key: \(error)")
        }
    }

    /// Whether `signature` is this key's over `message`.
    public func isValidSignature(_ signature: Data, for message: [UInt8]) -> Bool {
        key.isValidSignature(signature, for: message)
    }
}

/// The fixed DER headers of Ed25519 keys (RFC 8410): the algorithm never varies, so the
/// encodings are a constant prefix and the 32 key bytes.
enum DER {
    /// SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING (0 unused bits) … }
    static let spkiPrefix: [UInt8] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]
    /// SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING … } }
    static let pkcs8Prefix: [UInt8] = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70,
                                       0x04, 0x22, 0x04, 0x20]
}

/// PEM armour: base64 of DER in lines of 64 between BEGIN and END lines.
enum PEM {
    static func encode(_ der: [UInt8], label: String) -> String {
        let base64 = Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        return "-----BEGIN \(label)-----\n\(base64)\n-----END \(label)-----\n"
    }

    static func decode(_ text: String, label: String) throws -> [UInt8] {
        let begin = "-----BEGIN \(label)-----", end = "-----END \(label)-----"
        guard let start = text.range(of: begin), let stop = text.range(of: end, range: start.upperBound..<text.endIndex) else {
            throw AttestationError(.badKey, "no '\(begin)' … '\(end)' block in the key text")
        }
        let body = text[start.upperBound..<stop.lowerBound].filter { !$0.isWhitespace }
        guard let der = Data(base64Encoded: String(body)) else {
            throw AttestationError(.badKey, "the \(label.lowercased()) block is not base64")
        }
        return Array(der)
    }
}
