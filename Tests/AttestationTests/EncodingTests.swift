import Attestation
import Foundation
import Testing

/// The encoders against the byte strings their specifications give, and tampering against verification.
@Suite struct EncodingTests {
    /// A fixed key (RFC 8032 test 1's secret), so that the PEM and the key ID are known bytes.
    static let rfc8032Seed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
    static func fixedKey() throws -> SigningKey {
        let seed = Data(stride(from: 0, to: rfc8032Seed.count, by: 2).map { offset -> UInt8 in
            let start = rfc8032Seed.index(rfc8032Seed.startIndex, offsetBy: offset)
            return UInt8(rfc8032Seed[start..<rfc8032Seed.index(start, offsetBy: 2)], radix: 16)!
        })
        let der = Data([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]) + seed
        let pem = "-----BEGIN PRIVATE KEY-----\n\(der.base64EncodedString())\n-----END PRIVATE KEY-----\n"
        return try SigningKey(pkcs8PEM: pem)
    }

    @Test func preAuthenticationEncodingMatchesTheDSSESpecificationExample() {
        // DSSE protocol.md: PAE("http://example.com/HelloWorld", "hello world").
        let bytes = Envelope.preAuthenticationEncoding(payloadType: "http://example.com/HelloWorld", payload: Array("hello world".utf8))
        #expect(String(decoding: bytes, as: UTF8.self) == "DSSEv1 29 http://example.com/HelloWorld 11 hello world")
    }

    @Test func preAuthenticationEncodingCountsBytesNotCharacters() {
        let bytes = Envelope.preAuthenticationEncoding(payloadType: "t", payload: Array("é".utf8))
        #expect(String(decoding: bytes, as: UTF8.self) == "DSSEv1 1 t 2 é")
    }

