import Foundation
import KubeRendering
import SutradharTesting
import Testing

/// `kube render`'s arguments: what is accepted, and what is refused with a message naming it.
struct KubeOptionsTests {
    @Test func theCacheSpecReadsBothForms() throws {
        #expect(try KubeCacheVolume.parse("hostpath:/srv/sutradhar") == .hostPath("/srv/sutradhar"))
        #expect(try KubeCacheVolume.parse("pvc:sutradhar-cache") == .persistentVolumeClaim("sutradhar-cache"))
        #expect(try KubeCacheVolume.parse("HostPath:/srv") == .hostPath("/srv"))
    }

    @Test(arguments: ["/srv/cache", "hostpath:relative/dir", "hostpath:/a/../b", "pvc:Bad_Name", "pvc:", "nfs:server:/x", "hostpath:/with space"])
    func aCacheSpecThatDoesNotParseIsRefused(spec: String) throws {
        let error = try #require(throws: KubeError.self) { try KubeCacheVolume.parse(spec) }
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("--cache"), "\(error.message)")
    }

    @Test func aNonNumericUIDIsRefused() throws {
        #expect(try KubeRenderOptions.parseUID("1001") == 1001)
        let error = try #require(throws: KubeError.self) { try KubeRenderOptions.parseUID("sutradhar") }
        #expect(error.message.contains("--uid 'sutradhar' is not a number"))
    }

    @Test func uidZeroIsRefusedBecauseThePodsMustNotBeRoot() throws {
        let error = try #require(throws: KubeError.self) { try KubeRenderOptions(uid: 0) }
        #expect(error.message.contains("runAsNonRoot"))
    }

    @Test(arguments: ["CI", "ci_builds", "-ci", "ci-", String(repeating: "a", count: 64), "ci.builds", ""])
    func aNamespaceThatIsNotADNSLabelIsRefused(namespace: String) throws {
        let error = try #require(throws: KubeError.self) { try KubeRenderOptions(namespace: namespace) }
        #expect(error.message.contains("--namespace '\(namespace)' is not a DNS label"))
    }

    @Test func aDNSLabelNamespaceIsAccepted() throws {
        #expect(try KubeRenderOptions(namespace: "ci-2").namespace == "ci-2")
        #expect(try KubeRenderOptions(namespace: String(repeating: "a", count: 63)).namespace?.count == 63)
    }

    @Test(arguments: ["main", "v1.0", "3f2c1e", "3f2c1e9aa0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5aa"])
    func aCommitThatIsNotAHexSHAIsRefused(commit: String) throws {
        let error = try #require(throws: KubeError.self) { try KubeRenderOptions(commit: commit) }
        #expect(error.message.contains("--commit '\(commit)' is not a commit SHA"))
    }

    @Test func aSocketThatIsNotAnAbsolutePathIsRefused() throws {
        let error = try #require(throws: KubeError.self) { try KubeRenderOptions(socket: "docker.sock") }
        #expect(error.message.contains("--socket 'docker.sock' is not an absolute path"))
    }

    @Test func anImageWithSpacesIsRefused() throws {
        let error = try #require(throws: KubeError.self) { try KubeRenderOptions(image: "sutradhar latest") }
        #expect(error.message.contains("--image 'sutradhar latest'"))
    }

    @Test func theUIDDefaultsToTheOneInTheSocketPathElse1000() throws {
        #expect(try KubeRenderOptions(socket: "/run/user/1005/docker.sock").uid == 1005)
        #expect(try KubeRenderOptions(socket: "/var/run/rootless/docker.sock").uid == 1000)
        #expect(try KubeRenderOptions(socket: "/run/user/1005/docker.sock", uid: 2000).uid == 2000)
    }

    // The CLI: a thin layer, so one check that it maps the library's refusals to exit 2.

    @Test func theCLIRefusesAnUnknownPipelineListingTheKnownOnes() async throws {
        let result = try await SutradharCLI.run(["kube", "render", "nosuch"])
        #expect(result.exitCode == 2)
        #expect(result.stderr.contains("no pipeline 'nosuch'"), "\(result.stderr)")
        #expect(result.stderr.contains("bommalata"), "\(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    @Test func theCLIRefusesABadArgumentBeforeLookingForThePipeline() async throws {
        let result = try await SutradharCLI.run(["kube", "render", "bommalata", "--uid", "root"])
        #expect(result.exitCode == 2)
        #expect(result.stderr.contains("--uid 'root' is not a number"), "\(result.stderr)")
    }
}
