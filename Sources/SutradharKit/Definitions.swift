import Engine
import Foundation
import Pipeline
import RunEvents

/// No definition answers a pipeline name: not a file, and no `pipelines/NAME.yaml` at or above
/// the folder looked from. A front end shows `message` (exit 2 in the CLI).
public struct PipelineNotFound: Error, Sendable, Equatable, CustomStringConvertible {
    /// The name or path asked for.
    public let name: String
    /// The pipelines that are there (names of `pipelines/*.yaml` at or above the folder).
    public let known: [String]

    public init(name: String, known: [String]) {
        self.name = name
        self.known = known
    }

    /// `no pipeline 'X': not a file, and no pipelines/X.yaml here or above; known pipelines: a, b`.
    public var message: String {
        let hint = known.isEmpty ? "" : "; known pipelines: \(known.joined(separator: ", "))"
        return "no pipeline '\(name)': not a file, and no pipelines/\(name).yaml here or above\(hint)"
    }

    public var description: String { message }
}

/// Finding, loading and validating definitions as every front end does.
public enum Definitions {
    /// The definition file for `argument`: a file path, or NAME for `pipelines/NAME.yaml` looked
    /// up from `folder` upwards.
    /// - Throws: `PipelineNotFound`, with the pipelines that are there.
    public static func locate(_ argument: String,
                              from folder: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        throws(PipelineNotFound) -> String {
        if let path = PipelineLocator.locate(argument, from: folder) { return path }
        throw PipelineNotFound(name: argument, known: PipelineLocator.knownPipelines(from: folder))
    }

    /// The definition at `path`, validated against the stage kinds this build runs, as a plan.
    /// - Throws: `DefinitionError` with every problem found (typed diagnostics with positions).
    public static func load(_ path: String) throws(DefinitionError) -> Plan {
        try PipelineLoader.load(path: path, implementedKinds: Engine.implementedKinds)
    }

    /// The definition `run` would use from `folder` when none is named: the first pipeline of the
    /// nearest `pipelines/` folder (its cache is the one doctor and the cache tools look at).
    public static func defaultDefinitionPath(
        from folder: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)) -> String? {
        PipelineLocator.knownPipelines(from: folder).first.flatMap { PipelineLocator.locate($0, from: folder) }
    }
}
