import Attestation
import Foundation
import RunHistory
import SutradharTesting
import Testing

/// A run's attestations as the front ends read them: listed by stage, each checked with a key.
@Suite struct RunAttestationTests {
    @Test func attestationsAreListedByStageAndCheckedWithTheGivenKey() async throws {
        try await GitFixtures.withTemporaryDirectory("attest-history") { cache in
            let history = try RunHistory(cacheRoot: cache)
            let folder = history.folder.appendingPathComponent("20261207-000000-abcd/attestations")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let key = SigningKey.generate()
            let statement = Statement(subject: [ResourceDescriptor(name: "app:ci", digest: ["sha256": String(repeating: "ef", count: 32)])],
                                      predicateType: TestResult.predicateType,
                                      predicate: TestResult(result: "PASSED", configuration: [], passedTests: ["probe"]))
            try CanonicalJSON.encode(Envelope.sign(statement, with: key)).write(to: folder.appendingPathComponent("smoke.test-result.json"))
            try Data("{}".utf8).write(to: folder.appendingPathComponent("load.sbom.cdx.json"))
            try Data("not json".utf8).write(to: folder.appendingPathComponent("broken.provenance.json"))

            let checked = history.attestations(ofRun: "20261207-000000-abcd", verifyingWith: key.publicKey)
            #expect(checked.map(\.stage) == ["broken", "smoke"])  // the SBOM is not an envelope
            #expect(checked[1].verified == true && checked[1].keyID == key.keyID)
            #expect(checked[1].subjects == ["app:ci sha256:" + String(repeating: "ef", count: 32)])
            #expect(checked[0].verified == false && checked[0].problem == "not a DSSE envelope")
            let wrongKey = history.attestations(ofRun: "20261207-000000-abcd", verifyingWith: SigningKey.generate().publicKey)
            #expect(wrongKey[1].verified == false && wrongKey[1].problem?.contains("no signature by key") == true)
            #expect(history.attestations(ofRun: "20261207-000000-abcd", verifyingWith: nil)[1].verified == nil)
            #expect(history.attestations(ofRun: "20261207-999999-none", verifyingWith: nil).isEmpty)
        }
    }
}
