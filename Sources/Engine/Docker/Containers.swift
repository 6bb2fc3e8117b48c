import DockerEngine
import Foundation
import NIOCore
import NixBuild
import Pipeline
import RunEvents

/// Scoped containers: whatever happens inside — pass, fail, timeout, Ctrl-C — the container is
/// stopped (with a grace period, then killed) and removed on the way out.
extension DockerSession {
    /// The grace period between stop's SIGTERM and the daemon's SIGKILL.
    static let stopGracePeriod: Duration = .seconds(3)

    /// When a container made by ``withContainer(_:name:removal:_:)`` is stopped and removed.
    enum Removal {
        /// Before `withContainer` returns: what the stage reports may depend on it.
        case beforeReturning
        /// Once the stage's result is recorded, off its path (see ``DeferredCleanups``): the smoke
        /// server, whose verdict is known when the probe answers. Awaited before the run ends.
        case afterVerdict(stage: String)
        /// At once, in the background, awaited before the run ends: a sidecar probe that exited.
        case inBackground
    }

    /// Creates a container, runs `body` with its ID, then stops and removes it (when: `removal`).
    /// The create and the removal are steps of `context`'s stage in the run's trace.
    /// - Throws: `StageFailure` if the image is missing; `DockerError`; what `body` throws.
    func withContainer<T: Sendable>(
        _ spec: ContainerSpec, name: String, removal: Removal = .beforeReturning, context: StageContext,
        _ body: (String) async throws -> T
    ) async throws -> T {
        let steps = (sink: context.options.stepSink, stage: context.stage.name)
        let id: String
        // Noted before the call: a create that fails on our side may still have made one.
        containersRequested.raise()
        do {
            // Not cancelled mid-flight: a create cut short may still be carried out by the daemon
            // after the removal below has looked for it. Creating takes milliseconds; once the ID
            // is known, a cancelled run removes the container like any other.
            let client = self.client
            id = try await timedStep(steps.sink, stage: steps.stage, "container create") {
                try await Task { try await client.createContainer(name: name, spec) }.value
            }
        } catch let error as DockerError where error.code == .notFound {
            throw StageFailure(.imageMissing, "the image \(spec.image) is not in the daemon; Sutradhar never pulls: load it with a \(Engine.imageProducingKindsText) stage")
        } catch {
            // The daemon may have made the container although its answer never arrived (the
            // request's deadline cut it short): remove it by its name, which is ours alone.
            if let gone = await daemonGone(after: error) { throw gone }
            await remove(name)
            throw error
        }
        do {
            try Task.checkCancellation()
            let value = try await body(id)
            await dispose(id, removal, steps: steps)
            return value
        } catch {
            // A daemon that died cannot remove anything: report it now, not after the removal's
            // connect timeouts.
            if let gone = await daemonGone(after: error) { throw gone }
            await dispose(id, removal, steps: steps)
            throw error
        }
    }

    /// Removes `id` now or hands its removal to the run's ``DeferredCleanups``.
    private func dispose(_ id: String, _ removal: Removal, steps: (sink: StageStepSink?, stage: String)) async {
        let removing: @Sendable () async -> Void = { await timedStep(steps.sink, stage: steps.stage, "container remove") { await self.remove(id) } }
        switch removal {
        case .beforeReturning: await removing()
        case .afterVerdict(let stage): cleanups.afterVerdict(of: stage, removing)
        case .inBackground: cleanups.launch(removing)
        }
    }

    /// Starts a container, translating the daemon's rlimit refusal into what to change.
    func start(_ id: String) async throws {
        do {
            try await client.startContainer(id)
        } catch let error as DockerError where (error.daemonMessage ?? error.message).contains("error setting rlimit") {
            throw StageFailure(.policyRefused, "the daemon could not apply the container's rlimits: its own hard limits are lower "
                + "(\(error.daemonMessage ?? error.message)). Lower 'limits' (nofile, nproc) in the stage, "
                + "or start the daemon from a session with higher ulimits")
        }
    }

