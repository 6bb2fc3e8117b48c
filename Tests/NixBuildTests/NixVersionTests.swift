import NixBuild
import Testing

@Suite struct NixVersionTests {
    @Test(arguments: [
        ("nix (Nix) 2.8.0", NixVersion(major: 2, minor: 8, patch: 0)),
        ("nix (Nix) 2.8.0\n", NixVersion(major: 2, minor: 8, patch: 0)),
        ("nix (Nix) 2.18.1", NixVersion(major: 2, minor: 18, patch: 1)),
        ("nix (Nix) 2.4pre20211001_dd77f71", NixVersion(major: 2, minor: 4, patch: 0)),
        ("nix (Nix) 2.3.16", NixVersion(major: 2, minor: 3, patch: 16)),
        ("nix (Determinate Nix 3.6.2) 2.29.0", NixVersion(major: 2, minor: 29, patch: 0)),
        ("nix (Lix, like Nix) 2.91.1\nSystem type: x86_64-linux", NixVersion(major: 2, minor: 91, patch: 1)),
    ])
    func parseReadsTheNixVersionNumber(output: String, expected: NixVersion) {
        #expect(NixVersion.parse(output) == expected)
    }

    @Test(arguments: ["", "nix (Nix)", "command not found", "nix (Nix) two.eight", "nix (Nix) 2"])
    func parseRejectsOutputWithoutAVersion(output: String) {
        #expect(NixVersion.parse(output) == nil)
    }

    @Test func versionsCompareNumberByNumber() {
        #expect(NixVersion(major: 2, minor: 3, patch: 16) < NixVersion.minimumSupported)
        #expect(NixVersion(major: 2, minor: 10, patch: 0) > NixVersion(major: 2, minor: 9, patch: 9))
        #expect(NixVersion(major: 2, minor: 8, patch: 0).description == "2.8.0")
    }

    @Test(arguments: ["sutradhar-no-such-nix-executable", "/nonexistent/bin/nix"])
    func missingExecutableThrowsNixMissingWithInstallAdvice(executable: String) async {
        let nix = Nix(executable: executable)
        let error = await #expect(throws: NixError.self) { try await nix.version() }
        #expect(error?.code == .nixMissing)
        #expect(error?.message.contains("apt-get install nix-bin") == true)
    }
}
