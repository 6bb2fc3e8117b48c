import Foundation
import DockerEngine
import NixBuild
import Testing

@testable import BuildCache
@testable import Engine

/// Which stage failures blame the machine rather than the commit: those end the run with exit 3
/// (an agent must not report the change as broken), every other failure with exit 1.
@Suite struct EnvironmentProblemTests {
    @Test func failuresOfTheMachineAreEnvironmentProblems() {
        let machine: [any Error] = [
            NixError(code: .storeUnreachable, message: "nix cannot reach the nix daemon"),
            NixError(code: .nixMissing, message: "nix is not installed"),
            DockerError(.unreachable, "cannot connect to the Docker daemon"),
            CacheError(.diskFull, "the disk under the cache is full", root: "/cache"),
        ]
        for error in machine {
            #expect(StageRunner.environmentProblem(in: error) != nil, "\(error)")
        }
        #expect(StageRunner.environmentProblem(in: machine[0]) == "nix cannot reach the nix daemon")
    }

    @Test func failuresOfTheBuildAreNot() {
        let build: [any Error] = [
            NixError(code: .buildFailed, message: "a builder failed"),
            NixError(code: .evalFailed, message: "the flake does not evaluate"),
            DockerError(.loadFailed, "the archive is truncated"),
            DockerError(.daemonError, "no such image"),
            CacheError(.io, "cannot write", root: "/cache"),
            StageFailure("expected stdout 'ok'"),
            StageTimeout(),
            CancellationError(),
        ]
        for error in build {
            #expect(StageRunner.environmentProblem(in: error) == nil, "\(error)")
        }
    }
}
