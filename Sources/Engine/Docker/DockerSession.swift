import DockerEngine
import Foundation
import RunEvents
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
    /// Whether the daemon went away during the run (see ``DaemonFate``).
    let daemonFate = DaemonFate()
    /// Whether the run has asked the daemon for a container yet: a run that never did has no
    /// audit trail to read.
    let containersRequested = OnceFlag()
    /// Removals handed off until after a stage's verdict; awaited before the session closes.
    let cleanups = DeferredCleanups()

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

    /// Runs `body` with a session when `needed` (nil otherwise). Refuses, before anything is
    /// created, a daemon that is not rootless unless `--allow-rootful` was given.
    /// - Throws: `EnvironmentError` when no daemon answers or the policy refuses it.
    static func with<T: Sendable>(
        needed: Bool, options: RunOptions, runID: String, pipeline: String,
        warn: @escaping @Sendable (String) -> Void,
        _ body: @escaping (DockerSession?) async throws -> T
    ) async throws -> T {
        guard needed else { return try await body(nil) }
        let host = try discoverHost(options)
        do {
            return try await DockerClient.withClient(host: host) { client in
                // Independent questions to the daemon, asked at once; nothing is removed before
                // the policy has accepted the daemon.
                async let leftovers = Leftovers.list(client: client)
                let info = try await client.info()
                try checkPolicy(info: info, host: host, options: options, warn: warn)
                await Leftovers.reap(await leftovers, client: client, report: warn)
                let labels = [
                    Label.marker: "1", Label.run: runID, Label.pipeline: pipeline,
                    Label.pid: String(getpid()), Label.host: ProcessInfo.processInfo.hostName,
                ]
                let session = DockerSession(client: client, host: host, info: info, runLabels: labels)
                // The run awaits its deferred removals before its summary; this is the backstop
                // for every other way out (a throw), while the client can still reach the daemon.
                do {
                    let value = try await body(session)
                    await session.cleanups.finish()
                    return value
                } catch {
                    await session.cleanups.finish()
                    throw error
                }
            }
        } catch let error as DockerError where error.code == .unreachable || error.code == .badResponse {
            throw EnvironmentError("the Docker daemon at \(host) did not answer: \(error.message). "
                + "Start the rootless daemon (scripts/setup.sh does), or name its socket as the run's Docker host",
                code: .daemonUnreachable, remedy: .chooseDockerHost)
        }
    }

    /// A second look for leftovers, as the run ends (a cancelled run skips it, so Ctrl-C still
    /// ends at once). A run killed while its create request was in flight leaves a container
    /// the daemon makes only after the kill — possibly after the next run's first look, at its
    /// start (the chaos suite's kill -9 row, 1 in 100). Listing again costs one request.
    func reapLateLeftovers(warn: @escaping @Sendable (String) -> Void) async {
        guard daemonFate.goneError == nil else { return }  // a dead daemon would only make it wait
        await Leftovers.reap(await Leftovers.list(client: client), client: client, report: warn)
    }

    /// Runs `body` at once while a child task opens the session (`with`, when `needed`): what a
    /// run does before its stages (the cache, a run slot, the checkout) waits on other things
    /// than the daemon, whose start-up (its `/info` alone takes ~10 ms) then costs nothing extra.
    /// `body` awaits `PendingSession.session` where it needs the daemon. The session stays open
    /// until `body` returns, and is closed (or its opening cancelled) before this returns.
    /// - Throws: what `body` throws; `session` throws what opening it threw.
    static func opening<T: Sendable>(
        needed: Bool, options: RunOptions, runID: String, pipeline: String,
        warn: @escaping @Sendable (String) -> Void,
        _ body: (PendingSession) async throws -> T
    ) async throws -> T {
        let pending = PendingSession()
        let finished = OneShot<Void>()
        let outcome = await withTaskGroup(of: Void.self, returning: Result<T, any Error>.self) { group in
            group.addTask {
                do {
                    try await with(needed: needed, options: options, runID: runID, pipeline: pipeline, warn: warn) { session in
                        pending.opened.set(.success(session))
                        await finished.value  // held open for the stages
                    }
                } catch {
                    pending.opened.set(.failure(error))
                }
            }
            let outcome: Result<T, any Error>
            do {
                outcome = .success(try await body(pending))
            } catch {
                outcome = .failure(error)
            }
            finished.set(())
            // A run that ended before it needed the daemon (its checkout failed) does not wait
            // for a daemon that is slow to answer.
            group.cancelAll()
            await group.waitForAll()
            return outcome
        }
        return try outcome.get()
    }

    package static func discoverHost(_ options: RunOptions) throws -> DockerHost {
        do {
            return try DockerHost.discover(explicit: options.dockerHost, environment: options.environment,
                                           homeDirectory: options.environment["HOME"])
        } catch {
            throw EnvironmentError("\(error)", remedy: .chooseDockerHost)
        }
    }

    /// Rootless or an explicit, loud opt-out.
    static func checkPolicy(info: DaemonInfo, host: DockerHost, options: RunOptions, warn: @Sendable (String) -> Void) throws {
        guard !info.isRootless else { return }
        guard options.allowRootful else {
            let evidence = info.engine == .podman ? "its /info says Rootless: false" : "its /info lists no name=rootless"
            throw EnvironmentError("the \(info.engineDescription) daemon at \(host) is not rootless (\(evidence)): "
                + "containers it runs would have the host's root. Use a rootless daemon (scripts/setup.sh starts one); "
                + "a rootful one is refused unless rootful daemons are allowed for this run", remedy: .allowRootful)
        }
        warn("ROOTFUL daemon accepted at \(host) (rootful daemons are allowed for this run): a container escape would be root on this host")
    }
}

/// A flag that is only ever raised, shared by the copies of a value that holds it.
final class OnceFlag: Sendable {
    private let raised = Atomic<Bool>(false)

    func raise() { raised.store(true, ordering: .relaxed) }
    var isRaised: Bool { raised.load(ordering: .relaxed) }
}

/// The run's session while it is being opened: `DockerSession.opening` hands it to the run.
final class PendingSession: Sendable {
    fileprivate let opened = OneShot<Result<DockerSession?, any Error>>()

    /// The session (nil when the run needs no daemon), once open.
    /// - Throws: `EnvironmentError` when no daemon answers or the policy refuses it.
    var session: DockerSession? {
        get async throws { try await opened.value.get() }
    }
}

/// A value set once and awaited by any number of tasks.
final class OneShot<Value: Sendable>: Sendable {
    private enum State {
        case waiting([CheckedContinuation<Value, Never>])
        case set(Value)
    }
    private let state = Mutex(State.waiting([]))

    /// Sets the value and wakes those waiting; later calls are ignored.
    func set(_ value: Value) {
        let waiting = state.withLock { state -> [CheckedContinuation<Value, Never>] in
            guard case .waiting(let continuations) = state else { return [] }
            state = .set(value)
            return continuations
        }
        waiting.forEach { $0.resume(returning: value) }
    }

    /// The value, waiting until it is set. Whoever creates a `OneShot` must set it on every path.
    var value: Value {
        get async {
            await withCheckedContinuation { continuation in
                let value = state.withLock { state -> Value? in
                    switch state {
                    case .set(let value): return value
                    case .waiting(let continuations):
                        state = .waiting(continuations + [continuation])
                        return nil
                    }
                }
                if let value { continuation.resume(returning: value) }
            }
        }
    }
}
