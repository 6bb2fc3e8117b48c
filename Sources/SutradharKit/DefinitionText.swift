import Engine
import Foundation
import Pipeline
import RunEvents

extension Definitions {
    /// The most definition text a front end accepts inline (a definition is a few kilobytes).
    public static let maximumTextBytes = 256 * 1024

    /// A definition given as text (an agent's draft), validated as `load` validates a file.
    /// - Parameters:
    ///   - text: the definition's YAML.
    ///   - name: what the diagnostics call the text, e.g. `<definition>`.
    ///   - directory: where relative paths in it resolve (nothing there is read or written).
    /// - Throws: `DefinitionError` with every problem found.
    public static func load(text: String, name: String, directory: URL) throws(DefinitionError) -> Plan {
        guard text.utf8.count <= maximumTextBytes else {
            throw DefinitionError([Diagnostic(SourcePosition(file: name, line: 1, column: 1),
                                              "the definition is larger than \(maximumTextBytes / 1024) KiB; a pipeline definition is a few kilobytes")])
        }
        let definition = try PipelineLoader.parse(yaml: text, file: name, directory: directory, implementedKinds: Engine.implementedKinds)
        return try Planner.plan(definition, implementedKinds: Engine.implementedKinds)
    }
}
