import Foundation
import Testing
@testable import Pipeline

/// `nix.builders`, `nix.max-jobs`, `nix.substituters`, `nix.trusted-public-keys` and
/// `cache.nix-push`/`nix-push-key`: what is accepted, what is refused and where.
@Suite struct NixDistributionTests {
    static let hostKey = Data("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDDekMCUIAmTLCvhBqIVSOjsC+HJZhPMA9MSSzhK6JLM b".utf8).base64EncodedString()
    static let publicKey = "cache-1:" + Data(repeating: 7, count: 32).base64EncodedString()

    /// A definition whose lines 1-4 are the usual ones, then `extra` (at line 5), then one stage.
    static func definition(_ extra: String) -> String {
        """
        version: 1
        name: t
        source:
          path: src
        \(extra)
        stages:
          image:
            nix-build: {}
        """
    }

    @Test func buildersMaxJobsAndCachesBecomeNixOptions() throws {
        let definition = try parse(Self.definition("""
            nix:
              options: { substituters: "" }
              builders:
                - "ssh-ng://root@10.231.0.2 x86_64-linux /var/lib/k 2 3 kvm,big-parallel - \(Self.hostKey)"
                - ssh://b2
              max-jobs: 0
              substituters: [file:///srv/nix-cache]
              trusted-public-keys: ["\(Self.publicKey)"]
            """))
        let builders = definition.nixDistribution.builders
        #expect(builders.count == 2)
        #expect(builders[0].uri == "ssh-ng://root@10.231.0.2")
        #expect(builders[0].systems == ["x86_64-linux"])
        #expect(builders[0].sshKey == "/var/lib/k")
        #expect(builders[0].maxJobs == 2)
        #expect(builders[0].speedFactor == 3)
        #expect(builders[0].supportedFeatures == ["kvm", "big-parallel"])
        #expect(builders[0].mandatoryFeatures == [])
        #expect(builders[0].publicHostKey == Self.hostKey)
        #expect(builders[0].position == SourcePosition(file: "p.yaml", line: 8, column: 7))
        #expect(builders[1].machineLine == "ssh://b2 - - 1 1 - - -")
        #expect(builders[0].storeURI == "ssh-ng://root@10.231.0.2?ssh-key=/var/lib/k&base64-ssh-public-host-key=\(Self.hostKey)")
        #expect(definition.nixDistribution.options.map(\.name)
            == ["builders", "max-jobs", "extra-substituters", "extra-trusted-public-keys"])
        #expect(definition.nixDistribution.options[0].value
            == "ssh-ng://root@10.231.0.2 x86_64-linux /var/lib/k 2 3 kvm,big-parallel - \(Self.hostKey) ; ssh://b2 - - 1 1 - - -")
        #expect(definition.nixDistribution.options[1].value == "0")
        #expect(definition.nixDistribution.options[2].value == "file:///srv/nix-cache")
        // The options of `nix.options` stay as they were; the distribution's come after them.
        #expect(definition.nixOptions == [NixOptionSpec(name: "substituters", value: "")])
    }

    @Test func noDistributionFieldsGiveNoOptions() throws {
        let definition = try parse(Self.definition("nix: { options: { cores: \"1\" } }"))
        #expect(definition.nixDistribution == NixDistribution())
        #expect(definition.nixDistribution.options.isEmpty)
        #expect(definition.cache.nixPush == nil)
    }

    @Test func badBuildersAreReportedAtTheirItemWithTheField() {
        let found = diagnostics(Self.definition("""
            nix:
              builders:
                - "http://b x86_64-linux"
                - "ssh-ng://b x86-64-linux-gnu relative/key four 0"
                - "ssh-ng://b - - - - - - bm90IGEga2V5"
                - "ssh-ng://a ; ssh-ng://b"
                - "b2"
                - "ssh-ng://b/path"
              max-jobs: -1
            """))
        #expect(found.contains("p.yaml:7:7: 'nix.builders[0]' its URI 'http://b' has the scheme 'http'; nix builds remotely over 'ssh://' or 'ssh-ng://'"))
        #expect(found.contains("p.yaml:8:7: 'nix.builders[1]' its system 'x86-64-linux-gnu' (field 2) is not a nix system such as x86_64-linux or aarch64-linux"))
        #expect(found.contains("p.yaml:8:7: 'nix.builders[1]' its ssh key 'relative/key' (field 3) must be an absolute path: nix-daemon, not you, opens it"))
        #expect(found.contains("p.yaml:8:7: 'nix.builders[1]' its max jobs (field 4) must be a whole number of at least 1, not 'four'"))
        #expect(found.contains("p.yaml:8:7: 'nix.builders[1]' its speed factor (field 5) must be a whole number of at least 1, not '0'"))
        #expect(found.contains { $0.hasPrefix("p.yaml:9:7: 'nix.builders[2]' its host key (field 8) is not a base64-encoded ssh public key") })
        #expect(found.contains("p.yaml:10:7: 'nix.builders[3]' holds more than one machine; write one machine per list item"))
        #expect(found.contains("p.yaml:11:7: 'nix.builders[4]' its URI 'b2' has no scheme; write ssh-ng://b2 (or ssh://b2)"))
        #expect(found.contains { $0.hasPrefix("p.yaml:12:7: 'nix.builders[5]' its URI 'ssh-ng://b/path' must be ssh-ng://[USER@]HOST") })
        #expect(found.contains("p.yaml:13:13: 'nix.max-jobs' must be between 0 and 1024, not -1"))
        #expect(found.count == 10)
    }

    @Test func buildersMustBeAListOfStrings() {
        let found = diagnostics(Self.definition("nix: { builders: \"ssh-ng://b\" }"))
        #expect(found.count == 1)
        #expect(found.first?.hasPrefix("p.yaml:5:18: 'nix.builders' must be a list of machines, one string each in nix's machine format") == true)
    }

    @Test func badSubstitutersAndKeysAreReportedAtTheirItem() {
        let found = diagnostics(Self.definition("""
            nix:
              substituters: [file:///ok, "not a uri"]
              trusted-public-keys: ["\(Self.publicKey)", "cache-1:short"]
            """))
        #expect(found == [
            "p.yaml:6:30: 'nix.substituters[1]' 'not a uri' is not a binary cache URI; write e.g. file:///srv/nix-cache or https://cache.example.org",
            "p.yaml:7:81: 'nix.trusted-public-keys[1]' 'cache-1:short' is not a nix public key; write NAME:BASE64 as 'nix key convert-secret-to-public' prints it",
        ])
    }

    @Test func nixPushNamesTheCacheAndTheKey() throws {
        let definition = try parse(Self.definition("cache: { nix-push: \"file:///srv/nix-cache\", nix-push-key: /etc/nix/cache.sec }"))
        let push = try #require(definition.cache.nixPush)
        #expect(push.uri == "file:///srv/nix-cache")
        #expect(push.secretKeyFile == "/etc/nix/cache.sec")
        #expect(push.destination == "file:///srv/nix-cache?secret-key=/etc/nix/cache.sec")
        #expect(push.position == SourcePosition(file: "p.yaml", line: 5, column: 20))
        let withQuery = NixPushSpec(uri: "ssh://c?compress=true", secretKeyFile: "/k", position: push.position)
        #expect(withQuery.destination == "ssh://c?compress=true&secret-key=/k")
    }

    @Test func nixPushIsRefusedWithoutItsKeyOrWithABadURI() {
        #expect(diagnostics(Self.definition("cache: { nix-push: \"file:///c\" }")) == [
            "p.yaml:5:10: 'cache.nix-push' needs 'nix-push-key' beside it: a push names the binary cache (nix-push) and the secret key that signs what is pushed (nix-push-key)",
        ])
        let found = diagnostics(Self.definition("cache: { nix-push: \"https://c\", nix-push-key: key.sec }"))
        #expect(found == [
            "p.yaml:5:20: 'cache.nix-push' 'https://c' must be a binary cache URI with the scheme file:// (a shared folder, e.g. file:///srv/nix-cache), ssh:// or ssh-ng://",
            "p.yaml:5:47: 'cache.nix-push-key' 'key.sec' must be an absolute path to a secret key made by 'nix key generate-secret'",
        ])
        #expect(diagnostics(Self.definition("cache: { nix-push: \"file://c\", nix-push-key: /k }")) == [
            "p.yaml:5:20: 'cache.nix-push' 'file://c' must name an absolute folder: file:///PATH",
        ])
    }

    @Test func nixPushAttestationsNamesAFolderOnTheSSHHost() throws {
        let named = try parse(Self.definition(
            "cache: { nix-push: \"ssh://root@h\", nix-push-key: /k, nix-push-attestations: \"~/signed\" }"))
        #expect(named.cache.nixPush?.attestationFolder == "~/signed")
        let unnamed = try parse(Self.definition("cache: { nix-push: \"ssh-ng://root@h\", nix-push-key: /k }"))
        #expect(unnamed.cache.nixPush?.attestationFolder == nil)
        #expect(NixPushSpec.defaultRemoteAttestationFolder == "~/.cache/sutradhar/attestations")
    }

    @Test func nixPushAttestationsIsRefusedAtItsValue() {
        #expect(diagnostics(Self.definition("cache: { nix-push: \"ssh://root@h\", nix-push-key: /k, nix-push-attestations: srv/att }")) == [
            "p.yaml:5:77: 'cache.nix-push-attestations' 'srv/att' must be an absolute path or one under the remote user's home, e.g. ~/.cache/sutradhar/attestations",
        ])
        #expect(diagnostics(Self.definition("cache: { nix-push: \"ssh://root@h\", nix-push-key: /k, nix-push-attestations: \"~/a/../../etc\" }")) == [
            "p.yaml:5:77: 'cache.nix-push-attestations' '~/a/../../etc' must not climb with '..'",
        ])
        #expect(diagnostics(Self.definition("cache: { nix-push: \"file:///c\", nix-push-key: /k, nix-push-attestations: /srv/att }")) == [
            "p.yaml:5:74: 'cache.nix-push-attestations' names a folder on an ssh:// cache's host; a file:// cache's attestations always go in its own 'attestations' folder",
        ])
        #expect(diagnostics(Self.definition("cache: { nix-push-attestations: /srv/att }")) == [
            "p.yaml:5:10: 'cache.nix-push-attestations' needs 'nix-push' beside it: it names where on the pushed-to cache's host the attestations go",
        ])
    }

    @Test func aDistributionKeyAtTheWrongLevelSaysWhereItBelongs() {
        let found = diagnostics(Self.definition("cache: { builders: [ssh-ng://b] }"))
        #expect(found.contains { $0.contains("misplaced key 'builders' in 'cache': 'builders' is a 'nix' field") })
    }
}
