import DockerEngine
import Foundation
import Synchronization

/// The run's connection to the Docker daemon: opened once, after the policy check, for runs
/// that have Docker stages. Knows the labels every container of the run carries.
public struct DockerSession: Sendable {
    /// The client, valid for the run.
    public let client: DockerClient
    /// Which daemon, and why that one.
    public let host: DockerHost
    /// What the daemon said about itself (rootless, cgroup driver…).
    public let info: DaemonInfo
    /// Labels on everything the run creates: who made it, for which run, pipeline, process and host.
    public let runLabels: [String: String]
    /// Whether the run has asked the daemon for a container yet: a run that never did has no
    /// audit trail to read.
    let containersRequested = OnceFlag()

    /// The label keys Sutradhar puts on what it creates.
    public enum Label {
        public static let marker = "dev.sutradhar"
        public static let run = "dev.sutradhar.run"
        public static let pipeline = "dev.sutradhar.pipeline"
        public static let stage = "dev.sutradhar.stage"
        public static let pid = "dev.sutradhar.pid"
        public static let host = "dev.sutradhar.host"
    }

    /// Labels for a container of `stage`.
    func labels(stage: String) -> [String: String] {
        runLabels.merging([Label.stage: stage]) { _, new in new }
    }

    /// Runs `body` with a session when `needed` (nil otherwise) and with what `prepare` returned.
    /// `prepare` (the run's checkout) runs while the daemon is reached and checked, since the two
    /// wait on different things; `body` starts once both are done, and this returns only after
    /// `prepare` has finished, however it ends. Refuses, before anything is created in the
    /// daemon, one that is not rootless unless `--allow-rootful` was given.
    /// - Throws: `EnvironmentError` when no daemon answers or the policy refuses it.
    static func with<T: Sendable, Prepared: Sendable>(
        needed: Bool, options: RunOptions, runID: String, pipeline: String,
        warn: @escaping @Sendable (String) -> Void,
        alongside prepare: @escaping @Sendable () async -> Prepared,
        _ body: @escaping (DockerSession?, Prepared) async throws -> T
    ) async throws -> T {
        guard needed else { return try await body(nil, await prepare()) }
        let host = try discoverHost(options)
        // A task, not `async let`, because its value is needed inside the client's scope, where
        // no closure may capture an `async let`; it is cancelled with this call and always
        // awaited before this returns, so it never outlives the run.
        let preparing = Task { await prepare() }
        return try await withTaskCancellationHandler {
            do {
                return try await DockerClient.withClient(host: host) { client in
                    // Independent questions to the daemon, asked at once; nothing is removed
                    // before the policy has accepted the daemon.
                    async let leftovers = Leftovers.list(client: client)
                    let info = try await client.info()
                    try checkPolicy(info: info, host: host, options: options, warn: warn)
                    await Leftovers.reap(await leftovers, client: client, report: warn)
                    let labels = [
                        Label.marker: "1", Label.run: runID, Label.pipeline: pipeline,
                        Label.pid: String(getpid()), Label.host: ProcessInfo.processInfo.hostName,
                    ]
                    return try await body(DockerSession(client: client, host: host, info: info, runLabels: labels),
                                          await preparing.value)
                }
            } catch {
                _ = await preparing.value
                if let error = error as? DockerError, error.code == .unreachable || error.code == .badResponse {
                    throw EnvironmentError("the Docker daemon at \(host) did not answer: \(error.message). "
                        + "Start the rootless daemon (scripts/setup.sh does), or name its socket with --docker-host")
                }
                throw error
            }
        } onCancel: {
            preparing.cancel()
        }
    }

    static func discoverHost(_ options: RunOptions) throws -> DockerHost {
        do {
            return try DockerHost.discover(explicit: options.dockerHost, environment: options.environment,
                                           homeDirectory: options.environment["HOME"])
        } catch {
            throw EnvironmentError("\(error)")
        }
    }

    /// Rootless or an explicit, loud opt-out.
    static func checkPolicy(info: DaemonInfo, host: DockerHost, options: RunOptions, warn: @Sendable (String) -> Void) throws {
        guard !info.isRootless else { return }
        guard options.allowRootful else {
            throw EnvironmentError("the Docker daemon at \(host) is not rootless (its /info lists no name=rootless): "
                + "containers it runs would have the host's root. Use a rootless daemon (scripts/setup.sh starts one), "
                + "or pass --allow-rootful to accept this one knowingly")
        }
        warn("ROOTFUL daemon accepted (--allow-rootful) at \(host): a container escape would be root on this host")
    }
}

/// A flag that is only ever raised, shared by the copies of a value that holds it.
final class OnceFlag: Sendable {
    private let raised = Atomic<Bool>(false)

    func raise() { raised.store(true, ordering: .relaxed) }
    var isRaised: Bool { raised.load(ordering: .relaxed) }
}
