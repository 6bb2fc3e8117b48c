import Attestation
import Foundation
import Hummingbird
import HummingbirdTesting
@testable import SutradharDashboard
import SutradharKit
import Testing

/// A run's page lists the run's attestations with their signer and whether they verify.
@Suite struct AttestationPageTests {
    /// Writes a signed test result of stage `smoke` into the fixture's passed run; returns the key.
    static func attest(_ fixture: DashboardFixture, subjectName: String = "app:ci") throws -> SigningKey {
        let key = SigningKey.generate()
        let folder = fixture.cache.appendingPathComponent("runs/\(DashboardFixture.passed)/attestations")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let statement = Statement(subject: [ResourceDescriptor(name: subjectName, digest: ["sha256": String(repeating: "cd", count: 32)])],
                                  predicateType: TestResult.predicateType,
                                  predicate: TestResult(result: "PASSED", configuration: [], passedTests: ["probe"]))
        try CanonicalJSON.encode(Envelope.sign(statement, with: key)).write(to: folder.appendingPathComponent("smoke.test-result.json"))
        return key
    }

    @Test func theRunPageSaysWhoSignedEachAttestationAndWhetherItVerifies() async throws {
        try await DashboardFixture.with { fixture in
            let key = try Self.attest(fixture, subjectName: DashboardFixture.hostile)
            let details = try #require(try fixture.history.run(DashboardFixture.passed))
            let view = try RunView(details: details, history: fixture.history)
            let verified = view.attestationsMarkup(verifyingWith: key.publicKey)
            #expect(verified.contains("<tr data-attestation=\"smoke\">"))
            #expect(verified.contains("<td data-status=\"passed\">signed by \(key.keyID.prefix(16)), verified</td>"))
            #expect(!verified.contains(DashboardFixture.hostile))  // the subject's name is escaped
            let other = view.attestationsMarkup(verifyingWith: SigningKey.generate().publicKey)
            #expect(other.contains("<td data-status=\"failed\">signed by \(key.keyID.prefix(16)), NOT verified: "))
            #expect(view.attestationsMarkup(verifyingWith: nil).contains("not checked (no key at hand)"))

            try await fixture.test { client in
                let page = try await client.execute(uri: "/runs/\(DashboardFixture.passed)", method: .get).text
                #expect(page.contains("<h2>Attestations</h2>"))
                #expect(page.contains("signed by \(key.keyID.prefix(16))"))
            }
        }
    }
}
