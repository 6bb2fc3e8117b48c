import DockerEngine
import Foundation
import RunEvents
import Testing

@testable import Engine
@testable import Pipeline

/// The honest-limits rule on rootless Podman 4.3 (cgroup v1): it accepts every limit and applies
/// none, so each is reported as not enforced and `require-enforced` refuses, naming the engine.
/// (Measured in a real Podman container by the end-to-end suites' Podman pass.)
@Suite struct PodmanPolicyTests {
    static let rootlessPodman = DaemonInfo(serverVersion: "4.3.1", apiVersion: "1.41", securityOptions: ["name=seccomp,profile=default"],
                                           isRootless: true, storageDriver: "vfs", cgroupDriver: "cgroupfs", cgroupVersion: "1",
                                           operatingSystem: "debian", engine: .podman, engineVersion: "4.3.1")
    static let rootlessDocker = DaemonInfo(serverVersion: "20.10.24", apiVersion: "1.41", securityOptions: ["name=rootless"],
                                           isRootless: true, storageDriver: "overlay2", cgroupDriver: "none", cgroupVersion: "1",
                                           operatingSystem: "Debian")

    private func settings(requireEnforced: Bool) -> ContainerSettings {
        var limits = ContainerLimits()
        limits.memory = ByteSize(bytes: 128 << 20)
        limits.data = ByteSize(bytes: 256 << 20)
        limits.cpuSeconds = 60
        limits.requireEnforced = requireEnforced
        return ContainerSettings(command: nil, environment: [], user: nil, workingDirectory: nil, network: .none, limits: limits, mounts: [])
    }

    @Test func onRootlessPodmanNoLimitIsReportedEnforced() {
        let policy = ContainerPolicy(settings: settings(requireEnforced: false), daemon: Self.rootlessPodman, allowNetwork: false)
        let limits = Dictionary(uniqueKeysWithValues: policy.limits.map { ($0.name, $0) })
        #expect(Set(limits.keys) == ["nofile", "nproc", "data", "cpu-seconds", "memory"])
        #expect(limits.values.allSatisfy { !$0.enforced }, "\(policy.limits)")
        #expect(limits["nofile"]?.mechanism.contains("Podman 4.3.1") == true)
    }

    @Test func onRootlessDockerTheRlimitsAreStillEnforced() {
        let policy = ContainerPolicy(settings: settings(requireEnforced: false), daemon: Self.rootlessDocker, allowNetwork: false)
        let enforced = Dictionary(uniqueKeysWithValues: policy.limits.map { ($0.name, $0.enforced) })
        #expect(enforced == ["nofile": true, "nproc": true, "data": true, "cpu-seconds": true, "memory": false])
    }

    @Test func requireEnforcedRefusesOnPodmanNamingTheEngineAndTheLimits() throws {
        let policy = ContainerPolicy(settings: settings(requireEnforced: true), daemon: Self.rootlessPodman, allowNetwork: false)
        let failure = try #require(throws: StageFailure.self) { try policy.check() }
        #expect(failure.code == .policyRefused)
        #expect(failure.message.contains("Podman 4.3.1") && failure.message.contains("nofile") && failure.message.contains("memory"), "\(failure.message)")
        #expect(failure.message.contains("Ulimits"), "\(failure.message)")
    }

    @Test func aRootfulPodmanIsRefusedLikeARootfulDocker() throws {
        let rootful = DaemonInfo(serverVersion: "4.3.1", apiVersion: "1.41", securityOptions: [], isRootless: false, storageDriver: "overlay",
                                 cgroupDriver: "cgroupfs", cgroupVersion: "1", operatingSystem: "debian", engine: .podman, engineVersion: "4.3.1")
        let host = DockerHost(socketPath: "/run/podman/podman.sock", origin: .flag, reason: "the run's Docker host")
        let error = try #require(throws: EnvironmentError.self) {
            try DockerSession.checkPolicy(info: rootful, host: host, options: RunOptions(cacheRoot: URL(fileURLWithPath: "/tmp/cache")), warn: { _ in })
        }
        #expect(error.remedy == .allowRootful)
        #expect(error.message.contains("Podman 4.3.1") && error.message.contains("is not rootless")
                && error.message.contains("unless rootful daemons are allowed for this run"), "\(error.message)")
    }
}
