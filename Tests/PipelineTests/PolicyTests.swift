import Foundation
import Testing
@testable import Pipeline

/// What would weaken a container's isolation is refused when the definition is read, at the
/// offending key or value, whichever container-running kind asks for it.
@Suite struct PolicyTests {
    /// A smoke stage (line 6) whose line 10 is `line`; its probe and image are valid.
    static func smoke(_ line: String) -> String {
        withStages("""
              s:
                smoke:
                  image: busybox:latest
                  probe: {exec: [true]}
            \(line)
            """)
    }

    /// A container stage (line 6) whose line 10 is `line`.
    static func container(_ line: String) -> String {
        withStages("""
              t:
                container:
                  image: busybox:latest
                  command: [sh, -c, "true"]
            \(line)
            """)
    }

    static let refusedKeys: [(line: String, key: String, reason: String)] = [
        ("privileged: true", "privileged",
         "privileged containers are refused: Sutradhar runs containers rootless, with least privilege and no escalation; remove 'privileged'"),
        ("cap-add: [NET_ADMIN]", "cap-add", "adding capabilities is refused: containers run with every capability dropped; remove 'cap-add'"),
        ("capabilities: [SYS_ADMIN]", "capabilities", "adding capabilities is refused: containers run with every capability dropped; remove 'capabilities'"),
        ("devices: [/dev/kvm]", "devices", "host devices are refused: a smoke or test container must not reach the host's hardware; remove 'devices'"),
        ("pid: host", "pid", "sharing the host's PID namespace is refused; remove 'pid'"),
        ("ipc: host", "ipc", "sharing the host's IPC namespace is refused; remove 'ipc'"),
        ("userns: host", "userns", "leaving the user namespace is refused; remove 'userns'"),
        ("security-opt: [seccomp=unconfined]", "security-opt",
         "security options cannot be relaxed; every container runs with no-new-privileges; remove 'security-opt'"),
        ("volumes: [\"/:/host\"]", "volumes", "volumes are refused; mount a folder of the checkout with 'mounts' instead"),
    ]

    @Test(arguments: refusedKeys)
    func isolationWeakeningKeyIsRefusedInSmokeStages(_ refused: (line: String, key: String, reason: String)) {
        #expect(diagnostics(Self.smoke("      " + refused.line)) == ["p.yaml:10:7: 'stages.s.smoke.\(refused.key)': \(refused.reason)"])
    }

    @Test(arguments: refusedKeys)
    func isolationWeakeningKeyIsRefusedInContainerStages(_ refused: (line: String, key: String, reason: String)) {
        #expect(diagnostics(Self.container("      " + refused.line)) == ["p.yaml:10:7: 'stages.t.container.\(refused.key)': \(refused.reason)"])
    }

    @Test func everyRefusedKeyInOneStageIsReported() {
        let lines = Self.refusedKeys.map { "      " + $0.line }.joined(separator: "\n")
        let found = diagnostics(Self.smoke(lines))
        #expect(found.count == Self.refusedKeys.count)
        #expect(found.map { $0.split(separator: ":").prefix(3).joined(separator: ":") } == (10..<(10 + Self.refusedKeys.count)).map { "p.yaml:\($0):7" })
    }

