import BuildCache
import Foundation

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
        key = CacheKey([kind, image, identity, "network=\(policy.hostConfig().networkMode)", limits, tree ?? "-"])
    }

    /// The earlier passing verdict, unless `--no-cache`.
    func lookup(_ context: StageContext) -> StageOutcome? {
        guard !context.options.noCache, let entry = context.cache.entry(kind: kind, key: key) else { return nil }
        context.cache.hold(kind: kind, key: key)
        context.log("cached: this image passed this stage in run \(entry.outputs["run"] ?? "?"); not running it again (--no-cache to force)")
        return StageOutcome(outputs: [("image", .string(entry.outputs["image"] ?? "")),
                                      ("verdict_from_run", .string(entry.outputs["run"] ?? ""))], cached: true)
    }

    /// Records a pass.
    func store(image: String, context: StageContext) throws {
        try context.cache.store(kind: kind, key: key, pipeline: context.pipeline,
                                outputs: ["image": image, "run": context.runID])
    }
}
