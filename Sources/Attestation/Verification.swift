import Foundation

/// What `verify` found in an envelope whose signature and shape hold.
public struct VerifiedAttestation: Sendable {
    /// The statement.
    public let statement: AnyStatement
    /// The ID of the key that signed it.
    public let keyID: String

    /// The subjects' `sha256` digests, as Docker writes image IDs (`sha256:HEX`).
    public var subjectImageIDs: [String] {
        statement.subject.compactMap { $0.digest?["sha256"].map { "sha256:" + $0 } }
    }
}

/// Checks envelopes offline: the signature by a given key, then the statement's shape.
public enum AttestationVerifier {
    /// Verifies `envelopeData` with `key`.
    /// - Throws: `AttestationError` `.malformedEnvelope`, `.badSignature` or `.badStatement`, each
    ///   saying what does not hold.
    public static func verify(_ envelopeData: Data, with key: VerifyingKey) throws -> VerifiedAttestation {
        let envelope = try Envelope.decode(envelopeData)
        guard envelope.payloadType == Statement<AttestedValue>.payloadType else {
            throw AttestationError(.badStatement, "the payload type is '\(envelope.payloadType)', not \(Statement<AttestedValue>.payloadType)")
        }
        let payload = try envelope.verifiedPayload(with: key)
        let statement: AnyStatement
        do {
            statement = try JSONDecoder().decode(AnyStatement.self, from: payload)
        } catch {
            throw AttestationError(.badStatement, "the signed payload is not an in-toto statement (_type, subject, predicateType, predicate)")
        }
        try checkShape(statement)
        return VerifiedAttestation(statement: statement, keyID: key.keyID)
    }

    /// The shape checks of an in-toto Statement v1 and of the two predicates written here.
    /// - Throws: `AttestationError` `.badStatement` naming the first field that is wrong.
    public static func checkShape(_ statement: AnyStatement) throws {
        func fail(_ why: String) -> AttestationError { AttestationError(.badStatement, "the statement \(why)") }
        guard statement._type == Statement<AttestedValue>.type else { throw fail("has _type '\(statement._type)', not \(Statement<AttestedValue>.type)") }
        guard !statement.subject.isEmpty else { throw fail("has no subject") }
        for subject in statement.subject {
            guard let digest = subject.digest, !digest.isEmpty,
                  digest.allSatisfy({ !$0.key.isEmpty && !$0.value.isEmpty }) else {
                throw fail("names a subject without a digest (\(subject.name ?? "unnamed"))")
            }
            if let sha = digest["sha256"], sha.count != 64 || !sha.allSatisfy(\.isHexDigit) {
                throw fail("has a subject whose sha256 is not 64 hex digits")
            }
        }
        guard case .object(let predicate) = statement.predicate else { throw fail("has a predicate that is not an object") }
        switch statement.predicateType {
        case Provenance.predicateType:
            guard case .object(let definition)? = predicate["buildDefinition"],
                  definition["buildType"]?.stringValue?.isEmpty == false,
                  case .object? = definition["externalParameters"] else {
                throw fail("is SLSA provenance without buildDefinition.buildType and externalParameters")
            }
            guard case .object(let details)? = predicate["runDetails"], case .object(let builder)? = details["builder"],
                  builder["id"]?.stringValue?.isEmpty == false else {
                throw fail("is SLSA provenance without runDetails.builder.id")
            }
        case TestResult.predicateType:
            guard let result = predicate["result"]?.stringValue, ["PASSED", "WARNED", "FAILED"].contains(result) else {
                throw fail("is a test result whose result is not PASSED, WARNED or FAILED")
            }
            guard case .array? = predicate["configuration"] else { throw fail("is a test result without configuration") }
        default:
            throw fail("has predicate type '\(statement.predicateType)', which this build does not check")
        }
    }
}
