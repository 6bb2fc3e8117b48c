import Foundation
import DockerEngine
import NixBuild
import RunEvents
import Testing

@testable import BuildCache
@testable import Engine
@testable import Pipeline

/// Library errors on the run path name no CLI flag: they name the setting in
/// neutral words and carry a typed `Remedy`, which the events write as `remedy` beside `code`
/// and each front end words as its own advice (the CLI's flags, an MCP server's parameters).
@Suite struct RemedyTests {
    /// The flags of the CLI that a library message must not name.
    static let flags = ["--allow-rootful", "--allow-network", "--docker-host", "--cache-dir", "--no-cache",
                        "--max-runs", "--source", "--commit"]

    private func namesAFlag(_ text: String) -> [String] {
        Self.flags.filter { text.contains($0) }
    }

    private static let rootfulDaemon = DaemonInfo(serverVersion: "27.0", apiVersion: "1.46", securityOptions: [], isRootless: false,
                                                  storageDriver: "overlay2", cgroupDriver: "systemd", cgroupVersion: "2",
                                                  operatingSystem: "Debian")
    private static let host = DockerHost(socketPath: "/run/docker.sock", origin: .systemDefault, reason: "the system default socket")

    @Test func aRootfulDaemonIsRefusedWithTheAllowRootfulRemedyAndNoFlag() throws {
        let options = RunOptions(cacheRoot: URL(fileURLWithPath: "/tmp/cache"))
        let error = try #require(throws: EnvironmentError.self) {
            try DockerSession.checkPolicy(info: Self.rootfulDaemon, host: Self.host, options: options, warn: { _ in })
        }
        #expect(error.remedy == .allowRootful)
        #expect(error.message.contains("unless rootful daemons are allowed for this run"), "\(error.message)")
        #expect(namesAFlag(error.message).isEmpty, "\(error.message)")
        let failure = ClassifiedFailure(error)
        #expect(failure.remedy == .allowRootful && failure.code == .environment)
        #expect(failure.environmentProblem.map(namesAFlag) == [], "\(failure)")
    }

    @Test func anAcceptedRootfulDaemonIsWarnedAboutWithoutAFlag() throws {
        let options = RunOptions(cacheRoot: URL(fileURLWithPath: "/tmp/cache"), allowRootful: true)
        let warnings = Shared<[String]>([])
        try DockerSession.checkPolicy(info: Self.rootfulDaemon, host: Self.host, options: options, warn: { warnings.append($0) })
        let warning = try #require(warnings.value.first)
        #expect(warning.contains("ROOTFUL") && namesAFlag(warning).isEmpty, "\(warning)")
    }

    @Test func aNetworkTheRunDoesNotAllowIsRefusedWithTheAllowNetworkRemedy() throws {
        let settings = ContainerSettings(command: nil, environment: [], user: nil, workingDirectory: nil,
                                         network: .bridge, limits: ContainerLimits(), mounts: [])
        let policy = ContainerPolicy(settings: settings, daemon: Self.rootfulDaemon, allowNetwork: false)
        let failure = try #require(throws: StageFailure.self) { try policy.check() }
        #expect(failure.code == .policyRefused && failure.remedy == .allowNetwork)
        #expect(failure.message.contains("this run does not allow networks") && namesAFlag(failure.message).isEmpty, "\(failure.message)")
        #expect(ClassifiedFailure(failure).remedy == .allowNetwork)
        #expect(throws: Never.self) { try ContainerPolicy(settings: settings, daemon: Self.rootfulDaemon, allowNetwork: true).check() }
    }

    /// The modules below the engine know no run settings: the classification gives their errors one.
    @Test func errorsOfTheModulesBelowGetTheirRemedyFromTheirCode() {
        let cases: [(any Error, Remedy?)] = [
            (DockerError(.unreachable, "m"), .chooseDockerHost),
            (DockerError(.invalidHost, "m"), .chooseDockerHost),
            (DockerError(.loadFailed, "m"), nil),
            (CacheError(.diskFull, "m", root: "/cache"), .freeCacheSpace),
            (CacheError(.io, "m", root: "/cache"), .chooseCacheRoot),
            (CacheError(.lockFailed, "m", root: "/cache"), nil),
            (POSIXError(.ENOSPC), .freeCacheSpace),
            (NixError(code: .buildFailed, message: "m"), nil),
            (StageFailure(.probeFailed, "m"), nil),
        ]
        for (error, remedy) in cases {
            #expect(ClassifiedFailure(error).remedy == remedy, "\(error)")
        }
    }

    @Test func cacheMessagesNameNoFlag() {
        let root = URL(fileURLWithPath: "/nonexistent-root")
        let unwritable = CacheError.from(POSIXError(.EACCES), doing: "create the cache folder", root: root, otherwise: "choose a writable cache root")
        #expect(unwritable.code == .io && namesAFlag(unwritable.message).isEmpty, "\(unwritable.message)")
        let full = CacheError.from(POSIXError(.ENOSPC), doing: "write the index", root: root)
        #expect(full.code == .diskFull && namesAFlag(full.message).isEmpty && !full.message.contains("sutradhar cache gc"), "\(full.message)")
    }

    @Test func dockerHostMessagesNameNoFlag() throws {
        let error = try #require(throws: DockerError.self) {
            try DockerHost.discover(explicit: "tcp://example:2375", environment: [:], homeDirectory: nil)
        }
        #expect(error.code == .invalidHost && namesAFlag(error.message).isEmpty, "\(error.message)")
        #expect(error.message.contains("the run's Docker host"), "\(error.message)")
    }

    /// `remedy` follows `code` in a stage's result and `environment_problem` in the summary, only
    /// when there is one, and reads back as it was written (a newer writer's value too).
    @Test func theRemedyIsWrittenAfterTheCodeAndReadBack() throws {
        let refused = StageResult(name: "web", kind: "smoke", status: .failed, cached: false, durationMilliseconds: 3,
                                  error: "no network", code: .policyRefused, remedy: .allowNetwork)
        let line = RunEvent(run: "20261129-065212-00ff", .stageFinished(refused)).jsonLine()
        #expect(line.hasSuffix(#""error":"no network","code":"policy-refused","remedy":"allow-network"}"#), "\(line)")
        guard case .stageFinished(let read) = try RunEvent(jsonLine: line).body else { Issue.record("not a stage result"); return }
        #expect(read.remedy == "allow-network" && read.code == "policy-refused")

        let plain = StageResult(name: "web", kind: "smoke", status: .failed, cached: false, durationMilliseconds: 3,
                                error: "probe failed", code: .probeFailed)
        #expect(!RunEvent(run: "r", .stageFinished(plain)).jsonLine().contains(#""remedy""#))
        let passed = StageResult(name: "web", kind: "smoke", status: .passed, cached: false, durationMilliseconds: 3, remedy: .allowNetwork)
        #expect(passed.remedy == nil)

        let summary = RunSummary(run: "20261129-065212-00ff", pipeline: "p", commit: "", status: .failed, durationMilliseconds: 9,
                                 stages: [], environmentProblem: "the daemon is rootful", remedy: "allow-rootful")
        let finished = RunEvent(run: summary.run, .runFinished(summary)).jsonLine()
        #expect(finished.hasSuffix(#""environment_problem":"the daemon is rootful","remedy":"allow-rootful"}"#), "\(finished)")
        guard case .runFinished(let decoded) = try RunEvent(jsonLine: finished.replacingOccurrences(of: "allow-rootful", with: "a-newer-one")).body
        else { Issue.record("not a summary"); return }
        #expect(decoded.remedy == "a-newer-one")
        let healthy = RunSummary(run: "r", pipeline: "p", commit: "", status: .passed, durationMilliseconds: 1, stages: [], remedy: "allow-rootful")
        #expect(healthy.remedy == nil)
    }
}
