import BuildCache
import Foundation
import GitMirror
import NixBuild
import Pipeline
import RunEvents
import Synchronization

/// Runs a plan: checks what the run needs, checks the source out, then schedules the stages
/// (in parallel where independent, up to `--jobs`), reporting everything as events.
public struct Engine: Sendable {
    /// Every stage kind this build can run, with its executor: a new kind is one line here
    /// (and its spec's line in Pipeline's `StageKinds.all`).
    public static let executors: [AnyStageExecutor] = [
        AnyStageExecutor(NixBuildExecutor()), AnyStageExecutor(DockerLoadExecutor()),
        AnyStageExecutor(SmokeExecutor()), AnyStageExecutor(ContainerExecutor()),
        AnyStageExecutor(DockerBuildExecutor()),
    ]

    /// The kinds `executors` run; definitions using others are refused at validation.
    public static var implementedKinds: Set<String> { Set(executors.map(\.kind)) }

    /// The kinds whose stages put an image in the daemon, sorted: their cache entries name images
    /// (which `cache verify` checks and gc untags) and messages name them.
    public static var imageProducingKinds: [String] { executors.filter(\.producesImage).map(\.kind).sorted() }

    /// `imageProducingKinds` for a message: "docker-load", "docker-build or docker-load".
    package static var imageProducingKindsText: String { imageProducingKinds.joined(separator: " or ") }

    /// The executors this engine runs stages with.
    let executors: [AnyStageExecutor]

    /// Creates an engine with every stage kind this build can run.
    public init() {
        self.init(executors: Self.executors)
    }

    /// Creates an engine that runs stages with `executors` only (e.g. fakes in tests): a stage of
    /// another kind fails with the code `internal`. Checkout, events, timeouts, skips and
    /// cancellation work as with the real ones.
    public init(executors: [AnyStageExecutor]) {
        self.executors = executors
    }

    /// The executor of stages of kind `kind`, if this engine has one.
    func executor(for kind: String) -> AnyStageExecutor? {
        executors.first { $0.kind == kind }
    }

    /// Runs `plan` and returns its summary (also sent as the last event). Never throws: every
    /// failure becomes a stage or run status, and `environmentProblem` marks what should exit 3.
    public func run(_ requested: Plan, options: RunOptions, sink: @escaping EventSink) async -> RunSummary {
        let run = RunRecorder(runID: Self.makeRunID(), pipeline: requested.definition.name, sink: sink)
        let plan = Self.plan(requested, restrictedBy: options, reproducibilityPlan: reproducibilityPlan)
        let source = SourceSelection(definition: plan.definition, options: options)
        run.emit(.runStarted(pipeline: plan.definition.name, source: source.description, ref: source.ref,
                             cacheRoot: options.cacheRoot.path))
        options.warnings.forEach(run.warn)
        GitMirror.prepareLibrary()  // every run checks out: its slow initialisation overlaps what comes first
        let needsDocker = plan.stages.contains { executor(for: $0.kind)?.needsDocker ?? false }
        do {
            return try await DockerSession.opening(needed: needsDocker, options: options, runID: run.runID,
                                                   pipeline: plan.definition.name, warn: run.warn) { docker in
                let cache = try BuildCache(root: options.cacheRoot)
                cache.notices.forEach(run.warn)
                return try await RunSlots.withSlot(in: cache, count: options.maxRuns, onQueued: { run.emit(.queued(reason: $0)) }) {
                    try await runHoldingSlot(plan, options: options, cache: cache, source: source, run: run, docker: docker)
                }
            }
        } catch {
            // No stage ran: the environment is not ready (exit 3: the cache, nix, the daemon), or
            // the run was cancelled before its stages.
            let failure = ClassifiedFailure(error)
            return run.finish(commit: "", skipping: plan.stages, environmentProblem: Task.isCancelled ? nil : Self.describe(error),
                              code: failure.code.isEnvironmentProblem ? failure.code : .environment, remedy: failure.remedy)
        }
    }

