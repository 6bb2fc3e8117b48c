import Engine
import Foundation
@testable import KubeRendering
import Pipeline
import SutradharTesting
import Testing

/// Definitions and renderings the Kubernetes tests share.
enum KubeFixtures {
    /// A commit SHA for Jobs (any 40 hex digits: nothing is fetched).
    static let commit = "3f2c1e9aa0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5"

    /// The repository's `pipelines/` folder.
    static let pipelines = SutradharCLI.repositoryRoot.appendingPathComponent("pipelines")

    /// A plan for a definition with `stages` (YAML under `stages:`) and an optional schedule line.
    static func plan(stages: String, schedule: String? = nil, name: String = "demo") throws -> Plan {
        var text = """
            version: 1
            name: \(name)
            source: { git: "https://example.invalid/demo.git" }

            """
        if let schedule { text += "schedule: \"\(schedule)\"\n" }
        text += "stages:\n" + stages
        let definition = try PipelineLoader.parse(yaml: text, file: "demo.yaml", directory: URL(fileURLWithPath: "/tmp"),
                                                  implementedKinds: Engine.implementedKinds)
        return try Planner.plan(definition, implementedKinds: Engine.implementedKinds)
    }

    /// One nix-build stage with this `timeout:` line (or none).
    static func plan(timeout: String?, schedule: String? = nil) throws -> Plan {
        try plan(stages: """
              image:
            \(timeout.map { "    timeout: \($0)\n" } ?? "")    nix-build: { installable: ".#docker-image" }

            """, schedule: schedule)
    }

    /// Renders `plan` as if from `demo.yaml` with this text.
    static func render(_ plan: Plan, options: KubeRenderOptions, text: String = "version: 1\n") throws -> KubeManifests {
        try KubeManifests.render(plan, definitionText: text, fileName: "demo.yaml", options: options)
    }

    /// Renders the repository's `pipelines/NAME.yaml` as the golden files and the validator see it.
    static func renderRepositoryPipeline(_ name: String, options: KubeRenderOptions) throws -> KubeManifests {
        let path = pipelines.appendingPathComponent("\(name).yaml").path
        let plan = try PipelineLoader.load(path: path, implementedKinds: Engine.implementedKinds)
        return try KubeManifests.render(plan, definitionFile: path, options: options)
    }

    /// The options each golden file is rendered with: the example with every default, bommalata
    /// as a cluster would run it (a namespace, a PVC cache, another uid's socket).
    static func goldenOptions(for name: String) throws -> KubeRenderOptions {
        switch name {
        case "bommalata":
            return try KubeRenderOptions(commit: commit, image: "registry.example/sutradhar:1.0", namespace: "ci",
                                         socket: "/run/user/1001/docker.sock", cache: .persistentVolumeClaim("sutradhar-cache"))
        default:
            return try KubeRenderOptions(commit: commit)
        }
    }
}
