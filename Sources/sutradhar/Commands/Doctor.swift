import ArgumentParser
import Foundation
import SutradharKit

/// `sutradhar doctor`: is everything a run needs here?
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check nix, libgit2, the cache folder, free disk and the Docker daemon; one line each.",
        discussion: "Exits 0 when everything needed is there, 3 if anything is missing (each problem says how to fix it). "
            + "Name pipelines to also ping their remote builders (nix.builders) and check their push key (cache.nix-push).")

    @Argument(help: "Pipelines (NAME or file) whose remote builders and binary cache to check too.")
    var pipelines: [String] = []

    @Flag(help: "Print the checks as one JSON object.")
    var json = false

    @OptionGroup var cacheOptions: CacheOptions
    @OptionGroup var dockerOptions: DockerOptions

    func run() async throws {
        let options = RunOptions(cacheRoot: cacheOptions.resolve(definitionPath: Self.defaultDefinitionPath()),
                                 dockerHost: dockerOptions.dockerHost, allowRootful: dockerOptions.allowRootful)
        let definitions = try pipelines.map { try DefinitionFiles.load(DefinitionFiles.locate($0)).definition }
        var report = await Doctor.report(options: options, pipelines: definitions)
        for index in report.checks.indices {
            report.checks[index].fix = Self.advice(for: report.checks[index])
        }
        if json {
            print(try OrderedJSONEncoder().serialized(report))
        } else {
            for check in report.checks {
                let mark = check.ok ? "ok  " : "FAIL"
                print("\(mark) \(check.name.padding(toLength: 14, withPad: " ", startingAt: 0)) \(TextPolicy.terminal(check.detail))")
                if !check.ok, let fix = check.fix { print("     \(String(repeating: " ", count: 14)) fix: \(fix)") }
            }
        }
        if !report.ok { throw Exit.environmentProblem }
    }

    /// A check's fix as the CLI words it: the library names the setting (`remedy`), the CLI its flag.
    static func advice(for check: DoctorCheck) -> String? {
        switch check.remedy {
        case .chooseCacheRoot: "choose a writable folder with --cache-dir or SUTRADHAR_CACHE"
        case .allowRootful: "use a rootless daemon (scripts/setup.sh starts one) or pass --allow-rootful knowingly"
        case .chooseDockerHost: "start it (scripts/setup.sh), or name another socket with --docker-host"
        case .allowNetwork, .freeCacheSpace, nil: check.fix  // no check of doctor's suggests them
        }
    }

    /// The cache doctor checks is the one `run` would use from here: that of the nearest pipelines/.
    static func defaultDefinitionPath() -> String? {
        Definitions.defaultDefinitionPath()
    }
}