    /// The part of `plan` the options ask for: `--stage` and what it needs, and in a
    /// reproducibility check only the stages that can be checked (and what they need).
    private static func plan(_ plan: Plan, restrictedBy options: RunOptions, reproducibilityPlan: (Plan) -> Plan) -> Plan {
        let staged = options.onlyStage.flatMap { plan.restricted(to: $0) } ?? plan
        return options.reproduce?.scope == .checkedStagesOnly ? reproducibilityPlan(staged) : staged
    }

    /// The plan a reproducibility check runs: the stages whose kind can be checked and what they
    /// need; empty when the plan has none (there is nothing to check).
    public func reproducibilityPlan(_ plan: Plan) -> Plan {
        plan.restricted { executor(for: $0.kind)?.checksReproducibility ?? false }
    }

    /// The user-facing words of an error that stopped a run before its stages.
    private static func describe(_ error: any Error) -> String {
        switch error {
        case let error as EnvironmentError: return error.message
        case let error as CacheError: return error.message
        case let error as NixError: return error.message
        default: return "\(error)"
        }
    }

    /// The run proper, once it holds one of the cache's run slots. Environment problems are
    /// thrown (the caller turns them into exit 3); everything else becomes a stage result.
    private func runHoldingSlot(_ plan: Plan, options: RunOptions, cache: BuildCache, source: SourceSelection,
                                run: RunRecorder, docker pending: PendingSession) async throws -> RunSummary {
        cache.holdRunLock()  // released by CacheLimits.apply or with the cache: `cache clear` waits for no live run
        let kinds = plan.stages.compactMap { executor(for: $0.kind) }
        let nixExecutable = kinds.contains(where: { $0.needsNix })
            ? try await Preflight.locateNix(environment: options.environment, cache: cache) : "nix"
        let nix = Nix(executable: nixExecutable,
                      options: (plan.definition.nixOptions + plan.definition.nixDistribution.options)
                          .map { NixOption(name: $0.name, value: $0.value) },
                      environment: options.propagatedTraceparent.map { ["TRACEPARENT": $0] } ?? [:])
        guard let checkout = await CheckoutStep.run(source, cache: cache, recorder: run, steps: options.stepSink) else {
            // The daemon's start-up may still report something (a leftover removed): it has
            // ended before the summary, which is always the last event.
            _ = try? await pending.session
            return run.finish(commit: "", skipping: plan.stages)
        }
        // Opened (and its policy checked) while all of the above ran; nothing was created in it.
        let docker = try await pending.session
        let pushes = plan.definition.cache.nixPush.map { NixPushQueue(spec: $0, nix: nix, recorder: run) }
        let attestor = options.attestation.enabled
            ? StageAttestor(options: options, runID: run.runID, plan: plan, source: source, checkout: checkout, cache: cache, warn: run.warn)
            : nil
        let scheduler = Scheduler(plan: plan, options: options, executors: executors, cache: cache, nix: nix,
                                  docker: docker, checkout: checkout, recorder: run, nixPush: pushes, attestor: attestor)
        let started = Date()
        await scheduler.run()
        await pushes?.finish()
        // Containers removed after their stage's verdict are gone before the audit trail (which
        // then shows their destruction) and the summary.
        await docker?.cleanups.finish()
        await docker?.recordAuditTrail(since: started) { line in
            run.emit(.log(stage: DockerSession.auditStage, stream: "stdout", line: line))
        }
        if !Task.isCancelled { await docker?.reapLateLeftovers(warn: run.warn) }
        await CacheLimits.apply(plan.definition.cache, pipeline: plan.definition.name, cache: cache,
                                options: options, recorder: run)
        return run.finish(commit: checkout.commit.sha, skipping: [])
    }

