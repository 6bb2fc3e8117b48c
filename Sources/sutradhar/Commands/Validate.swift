import ArgumentParser
import Foundation
import SutradharKit

/// `sutradhar validate PIPELINE...`: check definitions without running anything.
struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check pipeline definitions and list every problem with its file:line:column.",
        discussion: "Exits 0 if every definition is valid, 2 otherwise. Nothing is fetched, built or started.")

    @Argument(help: "Definition files, or NAMEs for pipelines/NAME.yaml.")
    var pipelines: [String]

    @Flag(help: "Print one JSON object per definition: {\"file\", \"valid\", \"problems\": [{\"file\",\"line\",\"column\",\"message\"}]}.")
    var json = false

    func validate() throws {
        guard !pipelines.isEmpty else { throw ValidationError("name at least one pipeline, e.g. 'sutradhar validate example'") }
    }

    func run() async throws {
        var failures = 0
        for argument in pipelines {
            let path: String
            do {
                path = try DefinitionFiles.locate(argument)
            } catch let failure as CommandFailure {
                failures += 1
                report(file: argument, plan: nil, diagnostics: [Diagnostic(SourcePosition(file: argument, line: 1, column: 1), failure.message)])
                continue
            }
            do {
                let plan = try PipelineLoader.load(path: path, implementedKinds: Engine.implementedKinds)
                report(file: path, plan: plan, diagnostics: [])
            } catch {
                failures += 1
                report(file: path, plan: nil, diagnostics: error.diagnostics)
            }
        }
        if failures > 0 { throw Exit.invalidDefinition }
    }

    private func report(file: String, plan: Plan?, diagnostics: [Diagnostic]) {
        if json {
            // Strings and integers: encoding cannot fail.
            print((try? OrderedJSONEncoder().serialized(DefinitionCheck(file: file, problems: diagnostics))) ?? "{}")
        } else if let plan {
            let order = plan.stages.map { "\($0.name) (\($0.kind))" }.joined(separator: " → ")
            print("\(file): valid — \(plan.definition.name): \(order)")
        } else {
            for diagnostic in diagnostics { print(TextPolicy.terminal("\(diagnostic)")) }
            print("\(file): \(diagnostics.count) problem\(diagnostics.count == 1 ? "" : "s")")
        }
    }
}