    /// Stops and removes a container in a task of its own, so that it runs to completion even
    /// when the caller was cancelled (an HTTP call in a cancelled task would be cut short).
    func remove(_ id: String) async {
        guard !daemonIsGone else { return }
        let client = self.client
        await Task {
            try? await client.stopContainer(id, gracePeriod: Self.stopGracePeriod)
            try? await client.removeContainer(id, force: true)
        }.value
    }

    /// The image a stage runs: the one a docker-load stage loaded, or a named image that must
    /// already be in the daemon.
    func resolveImage(_ source: ImageSource, context: StageContext) async throws -> String {
        switch source {
        case .stage(let reference):
            guard let image = context.output("image", of: reference.name) else {
                throw StageFailure("stage '\(reference.name)' produced no image")
            }
            return image
        case .reference(let name):
            guard let details = try await client.inspectImage(name) else {
                throw StageFailure(.imageMissing, "the image \(name) is not in the daemon; Sutradhar never pulls: load it first (\(Engine.imageProducingKindsText) stage)")
            }
            return details.id
        }
    }

    /// A unique, readable container name for a stage of this run.
    func containerName(stage: String, role: String) -> String {
        let run = runLabels[Label.run] ?? "run"
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        return "sutradhar-\(run)-\(stage)-\(role)-\(suffix)".filter { $0.isLetter || $0.isNumber || "-_.".contains($0) }
    }

    /// Runs `body` (which waits for the container to exit) while a child task streams the
    /// container's output into the stage's log (``forwardLogs(of:prefix:context:)``), and returns
    /// only once that forwarding has ended: read to the end of the stream when `body` returns,
    /// cancelled when `body` throws or the stage is cancelled. No line is logged after the stage.
    /// - Throws: what `body` throws.
    func forwardingLogs<T: Sendable>(of id: String, prefix: String, context: StageContext,
                                     _ body: () async throws -> T) async throws -> T {
        try await withLogForwarding({ await forwardLogs(of: id, prefix: prefix, context: context) }, body)
    }

    /// Streams a container's demultiplexed output into the stage's log until it exits or the
    /// surrounding task is cancelled. Each line is logged as it completes, cut at
    /// `Nix.maxLogLineBytes` (see `LineSplitter`): nothing here grows with the output.
    func forwardLogs(of id: String, prefix: String, context: StageContext, onLine: ((String) -> Void)? = nil) async {
        // One splitter per stream: the daemon cuts long lines into several frames.
        var splitters = [LineSplitter(maxLineBytes: Nix.maxLogLineBytes), LineSplitter(maxLineBytes: Nix.maxLogLineBytes)]
        do {
            for try await frame in client.logs(id, follow: true) {
                let index = frame.stream == .stdout ? 0 : 1
                let lines = frame.bytes.withUnsafeReadableBytes { splitters[index].feed($0) }
                for line in lines where !line.isEmpty {
                    context.log("\(prefix)\(line)", stream: index == 0 ? "stdout" : "stderr")
                    onLine?(line)
                }
            }
            for (index, var splitter) in splitters.enumerated() {
                if let last = splitter.finish(), !last.isEmpty {
                    context.log("\(prefix)\(last)", stream: index == 0 ? "stdout" : "stderr")
                }
            }
        } catch {
            // The stream ends when the container is removed or the stage ends; nothing to report.
        }
    }
}

/// Runs `body` beside `forward` (a child task) and returns once both have ended. When `body`
/// returns, `forward` runs to its own end (a container's log stream ends when the container does,
/// which `body` waited for, and its last lines come after); when `body` throws — a wait cut short
/// by a dead daemon or its deadline — or the task is cancelled, `forward` is cancelled first. So a
/// stage's log forwarding can never outlive its stage.
/// - Throws: what `body` throws.
func withLogForwarding<T: Sendable>(_ forward: @escaping @Sendable () async -> Void,
                                    _ body: () async throws -> T) async throws -> T {
    let outcome = await withTaskGroup(of: Void.self, returning: Result<T, any Error>.self) { group in
        group.addTask(operation: forward)
        do {
            let value = try await body()
            await group.waitForAll()
            return .success(value)
        } catch {
            group.cancelAll()
            await group.waitForAll()
            return .failure(error)
        }
    }
    return try outcome.get()
}
