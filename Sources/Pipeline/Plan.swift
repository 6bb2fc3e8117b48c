/// A validated pipeline: stages in a dependency order, every reference resolved.
public struct Plan: Sendable {
    /// The definition it was made from.
    public let definition: PipelineDefinition
    /// Every stage, each after all of its dependencies (file order among independent stages).
    public let stages: [PlannedStage]

    /// The stage called `name`, if any.
    public func stage(named name: String) -> PlannedStage? { stages.first { $0.name == name } }

    /// The plan cut down to `target` and what it needs, transitively (for `--stage NAME`).
    /// Returns nil if there is no such stage.
    public func restricted(to target: String) -> Plan? {
        restricted(to: [target])
    }

    /// The plan cut down to the stages `keep` accepts and every stage they need, in the same
    /// order; empty when `keep` accepts none (a reproducibility check of a pipeline with nothing
    /// to check runs no stage).
    public func restricted(where keep: (PlannedStage) -> Bool) -> Plan {
        let targets = stages.filter(keep).map(\.name)
        return restricted(to: targets) ?? Plan(definition: definition, stages: [])
    }

    /// The plan cut down to `targets` and every stage they need, in the same order (a run of
    /// "only the failed stages"); nil if `targets` is empty or names a stage the plan lacks.
    public func restricted(to targets: [String]) -> Plan? {
        guard !targets.isEmpty, targets.allSatisfy({ stage(named: $0) != nil }) else { return nil }
        var wanted = Set(targets)
        // Stages come in dependency order, so one backwards pass closes the set.
        for stage in stages.reversed() where wanted.contains(stage.name) {
            wanted.formUnion(stage.dependencies)
        }
        return Plan(definition: definition, stages: stages.filter { wanted.contains($0.name) })
    }
}

/// A stage with its dependencies resolved: `needs` plus every stage it reads outputs from.
public struct PlannedStage: Sendable {
    /// The stage as defined.
    public let definition: StageDefinition
    /// Names of the stages that must pass before this one starts.
    public let dependencies: [String]

    /// The stage's name.
    public var name: String { definition.name }
    /// The stage's kind.
    public var kind: String { definition.kind }
}

/// What the checks between stages need of one stage. There is one for every stage that could
/// be read at all, even one whose kind block failed, so that a definition with one broken stage
/// still has the references of the others checked.
struct StageOutline: Sendable {
    let name: String
    let position: SourcePosition
    /// nil when the stage's kind could not be told (none, several, or misspelt).
    let kind: String?
    /// `needs`, then the references of its kind block, as written.
    let references: [StageReference]
}

/// Checks the graph of stages and orders it.
public enum Planner {
    /// Validates references, kinds and acyclicity, and orders the stages.
    /// - Throws: `DefinitionError` with every problem found.
    public static func plan(_ definition: PipelineDefinition, implementedKinds: Set<String>? = nil) throws(DefinitionError) -> Plan {
        let outlines = definition.stages.map {
            StageOutline(name: $0.name, position: $0.position, kind: $0.kind, references: $0.needs + $0.spec.references)
        }
        let (diagnostics, dependencies) = check(outlines, implementedKinds: implementedKinds)
        guard diagnostics.isEmpty else { throw DefinitionError(diagnostics) }

        let byName = Dictionary(definition.stages.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let order = topologicalOrder(definition.stages.map(\.name), dependencies: dependencies)
        let stages = order.map { PlannedStage(definition: byName[$0]!, dependencies: dependencies[$0] ?? []) }
        return Plan(definition: definition, stages: stages)
    }

    /// The problems between `stages` (unknown, self- and wrong-kind references, kinds this build
    /// cannot run, cycles) and each stage's dependencies. A stage whose kind is unknown is
    /// neither a wrong kind nor checked against `implementedKinds`: its own problem is reported
    /// where it was read.
    static func check(_ stages: [StageOutline],
                      implementedKinds: Set<String>?) -> (diagnostics: [Diagnostic], dependencies: [String: [String]]) {
        var diagnostics: [Diagnostic] = []
        let byName = Dictionary(stages.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let names = stages.map(\.name)
        var dependencies: [String: [String]] = [:]

        for stage in stages {
            if let implementedKinds, let kind = stage.kind, !implementedKinds.contains(kind) {
                diagnostics.append(Diagnostic(stage.position,
                    "stage '\(stage.name)' is of kind '\(kind)', which this build of Sutradhar cannot run; it runs: \(implementedKinds.sorted().joined(separator: ", "))"))
            }
            var targets: [String] = []
            for reference in stage.references {
                guard let target = byName[reference.name] else {
                    diagnostics.append(Diagnostic(reference.position, "'\(reference.field)' names an unknown stage '\(reference.name)'"
                        + DidYouMean.hint(for: reference.name, among: names.sorted())))
                    continue
                }
                if reference.name == stage.name {
                    diagnostics.append(Diagnostic(reference.position, "'\(reference.field)': stage '\(stage.name)' cannot depend on itself"))
                    continue
                }
                if let requirement = reference.requirement, let targetKind = target.kind, !requirement.isMet(byKind: targetKind) {
                    diagnostics.append(Diagnostic(reference.position,
                        "'\(reference.field)' names '\(reference.name)', a \(targetKind) stage; it must name a \(requirement.kindsText) stage"))
                }
                if !targets.contains(reference.name) { targets.append(reference.name) }
            }
            dependencies[stage.name] = targets
        }

        for cycle in cycles(in: names, dependencies: dependencies) {
            let position = byName[cycle[0]]!.position
            diagnostics.append(Diagnostic(position, "stages form a cycle: \((cycle + [cycle[0]]).joined(separator: " -> ")); remove one of these needs"))
        }
        return (diagnostics, dependencies)
    }

    /// Kahn's algorithm; ties are broken by file order so that plans read like the file.
    static func topologicalOrder(_ names: [String], dependencies: [String: [String]]) -> [String] {
        var remaining = names
        var done: Set<String> = []
        var order: [String] = []
        while let index = remaining.firstIndex(where: { (dependencies[$0] ?? []).allSatisfy(done.contains) }) {
            let name = remaining.remove(at: index)
            done.insert(name)
            order.append(name)
        }
        return order
    }

    /// Each elementary cycle found by a depth-first search, once (rotated to start at its
    /// earliest stage in file order).
    static func cycles(in names: [String], dependencies: [String: [String]]) -> [[String]] {
        enum Mark { case visiting, done }
        var marks: [String: Mark] = [:]
        var stack: [String] = []
        var found: [[String]] = []
        var seen: Set<[String]> = []
        let rank = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })

        func visit(_ name: String) {
            marks[name] = .visiting
            stack.append(name)
            for next in dependencies[name] ?? [] {
                switch marks[next] {
                case .visiting:
                    // Stack order follows "needs": reverse it so the cycle reads in run order.
                    var cycle = Array(stack[stack.lastIndex(of: next)!...].reversed())
                    let start = cycle.indices.min { rank[cycle[$0]]! < rank[cycle[$1]]! }!
                    cycle = Array(cycle[start...] + cycle[..<start])
                    if seen.insert(cycle).inserted { found.append(cycle) }
                case .done:
                    break
                case nil:
                    visit(next)
                }
            }
            stack.removeLast()
            marks[name] = .done
        }
        for name in names where marks[name] == nil { visit(name) }
        return found
    }
}
