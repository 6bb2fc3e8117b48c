import BuildCache
import Foundation
import Pipeline
import RunEvents

/// The cache of container verdicts: a smoke or container stage that passed for an image, a
/// stage definition and a policy need not run again. Failures are never cached.
struct VerdictCache {
    let kind: String
    let key: CacheKey

    /// The key: the image ID, everything in the stage that changes its result, the limits in
    /// force (they depend on the daemon) and, for stages that see it, the checkout's tree.
    init(kind: String, image: String, identity: String, policy: ContainerPolicy, tree: String?) {
        self.kind = kind
        let limits = policy.limits.map { "\($0.name)=\($0.value):\($0.enforced)" }.joined(separator: ",")
        key = CacheKey([kind, image, identity, "network=\(policy.networkMode)", limits, tree ?? "-"])
    }

    /// The earlier passing verdict, unless `--no-cache`.
    func lookup(_ context: StageContext) -> StageOutcome? {
        guard !context.options.noCache, let entry = context.cache.entry(kind: kind, key: key) else { return nil }
        context.cache.hold(kind: kind, key: key)
        context.log("cached: this image passed this stage in run \(entry.outputs["run"] ?? "?"); not running it again (a run that bypasses the cache does)")
        return StageOutcome(outputs: [("image", .string(entry.outputs["image"] ?? "")),
                                      ("verdict_from_run", .string(entry.outputs["run"] ?? ""))], cached: true)
    }

    /// Records a pass.
    func store(image: String, context: StageContext) throws {
        try context.cache.store(kind: kind, key: key, pipeline: context.pipeline,
                                outputs: ["image": image, "run": context.runID])
    }
}

/// What every container-running stage does before it starts anything: check the policy, find the
/// image, and skip the work if this image already passed the same stage under the same policy.
struct PreparedContainerStage {
    let docker: DockerSession
    let policy: ContainerPolicy
    let image: String

    /// - Throws: `StageFailure` if the policy refuses the stage or the image is missing.
    init(settings: ContainerSettings, image source: ImageSource, context: StageContext) async throws {
        docker = context.docker!
        policy = ContainerPolicy(settings: settings, daemon: docker.info, allowNetwork: context.options.allowNetwork,
                                 traceparent: context.options.propagatedTraceparent)
        try policy.check()
        image = try await docker.resolveImage(source, context: context)
    }

    /// Runs `body` unless its passing verdict is cached (`tree` for stages that see the
    /// checkout), and records a pass.
    ///
    /// One run at a time per verdict key, across runs and processes (as nix builds and loads
    /// are): concurrent runs of one commit would otherwise all miss the cache and each start the
    /// same containers. The one that waited looks again inside the lock and reuses the verdict;
    /// if the holder failed (failures are not cached), it runs the work itself.
    func runUnlessPassed(kind: String, identity: String, tree: String?, context: StageContext,
                         _ body: () async throws -> StageOutcome) async throws -> StageOutcome {
        let verdicts = VerdictCache(kind: kind, image: image, identity: identity, policy: policy, tree: tree)
        if let cached = verdicts.lookup(context) { return cached }
        let lock = context.cache.folder(.locks).appendingPathComponent("\(kind)-\(verdicts.key.short).lock")
        return try await context.exclusively(lock: lock, work: "running the same \(kind) stage on this image") {
            if let cached = verdicts.lookup(context) { return cached }
            let outcome = try await body()
            try verdicts.store(image: image, context: context)
            return outcome
        }
    }
}
