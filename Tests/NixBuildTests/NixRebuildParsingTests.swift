import Foundation
import Testing
@testable import NixBuild

/// What `Nix.rebuild` reads from nix's log. The builder's own lines are in the same log (with
/// `-L`, prefixed by its name), so only nix's lines count, and only for the paths they may name.
@Suite struct NixRebuildParsingTests {
    static let out = "/nix/store/1zcx2dgxjsv884a66x7zgf2mk51v3m03-rp-test"

    @Test func nixsNonDeterminismLineGivesBothOutputs() throws {
        let line = "error: derivation '/nix/store/9hd-rp-test.drv' may not be deterministic: output '\(Self.out)' differs from '\(Self.out).check'"
        let found = try #require(Nix.nonDeterminism(in: line))
        #expect(found.drv == "/nix/store/9hd-rp-test.drv")
        #expect(found.first == Self.out)
        #expect(found.second == Self.out + ".check")
    }

    @Test func aBuilderCannotNameAPathToKeepOrRemove() {
        // A builder's line (prefixed by -L), or one naming a second path that is not the first's
        // `.check`, is not nix's finding.
        #expect(Nix.nonDeterminism(in: "rp-test> error: derivation 'x' may not be deterministic: output '\(Self.out)' differs from '\(Self.out).check'") == nil)
        #expect(Nix.nonDeterminism(in: "error: derivation 'x' may not be deterministic: output '\(Self.out)' differs from '/home/user/.ssh'") == nil)
        #expect(Nix.keptBuildFolder(in: "note: keeping build directory '/tmp/nix-build-rp-test.drv-0'") == "/tmp/nix-build-rp-test.drv-0")
        #expect(Nix.keptBuildFolder(in: "rp-test> note: keeping build directory '/tmp/nix-build-x.drv-0'") == nil)
        #expect(Nix.keptBuildFolder(in: "note: keeping build directory '/home/user'") == nil)
        #expect(Nix.keptBuildFolder(in: "note: keeping build directory '/tmp/nix-build-x/../../home/user'") == nil)
    }
}
