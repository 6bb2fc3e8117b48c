/// Every mapping of the definition language and the keys it takes, so that a key written at the
/// wrong level (`timeout:` inside `smoke:`, say) is answered with where it belongs rather than a
/// list of what is allowed. Each kind keeps its own keys beside its reader; this only gathers them.
/// Keys are listed in the order docs/definitions.md documents them, which is the order messages list them.
enum DefinitionSchema {
    /// One mapping: where it is (`*` stands for any stage's name, `[]` for any item of a list),
    /// how messages call its keys, and the keys.
    struct Level: Sendable {
        let path: [String]
        let title: String
        let keys: [String]
    }

    /// Where a key that is not allowed in a mapping belongs instead.
    enum Placement: Equatable {
        /// It is a field of another level: the advice says where to move it.
        case move(String)
        /// It is a field of another stage kind: there is nowhere to move it in this stage.
        case otherKind(String)
    }

    static let stage = ["stages", "*"]

    static let levels: [Level] = {
        var levels = [
            Level(path: [], title: "a top-level field", keys: PipelineLoader.topLevelKeys),
            Level(path: ["source"], title: "a 'source' field", keys: PipelineLoader.sourceKeys),
            Level(path: ["nix"], title: "a 'nix' field", keys: PipelineLoader.nixKeys),
            Level(path: ["cache"], title: "a 'cache' field", keys: PipelineLoader.cacheKeys),
            Level(path: ["nightly"], title: "a 'nightly' field", keys: PipelineLoader.nightlyKeys),
            Level(path: stage, title: "a stage field", keys: PipelineLoader.stageKeys),
            Level(path: stage, title: "a stage kind", keys: StageKinds.names),
            Level(path: stage + [NixBuildSpec.kind], title: "a nix-build field", keys: NixBuildSpec.keys),
            Level(path: stage + [DockerLoadSpec.kind], title: "a docker-load field", keys: DockerLoadSpec.keys),
            Level(path: stage + [SmokeSpec.kind], title: "a smoke field", keys: SmokeSpec.keys),
            Level(path: stage + [SmokeSpec.kind, "probe"], title: "a probe field", keys: Probe.keys),
            Level(path: stage + [SmokeSpec.kind, "probe", "sidecar"], title: "a sidecar field", keys: Probe.sidecarKeys),
            Level(path: stage + [ContainerStageSpec.kind], title: "a container field", keys: ContainerStageSpec.keys),
            Level(path: stage + [DockerBuildSpec.kind], title: "a docker-build field", keys: DockerBuildSpec.keys),
        ]
        for kind in [SmokeSpec.kind, ContainerStageSpec.kind] {
            levels.append(Level(path: stage + [kind, "limits"], title: "a limits field", keys: ContainerLimits.keys))
            levels.append(Level(path: stage + [kind, "mounts", "[]"], title: "a mount field", keys: CheckoutMount.keys))
        }
        return levels
    }()

    /// Every key of every level, once, for did-you-mean across levels.
    static let allKeys: [String] = levels.flatMap(\.keys).reduce(into: []) { keys, key in
        if !keys.contains(key) { keys.append(key) }
    }

    /// Where `key` belongs, if it is a field of a level other than `schema`. `siblings` are the
    /// mapping's keys: at the stage level they tell the stage's kind.
    ///
    /// Of several levels taking the key, the nearest wins: an enclosing level (innermost first),
    /// then a nested one (shallowest first, in the stage's own kind), then any other; a level of
    /// another stage kind comes last, as nothing can be moved there.
    static func placement(of key: String, at schema: [String], siblings: [String]) -> Placement? {
        let kind: String?
        if schema.count > 2, schema[0] == "stages" {
            kind = schema[2]
        } else if schema == stage {
            let kinds = siblings.filter(StageKinds.names.contains)
            kind = kinds.count == 1 ? kinds[0] : nil
        } else {
            kind = nil
        }
        func crossesKinds(_ level: Level) -> Bool {
            guard let kind, level.path.count > 2, level.path[0] == "stages" else { return false }
            return level.path[2] != kind
        }
        func rank(_ level: Level, _ index: Int) -> (Int, Int, Int) {
            if crossesKinds(level) { return (3, 0, index) }
            if level.path.count < schema.count, Array(schema.prefix(level.path.count)) == level.path {
                return (0, schema.count - level.path.count, index)
            }
            if schema.count < level.path.count, Array(level.path.prefix(schema.count)) == schema {
                return (1, level.path.count - schema.count, index)
            }
            return (2, level.path.count, index)
        }
        let candidates = levels.enumerated().filter { $0.element.keys.contains(key) && $0.element.path != schema }
        guard let level = candidates.min(by: { rank($0.element, $0.offset) < rank($1.element, $1.offset) })?.element else {
            return nil
        }
        let subject = "'\(key)' is \(level.title)"
        if crossesKinds(level), let kind {
            return .otherKind("\(subject), not a \(kind) field")
        }
        let common = zip(schema, level.path).prefix { $0 == $1 }.count
        let target = Array(level.path[common...])
        if common == level.path.count {
            // An enclosing level: up past the key that leads here.
            let anchor = schema[common]
            if level.path.isEmpty { return .move("\(subject); move it to the top level, beside '\(anchor)'") }
            return .move("\(subject); move it up \(levelCount(schema.count - common)), beside '\(anchor)'")
        }
        if target.first == "stages" {
            let inside = target.count > 2 ? ", inside its \(describe(Array(target.dropFirst(2))))" : ""
            return .move("\(subject); move it into a stage under 'stages'\(inside)")
        }
        if common == 0 { return .move("\(subject); move it into the top-level \(describe(target))") }
        if common == schema.count { return .move("\(subject); move it into \(describe(target))") }
        return .move("\(subject); move it into \(describe(target)), beside '\(schema[common])'")
    }

    /// `'probe'`, or `an item of 'mounts'` for a path ending in a list's items.
    private static func describe(_ path: [String]) -> String {
        if path.last == "[]" { return "an item of '\(path.dropLast().joined(separator: "."))'" }
        return "'\(path.joined(separator: "."))'"
    }

    private static func levelCount(_ count: Int) -> String {
        switch count {
        case 1: return "one level"
        case 2: return "two levels"
        case 3: return "three levels"
        default: return "\(count) levels"
        }
    }
}
