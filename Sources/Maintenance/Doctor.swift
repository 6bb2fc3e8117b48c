import BuildCache
import DockerEngine
import Engine
import Foundation
import GitMirror
import NixBuild
import Pipeline
import RunEvents
import RunHistory

/// One line of `sutradhar doctor`: a thing the runs need, and whether it is there.
public struct DoctorCheck: Sendable {
    /// What is checked, e.g. `nix`.
    public let name: String
    /// Whether it is fine. A failed check makes doctor exit 3.
    public let ok: Bool
    /// What was found.
    public let detail: String
    /// What to do when it is not fine, in words that name no front end's flags.
    public var fix: String?
    /// When the fix is a setting a front end offers (a CLI flag, a form field), which one: the
    /// front end words its own advice. The same `Remedy` values as a run's stage results carry.
    public let remedy: Remedy?

    /// Creates a check's line (libraries above the engine add their own, e.g. the run history's).
    public init(_ name: String, ok: Bool, _ detail: String, fix: String? = nil, remedy: Remedy? = nil) {
        self.name = name
        self.ok = ok
        self.detail = detail
        self.fix = fix
        self.remedy = remedy
    }
}

/// Checks everything a run needs, one line each, without changing anything but a probe file
/// in the cache.
public enum Doctor {
    /// Below this much free space in the cache, doctor fails.
    static let minimumFreeSpace: Int64 = 2 << 30

    /// Runs every check.
    public static func checks(options: RunOptions) async -> [DoctorCheck] {
        var checks: [DoctorCheck] = []
        let nix = await nixCheck(options: options)
        checks.append(nix)
        if nix.ok { checks.append(await nixStoreCheck()) }
        checks.append(DoctorCheck("libgit2", ok: true, "libgit2 \(GitMirror.libgit2Version) (linked)"))
        checks.append(contentsOf: cacheChecks(root: options.cacheRoot))
        checks.append(RunHistory.doctorCheck(cacheRoot: options.cacheRoot))
        checks.append(contentsOf: await dockerChecks(options: options))
        return checks
    }

    static func nixCheck(options: RunOptions) async -> DoctorCheck {
        do {
            let version = try await Nix().version()
            return DoctorCheck("nix", ok: true, "nix \(version), flakes enabled per call (--extra-experimental-features 'nix-command flakes')")
        } catch let error as NixError {
            return DoctorCheck("nix", ok: false, error.message, fix: "apt-get install nix-bin (scripts/setup.sh does)")
        } catch {
            return DoctorCheck("nix", ok: false, "\(error)", fix: "apt-get install nix-bin")
        }
    }

    /// Whether nix reaches its store: with `NIX_REMOTE=daemon` (the multi-user set-up) a build
    /// needs a running nix-daemon, which `nix --version` does not show.
    static func nixStoreCheck() async -> DoctorCheck {
        do {
            let store = try await withDeadline(.seconds(20)) { try await Nix().pingStore() }
            return DoctorCheck("nix store", ok: true, "\(store) answers (nix store ping)")
        } catch let error as NixError {
            return DoctorCheck("nix store", ok: false, error.message)
        } catch {
            return DoctorCheck("nix store", ok: false, "'nix store ping' did not answer within 20 s (\(error))",
                               fix: "check the nix daemon: a stuck nix-daemon or a locked store blocks every build")
        }
    }

    static func cacheChecks(root: URL) -> [DoctorCheck] {
        let probe = root.appendingPathComponent("locks/doctor-probe")
        do {
            _ = try BuildCache(root: root)
            try AtomicFile.write(Data("ok".utf8), to: probe)
            try? FileManager.default.removeItem(at: probe)
        } catch {
            return [DoctorCheck("cache", ok: false, "\(root.path) is not writable: \(error)",
                                fix: "choose a writable folder as the cache root (or set SUTRADHAR_CACHE)", remedy: .chooseCacheRoot)]
        }
        var stats = statvfs()
        guard statvfs(root.path, &stats) == 0 else {
            return [DoctorCheck("cache", ok: true, "\(root.path) is writable"),
                    DoctorCheck("disk", ok: false, "cannot read free space: \(String(cString: strerror(errno)))")]
        }
        let free = Int64(stats.f_bavail) * Int64(stats.f_frsize)
        return [
            DoctorCheck("cache", ok: true, "\(root.path) is writable"),
            DoctorCheck("disk", ok: free >= minimumFreeSpace, "\(ByteSize(bytes: free)) free under \(root.path)",
                        fix: free >= minimumFreeSpace ? nil : "free space, or run 'sutradhar cache gc'"),
        ]
    }

    static func dockerChecks(options: RunOptions) async -> [DoctorCheck] {
        let host: DockerHost
        do {
            host = try DockerSession.discoverHost(options)
        } catch {
            return [DoctorCheck("docker", ok: false, "\(error)", fix: "run scripts/setup.sh to start a rootless daemon")]
        }
        var checks = [DoctorCheck("docker socket", ok: true, "\(host.socketPath) (from \(host.reason))")]
        do {
            let info = try await DockerClient.withClient(host: host, timeout: .seconds(10)) { client in
                let info = try await client.info()
                checks.append(DoctorCheck("engine", ok: true, info.engineDescription))
                checks.append(DoctorCheck("docker api", ok: true, "daemon \(info.serverVersion), API \(client.apiVersion) (daemon's maximum \(client.daemonVersion))"))
                return info
            }
            let rootless = info.isRootless
            checks.append(DoctorCheck("rootless", ok: rootless || options.allowRootful,
                rootless ? (info.engine == .podman ? "yes (/info: Rootless: true)" : "yes (security options: \(info.securityOptions.joined(separator: ", ")))")
                         : "NO: this daemon runs as root\(options.allowRootful ? " (accepted knowingly: rootful daemons are allowed for these runs)" : "")",
                fix: rootless ? nil : "use a rootless daemon (scripts/setup.sh starts one) or accept this one knowingly",
                remedy: rootless ? nil : .allowRootful))
            checks.append(DoctorCheck("storage", ok: true, "driver \(info.storageDriver)"))
            checks.append(DoctorCheck("runtime", ok: true, "default \(info.defaultRuntime.isEmpty ? "not said" : info.defaultRuntime); "
                + "offered: \(info.runtimes.isEmpty ? "not listed" : info.runtimes.joined(separator: ", ")) (a stage chooses with 'runtime:')"))
            let limits = info.enforcesResourceLimits
                ? "memory, pids and cpus limits are enforced"
                : info.enforcesUlimits
                    ? "memory, pids and cpus limits are accepted but NOT enforced; Sutradhar applies rlimits (nofile, nproc, data, cpu-seconds) and its own timeouts instead"
                    : "memory, pids and cpus limits are accepted but NOT enforced (rootless \(info.engine.displayName) on cgroup v\(info.cgroupVersion))"
            checks.append(DoctorCheck("cgroups", ok: true, "driver \(info.cgroupDriver), version \(info.cgroupVersion.isEmpty ? "?" : info.cgroupVersion): \(limits)"))
            if !info.enforcesUlimits {
                checks.append(DoctorCheck("rlimits", ok: true, "nofile, nproc, data and cpu-seconds are NOT enforced: rootless \(info.engineDescription) "
                    + "drops a container's Ulimits; only Sutradhar's own timeouts bound a stage (require-enforced refuses)"))
            }
        } catch {
            checks.append(DoctorCheck("docker", ok: false, "the daemon at \(host.socketPath) did not answer: \(error)",
                                      fix: "start it (scripts/setup.sh), or name another socket", remedy: .chooseDockerHost))
        }
        return checks
    }
}
