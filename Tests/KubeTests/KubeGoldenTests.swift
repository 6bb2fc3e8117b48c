import Foundation
import KubeRendering
import SutradharTesting
import Testing

/// The manifests of the repository's pipelines, byte for byte. `SUTRADHAR_UPDATE_GOLDEN=1`
/// rewrites `Golden/NAME.yaml` from the current rendering (after a deliberate change to the
/// manifests or to pipelines/NAME.yaml, whose text the ConfigMap carries).
struct KubeGoldenTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    @Test(arguments: ["example", "bommalata"])
    func theRenderingMatchesItsGoldenFile(pipeline: String) throws {
        let yaml = try KubeFixtures.renderRepositoryPipeline(pipeline, options: try KubeFixtures.goldenOptions(for: pipeline)).yaml
        let golden = Self.folder.appendingPathComponent("\(pipeline).yaml")
        if ProcessInfo.processInfo.environment["SUTRADHAR_UPDATE_GOLDEN"] == "1" {
            try FileManager.default.createDirectory(at: Self.folder, withIntermediateDirectories: true)
            try Data(yaml.utf8).write(to: golden)
        }
        let expected = try String(contentsOf: golden, encoding: .utf8)
        #expect(yaml == expected, "the rendering of \(pipeline) differs from \(golden.path); if the change is meant, rerun with SUTRADHAR_UPDATE_GOLDEN=1 and review the diff")
    }

    /// The CLI prints exactly what the library renders (it is only the argument layer).
    @Test func theCLIPrintsTheGoldenRendering() async throws {
        let result = try await SutradharCLI.run(["kube", "render", "bommalata", "--commit", KubeFixtures.commit, "--namespace", "ci",
                                                 "--image", "registry.example/sutradhar:1.0", "--socket", "/run/user/1001/docker.sock",
                                                 "--cache", "pvc:sutradhar-cache"])
        #expect(result.exitCode == 0, "\(result.stderr)")
        #expect(result.stdout == (try String(contentsOf: Self.folder.appendingPathComponent("bommalata.yaml"), encoding: .utf8)))
    }
}
