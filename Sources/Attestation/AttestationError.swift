/// Why an attestation could not be made, read or trusted: a code a caller can branch on and a
/// message that says what failed and what to do.
public struct AttestationError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate let name: String
        /// A key file is missing, unreadable, of another algorithm, or too open (not 0600).
        public static let badKey = Code(name: "bad-key")
        /// A file is not a DSSE envelope (not JSON, no payload, payload not base64).
        public static let malformedEnvelope = Code(name: "malformed-envelope")
        /// No signature of the envelope verifies with the given key.
        public static let badSignature = Code(name: "bad-signature")
        /// The payload is not an in-toto Statement v1 of a predicate this build knows.
        public static let badStatement = Code(name: "bad-statement")
        /// The image in the daemon is not the statement's subject.
        public static let subjectMismatch = Code(name: "subject-mismatch")
        /// Writing or reading a file failed.
        public static let io = Code(name: "io")
        public var description: String { name }
    }

    /// What kind of failure this is.
    public let code: Code
    /// What failed and what to do.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