    @Test func hostNetworkIsRefusedAtItsValue() {
        #expect(diagnostics(Self.smoke("      network: host")) == [
            "p.yaml:10:16: 'stages.s.smoke.network': the host network is refused; use none (the default), or bridge where the run allows networks",
        ])
    }

    @Test func aRuntimeIsReadAndOneThatIsNoNameIsRefusedAtItsValue() throws {
        let definition = try parse(Self.smoke("      runtime: runc"))
        let smoke = try #require(definition.stages.first?.spec as? SmokeSpec)
        #expect(smoke.container.runtime == "runc")
        #expect(diagnostics(Self.container("      runtime: \"runc --root /\"")) == [
            "p.yaml:10:16: 'stages.t.container.runtime' 'runc --root /' is not a runtime name; write one the daemon offers, e.g. runc (see 'sutradhar doctor')",
        ])
    }

    @Test func readyWhenLogIsOneLineOfBoundedText() throws {
        func smoke(_ ready: String) -> String {
            withStages("""
                  s:
                    smoke:
                      image: busybox:latest
                      probe: {exec: [true], ready-when-log: "\(ready)"}
                """)
        }
        let spec = try #require(try parse(smoke("listening on")).stages.first?.spec as? SmokeSpec)
        #expect(spec.probe.readyWhenLog == "listening on")
        for bad in ["", String(repeating: "x", count: 1025), "two\\nlines"] {
            let found = diagnostics(smoke(bad))
            #expect(found.count == 1 && found.first?.contains("'stages.s.smoke.probe.ready-when-log' must be one line of text") == true, "\(found)")
        }
    }

    @Test func joiningAnotherContainersNetworkIsRefused() {
        #expect(diagnostics(Self.container("      network: \"container:db\"")) == [
            "p.yaml:10:16: 'stages.t.container.network': joining another container's network is only done by a probe's sidecar",
        ])
    }

    @Test func bridgeNetworkIsAcceptedAndNoneIsTheDefault() throws {
        let bridged = try plan(Self.smoke("      network: bridge")).spec("s", as: SmokeSpec.self)
        #expect(bridged?.container.network == .bridge)
        let plain = try plan(Self.smoke("      user: \"1000\"")).spec("s", as: SmokeSpec.self)
        #expect(plain?.container.network == ContainerSettings.Network.none)
    }

    static let refusedMounts: [(mount: String, problem: String)] = [
        ("/var/run/docker.sock:/var/run/docker.sock",
         "mounting a container engine's socket is refused: it gives the container control of the daemon; remove this mount"),
        ("/run/user/1001/docker.sock:/d.sock",
         "mounting a container engine's socket is refused: it gives the container control of the daemon; remove this mount"),
        ("run/podman/podman.sock:/p.sock",
         "mounting a container engine's socket is refused: it gives the container control of the daemon; remove this mount"),
        ("/etc:/etc", "'/etc' is outside the checkout; only paths inside the checkout can be mounted (write them relative to its root)"),
        ("~/.ssh:/keys", "'~/.ssh' is outside the checkout; only paths inside the checkout can be mounted (write them relative to its root)"),
        ("../secrets:/s", "'../secrets' leaves the checkout; only paths inside the checkout can be mounted"),
        ("data/../../x:/x:rw", "'data/../../x' leaves the checkout; only paths inside the checkout can be mounted"),
        ("data:relative", "the target 'relative' must be an absolute path inside the container"),
    ]

    @Test(arguments: refusedMounts)
    func mountOutsideTheCheckoutOrOfASocketIsRefused(_ refused: (mount: String, problem: String)) {
        let yaml = Self.smoke("""
                  mounts:
                    - "\(refused.mount)"
            """)
        #expect(diagnostics(yaml) == ["p.yaml:11:11: 'stages.s.smoke.mounts[0]': \(refused.problem)"])
    }

    @Test func socketMountInLongFormIsRefusedAtTheEntry() {
        let yaml = Self.container("""
                  mounts:
                    - {source: testdata, target: /data}
                    - {source: /run/docker.sock, target: /var/run/docker.sock, read-only: true}
            """)
        #expect(diagnostics(yaml) == [
            "p.yaml:12:11: 'stages.t.container.mounts[1]': mounting a container engine's socket is refused: it gives the container control of the daemon; remove this mount",
        ])
    }

    @Test func mountsInsideTheCheckoutAreAcceptedReadOnlyByDefault() throws {
        let yaml = Self.container("""
                  mounts:
                    - testdata:/data
                    - "./out/../out:/out:rw"
                    - {source: fixtures, target: /fixtures, read-only: false}
            """)
        let mounts = try plan(yaml).spec("t", as: ContainerStageSpec.self)?.container.mounts
        #expect(mounts == [
            CheckoutMount(source: "testdata", target: "/data", readOnly: true),
            CheckoutMount(source: "./out/../out", target: "/out", readOnly: false),
            CheckoutMount(source: "fixtures", target: "/fixtures", readOnly: false),
        ])
    }

    @Test func malformedShortMountSaysWhatFormItTakes() {
        let yaml = Self.smoke("""
                  mounts: ["a:/b:rx"]
            """)
        #expect(diagnostics(yaml) == ["p.yaml:10:16: 'stages.s.smoke.mounts[0]' must be SOURCE:TARGET[:ro|:rw], not 'a:/b:rx'"])
    }
}
