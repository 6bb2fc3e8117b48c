import Foundation
import SutradharTesting
import Testing

/// Every CLI command names itself. Without `commandName`, ArgumentParser derives a command's name
/// from its type (`String(describing:)`) when it builds the command tree — for every command, on
/// every start — and each of those casts scans all of the binary's protocol conformances: a
/// third of `sutradhar --version`'s CPU time (Benchmarks/README.md, start-up).
@Suite struct CommandNamesTests {
    @Test func everyCommandConfigurationBeginsWithItsCommandName() throws {
        let base = SutradharCLI.repositoryRoot.appendingPathComponent("Sources/sutradhar")
        let files = FileManager.default.enumerator(atPath: base.path)?.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") } ?? []
        var configurations = 0
        var unnamed: [String] = []
        for file in files {
            let text = try String(contentsOf: base.appendingPathComponent(file), encoding: .utf8)
            for match in text.matches(of: /CommandConfiguration\(\s*(\w+)?/) {
                configurations += 1
                if match.output.1 != "commandName" { unnamed.append("\(file): \(text[match.range].prefix(80))") }
            }
        }
        #expect(configurations > 20, "the commands are under Sources/sutradhar")
        #expect(unnamed.isEmpty, "\(unnamed.joined(separator: "\n"))")
    }
}