    @Test func publicKeyPEMIsTheRFC8410SubjectPublicKeyInfo() throws {
        let key = try Self.fixedKey()
        // RFC 8032 test 1's public key, d75a9801…, after the fixed SPKI header.
        #expect(key.publicKey.pem == """
            -----BEGIN PUBLIC KEY-----
            MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=
            -----END PUBLIC KEY-----

            """)
        #expect(try VerifyingKey(pem: key.publicKey.pem) == key.publicKey)
        #expect(key.keyID.count == 64)
        #expect(key.keyID == sha256Hex(Data(base64Encoded: "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")!))
    }

    @Test func privateKeyRoundTripsThroughPKCS8() throws {
        let key = SigningKey.generate()
        let again = try SigningKey(pkcs8PEM: key.pkcs8PEM)
        #expect(again.publicKey == key.publicKey)
        #expect(key.pkcs8PEM.hasPrefix("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI"))
    }

    @Test func printingOrDumpingAKeyShowsOnlyItsID() throws {
        let key = try Self.fixedKey()
        var dumped = ""
        dump(key, to: &dumped)
        for text in ["\(key)", String(reflecting: key), dumped, "\([key])"] {
            #expect(text.contains(key.keyID), "\(text)")
            #expect(!text.contains("9d61b1") && !text.contains("nWGxne"), "the secret is in: \(text)")
        }
    }

    @Test func aPublicKeyIsRefusedAsAPrivateKeyWithAClearError() throws {
        let key = SigningKey.generate()
        let error = #expect(throws: AttestationError.self) { try SigningKey(pkcs8PEM: key.publicKey.pem) }
        #expect(error?.code == .badKey)
        #expect(error?.message.contains("BEGIN PRIVATE KEY") == true)
    }

    @Test func statementJSONHasSortedKeysAndIsStable() throws {
        let statement = Self.sampleStatement()
        let first = try CanonicalJSON.encode(statement), second = try CanonicalJSON.encode(statement)
        #expect(first == second)
        let text = String(decoding: first, as: UTF8.self)
        #expect(text.hasPrefix(#"{"_type":"https://in-toto.io/Statement/v1","predicate":{"buildDefinition":{"buildType":"https://sutradhar.dev/attestations/stage-build/v1""#))
        #expect(!text.contains("\\/"))
    }

    @Test func aSignedEnvelopeVerifiesWithItsKeyAndNotAnother() throws {
        let key = SigningKey.generate()
        let data = try CanonicalJSON.encode(Envelope.sign(Self.sampleStatement(), with: key))
        let verified = try AttestationVerifier.verify(data, with: key.publicKey)
        #expect(verified.subjectImageIDs == ["sha256:" + String(repeating: "ab", count: 32)])
        #expect(verified.keyID == key.keyID)
        let other = SigningKey.generate()
        let error = #expect(throws: AttestationError.self) { try AttestationVerifier.verify(data, with: other.publicKey) }
        #expect(error?.code == .badSignature)
    }

    @Test func aFlippedByteAnywhereInThePayloadFailsVerification() throws {
        let key = SigningKey.generate()
        let envelope = try Envelope.sign(Self.sampleStatement(), with: key)
        var payload = try envelope.payloadBytes()
        for index in stride(from: 0, to: payload.count, by: max(1, payload.count / 40)) {
            payload[index] ^= 0x01
            let tampered = Envelope(payload: payload.base64EncodedString(), payloadType: envelope.payloadType, signatures: envelope.signatures)
            #expect(throws: AttestationError.self) { try tampered.verifiedPayload(with: key.publicKey) }
            payload[index] ^= 0x01
        }
        #expect(try envelope.verifiedPayload(with: key.publicKey) == payload)
    }

    @Test func aFlippedSignatureByteOrPayloadTypeFailsVerification() throws {
        let key = SigningKey.generate()
        let envelope = try Envelope.sign(Self.sampleStatement(), with: key)
        var signature = Data(base64Encoded: envelope.signatures[0].sig)!
        signature[10] ^= 0x80
        let badSignature = Envelope(payload: envelope.payload, payloadType: envelope.payloadType,
                                    signatures: [.init(keyid: key.keyID, sig: signature.base64EncodedString())])
        #expect(throws: AttestationError.self) { try badSignature.verifiedPayload(with: key.publicKey) }
        let badType = Envelope(payload: envelope.payload, payloadType: "application/vnd.in-toto+jsoN", signatures: envelope.signatures)
        #expect(throws: AttestationError.self) { try badType.verifiedPayload(with: key.publicKey) }
    }

    @Test func aStatementWithoutSubjectDigestIsRefused() throws {
        let key = SigningKey.generate()
        let statement = Statement(subject: [ResourceDescriptor(name: "image")], predicateType: Provenance.predicateType,
                                  predicate: Self.sampleStatement().predicate)
        let data = try CanonicalJSON.encode(Envelope.sign(statement, with: key))
        let error = #expect(throws: AttestationError.self) { try AttestationVerifier.verify(data, with: key.publicKey) }
        #expect(error?.code == .badStatement)
        #expect(error?.message.contains("without a digest") == true)
    }

    @Test func notAnEnvelopeSaysWhatIsMissing() {
        let error = #expect(throws: AttestationError.self) {
            try AttestationVerifier.verify(Data(#"{"payloadType":"x"}"#.utf8), with: SigningKey.generate().publicKey)
        }
        #expect(error?.code == .malformedEnvelope)
        #expect(error?.message.contains("'payload'") == true)
    }

    static func sampleStatement() -> Statement<Provenance> {
        Statement(
            subject: [ResourceDescriptor(name: "hello:latest", digest: ["sha256": String(repeating: "ab", count: 32)])],
            predicateType: Provenance.predicateType,
            predicate: Provenance(
                buildDefinition: .init(externalParameters: ["pipeline": "hello", "stage": "image"],
                                       resolvedDependencies: [ResourceDescriptor(uri: "git+file:///repo", digest: ["gitCommit": "0123"])]),
                runDetails: .init(builder: .init(id: "https://sutradhar.dev/builder/host"),
                                  metadata: .init(invocationId: "20261207-000000-abcd", startedOn: nil, finishedOn: nil))))
    }
}
