import Foundation
import KubeRendering
import SutradharTesting
import Testing

/// The rendered manifests checked by a validator nobody here wrote: `kubernetes-validate
/// --strict` (PyPI, installed by scripts/setup.sh into /opt/sutradhar-venv) against the
/// OpenAPI schemas of Kubernetes 1.28 to 1.31, offline — no cluster runs on these machines.
/// Under CI=true a missing validator fails these tests instead of skipping them.
struct KubeValidatorTests {
    /// `$SUTRADHAR_KUBERNETES_VALIDATE`, else the set-up script's venv.
    static let validator = ProcessInfo.processInfo.environment["SUTRADHAR_KUBERNETES_VALIDATE"]
        ?? "/opt/sutradhar-venv/bin/kubernetes-validate"

    static var validatorAvailable: Bool { FileManager.default.isExecutableFile(atPath: validator) }

    static let versions = ["1.28.0", "1.29.0", "1.30.0", "1.31.0"]

    /// Every kind of rendering: the goldens' (a Job, a hostPath or PVC cache, a namespace) and
    /// one with a time zone and no Job.
    static func renderings() throws -> [(name: String, yaml: String)] {
        var renderings: [(name: String, yaml: String)] = []
        for pipeline in ["example", "bommalata"] {
            let options = try KubeFixtures.goldenOptions(for: pipeline)
            renderings.append((pipeline, try KubeFixtures.renderRepositoryPipeline(pipeline, options: options).yaml))
        }
        let zoned = try KubeFixtures.plan(timeout: "20m", schedule: "Mon..Fri 03:00 Europe/Berlin")
        renderings.append(("zoned", try KubeFixtures.render(zoned, options: try KubeRenderOptions(namespace: "builds", uid: 1002)).yaml))
        return renderings
    }

    static func requireValidator() -> Bool {
        guard validatorAvailable else {
            Issue.record("no kubernetes-validate at \(validator); run scripts/setup.sh (it installs it into /opt/sutradhar-venv) or set SUTRADHAR_KUBERNETES_VALIDATE")
            return false
        }
        return true
    }

    @Test(.enabled(if: validatorAvailable || TestEnvironment.isCI, "kubernetes-validate is installed"), arguments: versions)
    func theRenderedManifestsPassStrictValidation(version: String) async throws {
        guard Self.requireValidator() else { return }
        try await GitFixtures.withTemporaryDirectory("sutradhar-kube") { folder in
            var files: [String] = []
            for rendering in try Self.renderings() {
                let file = folder.appendingPathComponent("\(rendering.name).yaml")
                try Data(rendering.yaml.utf8).write(to: file)
                files.append(file.path)
            }
            // Throws, with the validator's output, if it exits non-zero.
            let output = try DockerTestSupport.run(Self.validator, ["--strict", "-k", version] + files)
            // Each object was checked, not skipped as an unknown kind: 3 + 3 + 2 objects.
            let majorMinor = version.split(separator: ".").prefix(2).joined(separator: ".")
            #expect(output.components(separatedBy: "passed for resource").count - 1 == 8, "\(output)")
            #expect(output.contains("against version \(majorMinor)"), "\(output)")
        }
    }

    /// The check can fail: a misspelt field (only --strict rejects it) and a wrong type.
    @Test(.enabled(if: validatorAvailable || TestEnvironment.isCI, "kubernetes-validate is installed"),
          arguments: [("backoffLimit: 0", "backofLimit: 0", "backofLimit"), ("runAsUser: 1000", "runAsUser: root", "root")])
    func aBrokenManifestIsRejected(field: String, broken: String, named: String) async throws {
        guard Self.requireValidator() else { return }
        let yaml = try KubeFixtures.renderRepositoryPipeline("example", options: try KubeFixtures.goldenOptions(for: "example")).yaml
        #expect(yaml.contains(field))
        try await GitFixtures.withTemporaryDirectory("sutradhar-kube") { folder in
            let file = folder.appendingPathComponent("broken.yaml")
            try Data(yaml.replacingOccurrences(of: field, with: broken).utf8).write(to: file)
            let error = try #require(throws: DockerTestSupportError.self) {
                try DockerTestSupport.run(Self.validator, ["--strict", "-k", "1.31.0", file.path])
            }
            #expect(error.message.contains("did not validate"), "\(error.message)")
            #expect(error.message.contains(named), "\(error.message)")
        }
    }
}
