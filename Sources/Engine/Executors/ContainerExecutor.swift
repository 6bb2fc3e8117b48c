import DockerEngine
import Foundation
import Pipeline
import RunEvents

/// Runs a one-shot command in an image under the smoke stage's isolation, with the checkout
/// mounted read-only at `/src`; passes on the expected exit code.
struct ContainerExecutor: StageExecutor {
    typealias Spec = ContainerStageSpec
    static let needsDocker = true
    static let needsNix = false
    static var defaultTimeout: Duration { .seconds(30 * 60) }

    func execute(_ spec: ContainerStageSpec, context: StageContext) async throws -> StageOutcome {
        let stage = try await PreparedContainerStage(settings: spec.container, image: spec.image, context: context)
        // The checkout is mounted at /src, so the tree is part of what the verdict depends on.
        return try await stage.runUnlessPassed(kind: Self.kind, identity: spec.cacheIdentity, tree: context.treeID, context: context) {
            try await run(spec, image: stage.image, policy: stage.policy, docker: stage.docker, context: context)
        }
    }

    private func run(_ spec: ContainerStageSpec, image: String, policy: ContainerPolicy, docker: DockerSession,
                     context: StageContext) async throws -> StageOutcome {
        let checkoutMount = "\(context.checkout.path):\(ContainerStageSpec.checkoutMountPoint):ro"
        let containerSpec = policy.containerSpec(
            image: image, labels: docker.labels(stage: context.stage.name),
            workingDirectory: spec.container.workingDirectory ?? ContainerStageSpec.checkoutMountPoint,
            binds: try policy.binds(checkout: context.checkout, extra: [checkoutMount]))

        return try await docker.withContainer(containerSpec, name: docker.containerName(stage: context.stage.name, role: "run"),
                                              context: context) { id in
            let exit = try await docker.client.waitContainer(id)
            try await context.step("container start") { try await docker.start(id) }
            // The log stream ends when the container does; a wait that fails stops it.
            let code = try await docker.forwardingLogs(of: id, prefix: "", context: context) { try await exit.value }
            let state = try? await docker.client.inspectContainer(id)
            let outputs: [(String, JSONValue)] = [
                ("exit_code", .int(Int64(code.statusCode))), ("oom_killed", .bool(state?.oomKilled ?? false)),
                ("image", .string(image)), ("limits", policy.limitOutputs),
            ]
            guard code.statusCode == spec.expectExit else {
                let oom = state?.oomKilled == true ? " (killed by the OOM killer)" : ""
                throw StageFailure(.containerFailed, "the command exited with code \(code.statusCode)\(oom), expected \(spec.expectExit)", outputs: outputs)
            }
            return StageOutcome(outputs: outputs, cached: false)
        }
    }
}