    /// A sortable, unique run ID: UTC time plus random hex, e.g. `20261129-065212-4f3a`.
    static func makeRunID() -> String {
        let stamp = RunEvent.rfc3339(Date())
        let digits = stamp.prefix(19).filter { $0.isNumber }
        let random = String(UInt16.random(in: 0...UInt16.max), radix: 16)
        return "\(digits.prefix(8))-\(digits.dropFirst(8))-\(String(repeating: "0", count: 4 - random.count))\(random)"
    }
}

/// Collects stage results and emits events for one run; safe to call from many tasks.
final class RunRecorder: Sendable {
    let runID: String
    let pipeline: String
    private let sink: EventSink
    private let started = ContinuousClock.now
    private let state = Mutex(State())

    private struct State {
        var results: [StageResult] = []
        var warnings: [String] = []
        var environmentProblem: String?
        var environmentProblemCode: StageErrorCode?
        var environmentProblemRemedy: Remedy?
    }

    init(runID: String, pipeline: String, sink: @escaping EventSink) {
        self.runID = runID
        self.pipeline = pipeline
        self.sink = sink
    }

    func emit(_ body: RunEvent.Body) {
        sink(RunEvent(run: runID, body))
    }

    /// A warning that also goes into the summary.
    func warn(_ message: String) {
        state.withLock { $0.warnings.append(message) }
        emit(.warning(stage: nil, message: message))
    }

    func record(_ result: StageResult) {
        state.withLock { $0.results.append(result) }
        emit(.stageFinished(result))
    }

    var results: [StageResult] { state.withLock { $0.results } }

    /// A stage failed because of the machine, not the commit: the run ends as an environment
    /// problem (exit 3). The first one noted is the one reported.
    func noteEnvironmentProblem(_ message: String, code: StageErrorCode, remedy: Remedy? = nil) {
        state.withLock {
            guard $0.environmentProblem == nil else { return }
            $0.environmentProblem = message
            $0.environmentProblemCode = code
            $0.environmentProblemRemedy = remedy
        }
    }

    /// Marks `unreached` stages skipped (or cancelled), then emits and returns the summary. A
    /// stage the environment kept from starting gets `code` and `remedy`, the environment problem's.
    func finish(commit: String, skipping unreached: [PlannedStage], environmentProblem: String? = nil,
                code: StageErrorCode? = nil, remedy: Remedy? = nil) -> RunSummary {
        let cancelled = Task.isCancelled
        let (noted, notedCode, notedRemedy) = state.withLock {
            ($0.environmentProblem, $0.environmentProblemCode, $0.environmentProblemRemedy)
        }
        let remedy = environmentProblem != nil ? remedy : notedRemedy
        let environmentProblem = environmentProblem ?? noted
        for stage in unreached where !results.contains(where: { $0.name == stage.name }) {
            let reason = environmentProblem != nil ? "not started: the environment is not ready" : (cancelled ? "the run was interrupted" : "the checkout failed")
            let reasonCode: StageErrorCode = environmentProblem != nil ? (code ?? notedCode ?? .environment)
                : (cancelled ? .cancelled : .dependencyFailed)
            record(StageResult(name: stage.name, kind: stage.kind, status: cancelled ? .cancelled : .skipped,
                               cached: false, durationMilliseconds: 0, error: reason, code: reasonCode,
                               remedy: environmentProblem != nil ? remedy : nil))
        }
        let results = self.results
        let status: RunStatus
        if cancelled || results.contains(where: { $0.status == .cancelled }) {
            status = .cancelled
        } else if environmentProblem != nil || results.contains(where: { $0.status != .passed }) {
            status = .failed
        } else {
            status = .passed
        }
        let summary = RunSummary(run: runID, pipeline: pipeline, commit: commit, status: status,
                                 durationMilliseconds: started.duration(to: .now).milliseconds,
                                 stages: results, warnings: state.withLock { $0.warnings },
                                 environmentProblem: environmentProblem, remedy: remedy?.rawValue)
        emit(.runFinished(summary))
        return summary
    }
}

extension Duration {
    /// Whole milliseconds.
    var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
