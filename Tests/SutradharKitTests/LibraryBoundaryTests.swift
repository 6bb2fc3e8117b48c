import Automation
import FileWatching
import Foundation
@testable import Maintenance
import SutradharKit
import SutradharTesting
import Testing

/// What every front end shares, now in the library: the cache root rules, pipeline lookup with a
/// typed error, definition loading with typed diagnostics, and the trigger inference.
@Suite struct LibraryBoundaryTests {
    @Test func cacheRootFollowsTheReadmeRulesInOrder() {
        let home = FileManager.default.homeDirectoryForCurrentUser.path
        let definition = "/p/project/pipelines/example.yaml"
        #expect(CacheRoot.resolve(explicit: "/x/../explicit", definitionPath: definition,
                                  environment: ["SUTRADHAR_CACHE": "/env"]).path == "/explicit")
        #expect(CacheRoot.resolve(definitionPath: definition, environment: ["SUTRADHAR_CACHE": "/env"]).path == "/env")
        #expect(CacheRoot.resolve(definitionPath: definition, environment: ["SUTRADHAR_CACHE": ""]).path == "/p/project/cache")
        #expect(CacheRoot.resolve(definitionPath: "/p/elsewhere/example.yaml", environment: ["XDG_CACHE_HOME": "/xdg"]).path
            == "/xdg/sutradhar")
        #expect(CacheRoot.resolve(definitionPath: nil, environment: [:]).path == home + "/.cache/sutradhar")
    }

    @Test func anUnknownPipelineIsATypedErrorNamingTheKnownOnes() async throws {
        try await GitFixtures.withTemporaryDirectory { folder in
            let pipelines = folder.appendingPathComponent("pipelines")
            try FileManager.default.createDirectory(at: pipelines, withIntermediateDirectories: true)
            try Data("version: 1\n".utf8).write(to: pipelines.appendingPathComponent("alpha.yaml"))
            try Data("version: 1\n".utf8).write(to: pipelines.appendingPathComponent("beta.yaml"))
            let error = #expect(throws: PipelineNotFound.self) { try Definitions.locate("gamma", from: folder) }
            #expect(error == PipelineNotFound(name: "gamma", known: ["alpha", "beta"]))
            #expect(error?.message
                == "no pipeline 'gamma': not a file, and no pipelines/gamma.yaml here or above; known pipelines: alpha, beta")
            #expect(try Definitions.locate("alpha", from: folder).hasSuffix("pipelines/alpha.yaml"))
            // A definition with problems is typed diagnostics, each with its position.
            let invalid = #expect(throws: DefinitionError.self) { try Definitions.load(pipelines.appendingPathComponent("alpha.yaml").path) }
            #expect(invalid?.diagnostics.isEmpty == false)
            #expect(invalid?.diagnostics.allSatisfy { $0.position.file.hasSuffix("alpha.yaml") } == true)
        }
    }

    @Test func triggerIsLocalForAFolderAgentForJSONWithoutATerminalElseManual() {
        #expect(RunTrigger.inferred(source: "/home/me/src", jsonEvents: true, outputIsTerminal: false) == .local)
        #expect(RunTrigger.inferred(source: "https://example.com/r.git", jsonEvents: true, outputIsTerminal: false) == .agent)
        #expect(RunTrigger.inferred(source: nil, jsonEvents: true, outputIsTerminal: false) == .agent)
        #expect(RunTrigger.inferred(source: nil, jsonEvents: true, outputIsTerminal: true) == .manual)
        #expect(RunTrigger.inferred(source: nil, jsonEvents: false, outputIsTerminal: false) == .manual)
        #expect(RunTrigger.allCases.map(\.rawValue) == ["agent", "nightly", "local", "manual"])
    }
}

/// Library errors and fixes do not tell users to pass CLI flags: they carry a typed remedy and
/// each front end words its own advice.
@Suite struct FlagFreeAdviceTests {
    @Test func doctorNamesTheRemedyNotTheFlag() async throws {
        try await GitFixtures.withTemporaryDirectory { folder in
            let missing = "unix://" + folder.appendingPathComponent("no-daemon.sock").path
            let checks = await Doctor.dockerChecks(options: RunOptions(cacheRoot: folder, dockerHost: missing))
            let docker = try #require(checks.first { !$0.ok }, "\(checks)")
            #expect(docker.remedy == .chooseDockerHost)
            #expect(docker.fix?.contains("--") == false, "\(docker.fix ?? "")")

            let unwritable = folder.appendingPathComponent("file")
            try Data().write(to: unwritable)
            let cache = Doctor.cacheChecks(root: unwritable.appendingPathComponent("cache"))
            #expect(cache.first?.ok == false)
            #expect(cache.first?.remedy == .chooseCacheRoot)
            #expect(cache.first?.fix?.contains("--") == false, "\(cache.first?.fix ?? "")")
        }
    }

    @Test func schedulingIntoAnUnwritableFolderNamesTheRemedyNotTheFlag() async throws {
        try await GitFixtures.withTemporaryDirectory { folder in
            let notAFolder = folder.appendingPathComponent("file")
            try Data().write(to: notAFolder)
            let manager = SystemdUserManager(unitDirectory: notAFolder.appendingPathComponent("units"))
            let units = try SystemdUnits(pipeline: "example", executable: "/usr/bin/sutradhar", definitionFile: "/p/pipelines/example.yaml",
                                         cacheRoot: "/p/cache", schedule: nil, environment: [])
            let error = await #expect(throws: CallerError.self) { try await manager.install(units) }
            #expect(error?.code == .io)
            #expect(error?.remedy == .chooseUnitFolder)
            #expect(error?.message.contains("--") == false, "\(error?.message ?? "")")
        }
    }
}
