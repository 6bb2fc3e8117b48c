import Attestation
import Foundation
import Testing

/// The `.intoto.jsonl` bundle a push beside a binary cache keeps per image.
@Suite struct BundleTests {
    static func envelope(_ text: String) throws -> Data {
        try CanonicalJSON.encode(Envelope.sign(payload: Data(text.utf8), payloadType: "application/vnd.in-toto+json",
                                               with: EncodingTests.fixedKey()))
    }

    @Test func addingKeepsOneLineEachNewestLastAndDropsTornLines() throws {
        let first = try Self.envelope("first"), second = try Self.envelope("second")
        var bundle = try AttestationBundle.adding(first, to: nil)
        bundle = try AttestationBundle.adding(second, to: bundle)
        // The same envelope again (a cached rerun) moves to the end instead of repeating.
        bundle = try AttestationBundle.adding(first, to: bundle + Data("{\"payload\":\"torn\n".utf8))
        #expect(try AttestationBundle.envelopes(in: bundle) == [second, first])
        #expect(bundle.last == UInt8(ascii: "\n"))
    }

    @Test func aBundleKeepsOnlyTheNewestEnvelopes() throws {
        var bundle: Data?
        let envelopes = try (0..<(AttestationBundle.maximumEnvelopes + 5)).map { try Self.envelope("statement \($0)") }
        for envelope in envelopes { bundle = try AttestationBundle.adding(envelope, to: bundle) }
        #expect(try AttestationBundle.envelopes(in: try #require(bundle)) == Array(envelopes.suffix(AttestationBundle.maximumEnvelopes)))
    }

    @Test func aLineThatIsNotAnEnvelopeIsNamed() throws {
        let bundle = try Self.envelope("ok") + Data("\nnot json\n".utf8)
        let error = #expect(throws: AttestationError.self) { try AttestationBundle.envelopes(in: bundle) }
        #expect(error?.code == .malformedEnvelope)
        #expect(error?.message.hasPrefix("line 2:") == true, "\(error?.message ?? "")")
        #expect(throws: AttestationError.self) { try AttestationBundle.adding(Data("nope".utf8), to: nil) }
    }
}
