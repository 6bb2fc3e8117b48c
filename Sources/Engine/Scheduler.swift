import BuildCache
import DockerEngine
import Foundation
import GitMirror
import NixBuild
import Pipeline
import RunEvents

/// Starts each stage once everything it needs has passed, up to `jobs` at a time. A failed
/// stage skips what depends on it; independent stages go on. Cancellation (Ctrl-C) cancels
/// the running stages, whose executors clean up, and marks the rest cancelled.
struct Scheduler: Sendable {
    let plan: Plan
    let options: RunOptions
    let executors: [AnyStageExecutor]
    let cache: BuildCache
    let nix: Nix
    let docker: DockerSession?
    let checkout: CheckoutResult
    let recorder: RunRecorder
    /// The run's pushes to `cache.nix-push`, if the definition asks for them.
    var nixPush: NixPushQueue? = nil
    /// Who signs what passed stages claim; nil: nothing is attested.
    var attestor: StageAttestor? = nil

    func run() async {
        var pending = plan.stages
        var finished: [String: StageResult] = [:]
        var outputs: [String: [(String, JSONValue)]] = [:]
        var running = 0

        await withTaskGroup(of: StageResult.self) { group in
            while !pending.isEmpty || running > 0 {
                // Settle every stage whose fate is known without running it.
                var progressed = true
                while progressed {
                    progressed = false
                    for (index, stage) in pending.enumerated() {
                        let blockers = stage.dependencies.compactMap { finished[$0] }.filter { $0.status != .passed }
                        if Task.isCancelled {
                            skip(stage, status: .cancelled, reason: "the run was interrupted", code: .cancelled, into: &finished)
                        } else if let blocker = blockers.first {
                            skip(stage, status: .skipped, reason: "'\(blocker.name)' \(blocker.status.rawValue)", code: .dependencyFailed,
                                 into: &finished)
                        } else if running < options.jobs, stage.dependencies.allSatisfy({ finished[$0] != nil }) {
                            let context = makeContext(for: stage, outputs: outputs)
                            let executor = executors.first { $0.kind == stage.kind }
                            group.addTask { [attestor] in
                                await StageRunner.run(stage, executor: executor, context: context, recorder: recorder, attestor: attestor)
                            }
                            running += 1
                        } else {
                            continue
                        }
                        pending.remove(at: index)
                        progressed = true
                        break
                    }
                }
                guard running > 0, let result = await group.next() else { break }
                running -= 1
                finished[result.name] = result
                outputs[result.name] = result.outputs
            }
        }
    }

    private func skip(_ stage: PlannedStage, status: StageStatus, reason: String, code: StageErrorCode,
                      into finished: inout [String: StageResult]) {
        let result = StageResult(name: stage.name, kind: stage.kind, status: status, cached: false,
                                 durationMilliseconds: 0, error: reason, code: code)
        recorder.record(result)
        finished[stage.name] = result
    }

    private func makeContext(for stage: PlannedStage, outputs: [String: [(String, JSONValue)]]) -> StageContext {
        StageContext(runID: recorder.runID, pipeline: plan.definition.name, stage: stage, commit: checkout.commit.sha,
                     treeID: checkout.commit.treeID, checkout: checkout.directory, outputsByStage: outputs,
                     cache: cache, nix: nix, docker: docker, options: options, sink: { [recorder] in recorder.emit($0.body) },
                     nixPush: nixPush)
    }
}

/// Runs one stage under its timeout and turns every way it can end into a `StageResult`.
enum StageRunner {
    /// Runs `stage` with `executor` (nil: this engine has none for its kind, a failure coded
    /// `internal`) under the stage's timeout, or its kind's default.
    static func run(_ stage: PlannedStage, executor: AnyStageExecutor?, context: StageContext,
                    recorder: RunRecorder, attestor: StageAttestor? = nil) async -> StageResult {
        recorder.emit(.stageStarted(stage: stage.name, kind: stage.kind))
        let started = ContinuousClock.now, startedAt = Date()
        let timeout = timeout(of: stage, executor: executor)
        let result: StageResult
        do {
            guard let executor else {
                throw StageFailure(.internal, "this engine has no executor for stages of kind '\(stage.kind)'")
            }
            attestor?.prefetch(stage, outputs: context.outputsByStage, nix: context.nix)
            let outcome = try await withDeadline(timeout) {
                try await executor.execute(stage.definition.spec, context: context)
            }
            var outputs = outcome.outputs
            if let claim = outcome.claim, let attestor {
                outputs += await attestor.attest(claim, stage: stage, cached: outcome.cached, started: startedAt,
                                                 finished: Date(), nix: context.nix, log: { context.log($0, stream: "stdout") })
            }
            result = StageResult(name: stage.name, kind: stage.kind, status: .passed, cached: outcome.cached,
                                 durationMilliseconds: started.duration(to: .now).milliseconds, outputs: outputs)
        } catch {
            let cancelled = Task.isCancelled
            let failure = ClassifiedFailure(error)
            if !cancelled, let problem = failure.environmentProblem {
                recorder.noteEnvironmentProblem(problem, code: failure.code, remedy: failure.remedy)
            }
            let message = cancelled ? "the run was interrupted" : describe(error, failure: failure, timeout: timeout)
            var outputs = (error as? StageFailure)?.outputs ?? []
            if !cancelled, let claim = (error as? StageFailure)?.claim, let attestor {
                outputs += await attestor.attest(claim, stage: stage, cached: false, started: startedAt, finished: Date(),
                                                 nix: context.nix, log: { context.log($0, stream: "stdout") })
            }
            result = StageResult(name: stage.name, kind: stage.kind, status: cancelled ? .cancelled : .failed, cached: false,
                                 durationMilliseconds: started.duration(to: .now).milliseconds,
                                 outputs: outputs, error: message,
                                 code: cancelled ? .cancelled : failure.code, remedy: cancelled ? nil : failure.remedy)
        }
        recorder.record(result)
        // The verdict is out: what the stage left to remove (its smoke server) goes now, off its path.
        context.docker?.cleanups.release(stage: stage.name)
        return result
    }

    /// The stage's own `timeout:`, else its kind's default (nix-build 2 h, smoke 5 min, others 30 min).
    static func timeout(of stage: PlannedStage, executor: AnyStageExecutor?) -> Duration {
        stage.definition.timeout ?? executor?.defaultTimeout ?? .seconds(30 * 60)
    }

    /// The failures that say nothing about the commit being built: the machine must be fixed
    /// (exit 3), and an agent must not blame the change. `ClassifiedFailure` decides.
    static func environmentProblem(in error: any Error) -> String? {
        ClassifiedFailure(error).environmentProblem
    }

    private static func describe(_ error: any Error, failure: ClassifiedFailure, timeout: Duration) -> String {
        if error is StageTimeout {
            return "timed out after \(DurationText.format(timeout)); raise the stage's 'timeout' if it needs longer"
        }
        return failure.message
    }
}

/// The stage ran past its `timeout`.
struct StageTimeout: Error {}

/// Runs `body`, cancelling it when `timeout` passes (the body's cleanup still runs) and then
/// throwing `StageTimeout`.
package func withDeadline<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw CancellationError() }
        guard let value = first else {
            group.cancelAll()
            // Wait for the body to finish its cleanup before reporting the timeout.
            while let next = try? await group.next() { _ = next }
            throw StageTimeout()
        }
        return value
    }
}

