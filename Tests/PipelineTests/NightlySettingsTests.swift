import Foundation
import Testing
@testable import Pipeline

/// `nightly:` of a definition: what `sutradhar nightly` does beyond rebuilding.
@Suite struct NightlySettingsTests {
    @Test func reproduceIsOffUnlessTheDefinitionAsks() throws {
        #expect(try parse(withStages("  a:\n    nix-build: {}")).nightly == NightlySettings())
        let asked = try parse(withStages("  a:\n    nix-build: {}") + "\nnightly: { reproduce: true }")
        #expect(asked.nightly.reproduce)
        let declined = try parse(withStages("  a:\n    nix-build: {}") + "\nnightly:\n  reproduce: false")
        #expect(!declined.nightly.reproduce)
    }

    @Test func unknownNightlyKeyAndAWrongTypeAreReportedWithTheirPositions() {
        let yaml = withStages("  a:\n    nix-build: {}") + "\nnightly:\n  reproduce: often\n  reproducible: true"
        #expect(diagnostics(yaml) == [
            "p.yaml:9:14: 'nightly.reproduce' must be true or false, not 'often'",
            "p.yaml:10:3: unknown key 'reproducible' in 'nightly'; did you mean 'reproduce'?",
        ])
    }
}
