import ArgumentParser
import Engine
import Foundation
import Pipeline
import RunHistory

/// `sutradhar doctor`: is everything a run needs here?
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check nix, libgit2, the cache folder, free disk and the Docker daemon; one line each.",
        discussion: "Exits 0 when everything needed is there, 3 if anything is missing (each problem says how to fix it).")

    @Flag(help: "Print the checks as one JSON object.")
    var json = false

    @OptionGroup var cacheOptions: CacheOptions
    @OptionGroup var dockerOptions: DockerOptions

    func run() async throws {
        let options = RunOptions(cacheRoot: cacheOptions.resolve(definitionPath: Self.defaultDefinitionPath()),
                                 dockerHost: dockerOptions.dockerHost, allowRootful: dockerOptions.allowRootful)
        let checks = await Doctor.checks(options: options) + [RunHistory.doctorCheck(cacheRoot: options.cacheRoot)]
        if json {
            let items = checks.map { check -> JSONValue in
                .object([("name", .string(check.name)), ("ok", .bool(check.ok)), ("detail", .string(check.detail)),
                         ("fix", check.fix.map(JSONValue.string) ?? .null)])
            }
            print(JSONValue.object([("ok", .bool(checks.allSatisfy(\.ok))), ("checks", .array(items))]).serialized())
        } else {
            for check in checks {
                let mark = check.ok ? "ok  " : "FAIL"
                print("\(mark) \(check.name.padding(toLength: 14, withPad: " ", startingAt: 0)) \(check.detail)")
                if !check.ok, let fix = check.fix { print("     \(String(repeating: " ", count: 14)) fix: \(fix)") }
            }
        }
        if !checks.allSatisfy(\.ok) { throw Exit.environmentProblem }
    }

    /// The cache doctor checks is the one `run` would use from here: that of the nearest pipelines/.
    static func defaultDefinitionPath() -> String? {
        let here = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        return Pipeline.PipelineLocator.knownPipelines(from: here).first.flatMap {
            Pipeline.PipelineLocator.locate($0, from: here)
        }
    }
}
