import Foundation
import DockerEngine
import GitMirror
import NixBuild
import RunEvents
import SutradharTesting
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
            NixError(code: .builderUnreachable, message: "nix could not use the builder ssh-ng://b"),
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

    /// One classification for the checkout and every stage: each failure gets its stable code,
    /// and exactly the codes that blame the machine make an environment problem.
    @Test func everyFailureGetsItsStableCode() {
        let noSpace = String(cString: strerror(ENOSPC))
        let cases: [(any Error, String)] = [
            (NixError(code: .storeUnreachable, message: "m"), "store-unreachable"),
            (NixError(code: .nixMissing, message: "m"), "nix-missing"),
            (NixError(code: .builderUnreachable, message: "m"), "builder-unreachable"),
            (NixError(code: .buildFailed, message: "m"), "nix-build-failed"),
            (NixError(code: .evalFailed, message: "m"), "nix-build-failed"),
            (DockerError(.unreachable, "m"), "daemon-unreachable"),
            (DockerError(.invalidArchive, "m"), "archive-invalid"),
            (DockerError(.loadFailed, "m"), "load-failed"),
            (DockerError(.daemonError, "m"), "daemon-error"),
            (CacheError(.diskFull, "m", root: "/cache"), "disk-full"),
            (CacheError(.io, "m", root: "/cache"), "cache-failed"),
            (GitError(code: .unknownRef, message: "m"), "checkout-failed"),
            (GitError(code: .checkoutFailed, message: "m", cause: "could not write 'f': \(noSpace)"), "disk-full"),
            (POSIXError(.ENOSPC), "disk-full"),
            (StageFailure(.probeFailed, "m"), "probe-failed"),
            (StageFailure("m"), "internal"),
            (EnvironmentError("m"), "environment"),
            (StageTimeout(), "timeout"),
            (CancellationError(), "cancelled"),
        ]
        for (error, code) in cases {
            let failure = ClassifiedFailure(error)
            #expect(failure.code.rawValue == code, "\(error)")
            #expect((failure.environmentProblem != nil) == failure.code.isEnvironmentProblem, "\(error)")
            #expect(StageErrorCode(rawValue: code) == failure.code)
        }
        let environmental = StageErrorCode.all.filter(\.isEnvironmentProblem).map(\.rawValue)
        #expect(environmental == ["daemon-unreachable", "store-unreachable", "builder-unreachable", "nix-missing", "disk-full",
                                  "environment"])
        #expect(Set(StageErrorCode.all.map(\.rawValue)).count == StageErrorCode.all.count, "codes are unique")
    }

    /// A full disk during the checkout exited 1 with no `environment_problem` (at a
    /// stage it exits 3). The checkouts folder is a full 1 MiB tmpfs; stages are fakes.
    @Test(.requiresRoot) func aFullDiskDuringTheCheckoutIsAnEnvironmentProblem() async throws {
        try await FakeRun.with(stages: [("a", [])]) { run in
            let checkouts = try BuildCache(root: run.workspace.cache).folder(.checkouts)
            _ = try DockerTestSupport.run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", checkouts.path])
            defer { _ = try? DockerTestSupport.run("/bin/umount", ["-l", checkouts.path]) }
            // dd stops when the disk is full (and exits non-zero).
            _ = try? DockerTestSupport.run("/bin/dd", ["if=/dev/zero", "of=\(checkouts.path)/filler", "bs=4k"])

            let summary = await run.engine({ _, _ in StageOutcome(outputs: [], cached: false) })
                .run(run.plan, options: run.options(jobs: 1), sink: run.sink)

            let checkout = try #require(summary.stage("checkout"), "\(run.transcript)")
            #expect(checkout.status == .failed)
            #expect(checkout.code == "disk-full", "\(run.transcript)")
            let problem = try #require(summary.environmentProblem, "no environment problem: \(run.transcript)")
            #expect(problem.contains(String(cString: strerror(ENOSPC))), "it does not say the disk is full: \(problem)")
            #expect(summary.stage("a")?.status == .skipped)
            #expect(summary.stage("a")?.code == "disk-full")
        }
    }
}
