import DockerEngine
import Foundation
import Pipeline
import RunEvents

/// Turns a stage's container settings into the create request, always with the isolation
/// Sutradhar stands for: no network unless allowed, not privileged, every capability dropped,
/// no-new-privileges, a read-only root with a private /tmp, an init process, and rlimits that
/// the kernel enforces even where the daemon's cgroup driver enforces nothing.
struct ContainerPolicy {
    let settings: ContainerSettings
    let daemon: DaemonInfo
    let allowNetwork: Bool
    /// The run's trace context, given to the container as `TRACEPARENT` unless the stage sets it.
    var traceparent: String? = nil

    /// One limit and whether the daemon really applies it.
    struct Limit {
        let name: String
        let value: String
        let enforced: Bool
        let mechanism: String
    }

    /// The open-files limit: the stage's, or the proposal's 64000 lowered to this host's hard
    /// limit, which a rootless daemon (started by the same kind of session) cannot exceed.
    var nofile: Int {
        let limits = settings.limits
        guard !limits.nofileIsExplicit else { return limits.nofile }
        var own = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &own) == 0, own.rlim_max < rlim_t(Int32.max) else { return limits.nofile }
        return min(limits.nofile, Int(own.rlim_max))
    }

    /// The limits in force and whether each is enforced; reported in the stage's outputs.
    var limits: [Limit] {
        let limits = settings.limits
        let cgroups = daemon.enforcesResourceLimits
        let cgroupNote = cgroups ? "cgroup"
            : daemon.cgroupDriver == "none" ? "cgroup (driver \(daemon.cgroupDriver): accepted, not enforced)"
            : "cgroup (\(daemon.engineDescription) rootless on cgroup v\(daemon.cgroupVersion): accepted, not enforced)"
        let rlimits = daemon.enforcesUlimits
        let rlimitNote = rlimits ? "rlimit" : "rlimit (\(daemon.engineDescription) rootless drops Ulimits: not enforced)"
        var result = [
            Limit(name: "nofile", value: String(nofile), enforced: rlimits, mechanism: rlimitNote),
            Limit(name: "nproc", value: String(limits.nproc), enforced: rlimits, mechanism: rlimitNote),
        ]
        if let data = limits.data { result.append(Limit(name: "data", value: String(data.bytes), enforced: rlimits, mechanism: rlimitNote)) }
        if let seconds = limits.cpuSeconds { result.append(Limit(name: "cpu-seconds", value: String(seconds), enforced: rlimits, mechanism: rlimitNote)) }
        if let memory = limits.memory { result.append(Limit(name: "memory", value: String(memory.bytes), enforced: cgroups, mechanism: cgroupNote)) }
        if let pids = limits.pids { result.append(Limit(name: "pids", value: String(pids), enforced: cgroups, mechanism: cgroupNote)) }
        if let cpus = limits.cpus { result.append(Limit(name: "cpus", value: String(cpus), enforced: cgroups, mechanism: cgroupNote)) }
        return result
    }

    /// Refuses what the stage asked for but cannot have.
    /// - Throws: `StageFailure` saying what to change.
    func check() throws {
        if settings.network == .bridge, !allowNetwork {
            throw StageFailure(.policyRefused, "the stage asks for 'network: bridge' but this run does not allow networks; "
                + "containers have no network unless the caller allows it", remedy: .allowNetwork)
        }
        if let runtime = settings.runtime, !daemon.runtimes.isEmpty, !daemon.runtimes.contains(runtime) {
            throw StageFailure(.environment, "the stage asks for the OCI runtime '\(runtime)', which \(daemon.engineDescription) does not offer "
                + "(it has: \(daemon.runtimes.joined(separator: ", ")); default \(daemon.defaultRuntime.isEmpty ? "unknown" : daemon.defaultRuntime)). "
                + "Register it in the daemon's configuration (daemon.json 'runtimes') or change 'runtime:'")
        }
        let unenforced = limits.filter { !$0.enforced }.map(\.name)
        if settings.limits.requireEnforced, !unenforced.isEmpty {
            if !daemon.enforcesUlimits {
                throw StageFailure(.policyRefused, "limits \(unenforced.joined(separator: ", ")) would not be enforced: \(daemon.engineDescription) "
                    + "rootless drops a container's Ulimits\(daemon.enforcesResourceLimits ? "" : " and ignores cgroup limits on cgroup v\(daemon.cgroupVersion)") "
                    + "(limits: require-enforced is set). Run this stage on rootless Docker, or drop require-enforced and rely on the stage's timeout")
            }
            throw StageFailure(.policyRefused, "limits \(unenforced.joined(separator: ", ")) would not be enforced: the daemon's cgroup driver is "
                + "'\(daemon.cgroupDriver)' (limits: require-enforced is set). Use the rlimits data, cpu-seconds, nproc "
                + "instead, or a daemon with cgroup v2 delegation")
        }
    }

    /// The stage's own network: `bridge` only when it asks and the run allows it.
    var networkMode: String { settings.network == .bridge && allowNetwork ? "bridge" : "none" }

    /// The create request for the stage's container: its command, environment, user and working
    /// directory under this policy's host configuration.
    func containerSpec(image: String, labels: [String: String], workingDirectory: String?, binds: [String]) -> ContainerSpec {
        ContainerSpec(
            image: image, command: settings.command,
            env: Dictionary((traceparent.map { [("TRACEPARENT", $0)] } ?? []) + settings.environment.map { ($0.name, $0.value) },
                            uniquingKeysWith: { _, last in last }),
            labels: labels, workingDir: workingDirectory, user: settings.user,
            hostConfig: hostConfig(binds: binds))
    }

    /// The host configuration; `networkMode` overrides the stage's (a sidecar joins its server).
    func hostConfig(networkMode: String? = nil, binds: [String] = []) -> HostConfig {
        let limits = settings.limits
        var ulimits = [
            Ulimit(name: "nofile", soft: Int64(nofile), hard: Int64(nofile)),
            Ulimit(name: "nproc", soft: Int64(limits.nproc), hard: Int64(limits.nproc)),
        ]
        if let data = limits.data { ulimits.append(Ulimit(name: "data", soft: data.bytes, hard: data.bytes)) }
        if let seconds = limits.cpuSeconds { ulimits.append(Ulimit(name: "cpu", soft: Int64(seconds), hard: Int64(seconds))) }
        var config = HostConfig(
            networkMode: networkMode ?? self.networkMode,
            privileged: false,
            capDrop: ["ALL"],
            capAdd: [],
            securityOpt: ["no-new-privileges"],
            readonlyRootfs: true,
            tmpfs: ["/tmp": "rw,noexec,nosuid,nodev,size=64m"],
            initProcess: true,
            memory: limits.memory?.bytes,
            memorySwap: limits.memory?.bytes,
            nanoCpus: limits.cpus.map { Int64($0 * 1e9) },
            pidsLimit: limits.pids.map(Int64.init),
            ulimits: ulimits,
            binds: binds)
        config.runtime = settings.runtime
        return config
    }

    /// Bind mounts of checkout paths (validated to stay inside the checkout) plus `extra`.
    func binds(checkout: URL, extra: [String] = []) throws -> [String] {
        let root = checkout.standardizedFileURL.resolvingSymlinksInPath().path
        return try settings.mounts.map { mount in
            let source = checkout.appendingPathComponent(mount.source).standardizedFileURL.resolvingSymlinksInPath().path
            // A symlink in the checkout must not lead the mount outside it.
            guard source == root || source.hasPrefix(root + "/") else {
                throw StageFailure(.policyRefused, "mount '\(mount.source)' resolves outside the checkout (\(source)); only checkout paths can be mounted")
            }
            return "\(source):\(mount.target):\(mount.readOnly ? "ro" : "rw")"
        } + extra
    }

    /// The limits as stage outputs: `{"nofile":{"value":"64000","enforced":true,"by":"rlimit"},…}`.
    var limitOutputs: JSONValue {
        .object(limits.map { limit in
            (limit.name, .object([("value", .string(limit.value)), ("enforced", .bool(limit.enforced)), ("by", .string(limit.mechanism))]))
        })
    }
}
