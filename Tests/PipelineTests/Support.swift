import Foundation
import Testing
@testable import Pipeline

/// Fixture definitions, found next to this file (no resources in Package.swift).
enum Fixture {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// The repository's own `pipelines/` folder (two levels above this file's folder).
    static let repositoryPipelines = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("pipelines")
}

/// The folder inline definitions pretend to live in; nothing is read from it.
let definitionFolder = URL(fileURLWithPath: "/work/defs/pipelines")

/// Lines 1-4 of most inline definitions, so that `stages:` is line 5 and the first stage line 6.
func withStages(_ stages: String) -> String {
    """
    version: 1
    name: t
    source:
      path: src
    stages:
    \(stages)
    """
}

func parse(_ yaml: String) throws(DefinitionError) -> PipelineDefinition {
    try PipelineLoader.parse(yaml: yaml, file: "p.yaml", directory: definitionFolder)
}

func plan(_ yaml: String, implementedKinds: Set<String>? = nil) throws(DefinitionError) -> Plan {
    try Planner.plan(parse(yaml), implementedKinds: implementedKinds)
}

/// The rendered diagnostics of a definition that must be refused (when parsed or planned);
/// records an issue if it is accepted.
func diagnostics(_ yaml: String, implementedKinds: Set<String>? = nil,
                 sourceLocation: SourceLocation = #_sourceLocation) -> [String] {
    do {
        _ = try plan(yaml, implementedKinds: implementedKinds)
        Issue.record("the definition was accepted; expected it to be refused", sourceLocation: sourceLocation)
        return []
    } catch {
        return error.diagnostics.map(\.description)
    }
}

/// The definition's plan, recording the diagnostics as an issue if it is refused.
func accepted(_ yaml: String, sourceLocation: SourceLocation = #_sourceLocation) -> Plan? {
    do {
        return try plan(yaml)
    } catch {
        Issue.record("refused:\n\(error)", sourceLocation: sourceLocation)
        return nil
    }
}

extension Plan {
    var order: [String] { stages.map(\.name) }

    func spec<Spec: StageSpec>(_ name: String, as type: Spec.Type) -> Spec? {
        stage(named: name)?.definition.spec as? Spec
    }
}

extension ImageSource {
    /// The stage named, if the image is a stage's.
    var stageName: String? {
        if case .stage(let reference) = self { return reference.name }
        return nil
    }
}
