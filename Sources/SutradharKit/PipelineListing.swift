import Engine
import Foundation
import Pipeline

/// One pipeline of a served folder as front ends list it (MCP `list_pipelines`): its name and
/// file and, when it is valid, its description, source and stages; when it is not, the problems.
public struct PipelineListing: Encodable, Sendable {
    /// A stage: its name, kind and the stages it needs.
    public struct Stage: Encodable, Sendable {
        public let name: String
        public let kind: String
        public let needs: [String]
    }

    /// Where the pipeline's source is: a git location and ref, or a folder.
    public enum Source: Encodable, Sendable {
        case git(String, ref: String?)
        case path(String)

        private enum CodingKeys: String, CodingKey { case git, ref, path }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            switch self {
            case .git(let location, let ref):
                try container.encode(location, forKey: .git)
                try container.encode(ref, forKey: .ref)
            case .path(let location):
                try container.encode(location, forKey: .path)
            }
        }
    }

    public let name: String
    public let file: String
    /// The loaded plan's parts; nil when the definition is invalid.
    public let description: String?
    public let source: Source?
    public let stages: [Stage]?
    /// Why the definition is invalid; empty when it is valid.
    public let problems: [Diagnostic]

    public var valid: Bool { stages != nil }

    /// Pipeline `name`, defined in `file`, loaded (and so validated) as `run` would.
    public init(name: String, file: String) {
        self.name = name
        self.file = file
        do throws(DefinitionError) {
            let plan = try Definitions.load(file)
            let definition = plan.definition
            description = definition.description
            source = switch definition.source.location {
            case .git(let location): .git(location, ref: definition.source.ref)
            case .path(let location): .path(location)
            }
            stages = plan.stages.map { Stage(name: $0.name, kind: $0.kind, needs: $0.dependencies) }
            problems = []
        } catch {
            (description, source, stages, problems) = (nil, nil, nil, error.diagnostics)
        }
    }

    private enum CodingKeys: String, CodingKey { case name, file, valid, description, source, stages, problems }

    /// A valid pipeline: `name`, `file`, `valid`, `description` (null when none), `source`,
    /// `stages`; an invalid one: `name`, `file`, `valid`, `problems`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(file, forKey: .file)
        try container.encode(valid, forKey: .valid)
        if let stages {
            try container.encode(description, forKey: .description)
            try container.encode(source, forKey: .source)
            try container.encode(stages, forKey: .stages)
        } else {
            try container.encode(problems, forKey: .problems)
        }
    }
}
