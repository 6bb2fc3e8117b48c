import Foundation
import SutradharTesting
import Testing

/// The front ends (the CLI, the MCP server, the dashboard, the example program and the history
/// generator) are thin over one library: they import `SutradharKit` and their own frameworks,
/// never a module below it. A front end that needs a lower type gets it exported by name from
/// `Sources/SutradharKit/Exports.swift`, on purpose.
@Suite struct ModuleBoundaryTests {
    static let root = SutradharCLI.repositoryRoot

    /// The folders of the front ends, and what each may import besides `SutradharKit`.
    static let frontEnds: [(folder: String, ownModules: Set<String>)] = [
        ("Sources/sutradhar", ["SutradharMCP", "SutradharDashboard"]),
        ("Sources/SutradharMCP", []),
        // Charts draws the dashboard's SVG; nothing else uses it.
        ("Sources/SutradharDashboard", ["Charts"]),
        ("Examples/KitExample", []),
        ("Benchmarks/HistoryGenerator", []),
    ]

    /// Every module of this package (a folder of Sources/), so the check follows new modules.
    static func packageModules() throws -> Set<String> {
        Set(try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("Sources").path))
    }

    /// The modules `text` imports, whatever the import's attributes or kind.
    static func imports(in text: String) -> [String] {
        text.split(separator: "\n").compactMap { line in
            line.firstMatch(of: /^(?:@\w+(?:\([^)]*\))? )*(?:public |internal |package |private )?import (?:struct |class |enum |protocol |func |var |typealias )?(\w+)/)
                .map { String($0.output.1) }
        }
    }

    @Test func frontEndsImportNothingBelowSutradharKit() throws {
        let modules = try Self.packageModules()
        #expect(modules.contains("Engine") && modules.contains("RunEvents"), "the Sources folder was read")
        var crossings: [String] = []
        for (folder, own) in Self.frontEnds {
            let base = Self.root.appendingPathComponent(folder)
            let files = FileManager.default.enumerator(atPath: base.path)?.compactMap { $0 as? String } ?? []
            #expect(files.contains { $0.hasSuffix(".swift") }, "\(folder) has Swift files")
            for file in files where file.hasSuffix(".swift") {
                let text = try String(contentsOf: base.appendingPathComponent(file), encoding: .utf8)
                for module in Self.imports(in: text) where modules.contains(module) && module != "SutradharKit" && !own.contains(module) {
                    crossings.append("\(folder)/\(file) imports \(module)")
                }
            }
        }
        #expect(crossings.isEmpty, "front ends import SutradharKit only; export what they need by name in Exports.swift:\n\(crossings.joined(separator: "\n"))")
    }

    @Test func theImportReaderSeesEveryFormOfImport() {
        let text = "import Engine\n@testable import RunHistory\n@_exported import struct Pipeline.PipelineLoader\ninternal import CYaml\n// import Comment\n"
        #expect(Self.imports(in: text) == ["Engine", "RunHistory", "Pipeline", "CYaml"])
    }
}
