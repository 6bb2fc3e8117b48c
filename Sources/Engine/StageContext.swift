import BuildCache
import Foundation
import NixBuild
import Pipeline
import RunEvents

/// What a stage executor gets: the checkout, the outputs of the stages it depends on, the
/// cache, the clients, and a way to report progress. Executors never read YAML or print.
public struct StageContext: Sendable {
    /// The run's ID.
    public let runID: String
    /// The pipeline's name.
    public let pipeline: String
    /// The stage being run.
    public let stage: PlannedStage
    /// The commit being built (40 hex).
    public let commit: String
    /// The commit's tree ID: what cache keys of source-derived work are made of.
    public let treeID: String
    /// The folder holding the commit's tree.
    public let checkout: URL
    /// Outputs of every finished stage so far, by stage name.
    public let outputsByStage: [String: [(String, JSONValue)]]
    /// The cache.
    public let cache: BuildCache
    /// nix, with the definition's options.
    public let nix: Nix
    /// The Docker session, opened once per run if any stage needs it.
    public let docker: DockerSession?
    /// Run options (policy switches, --no-cache).
    public let options: RunOptions
    /// Where events go.
    let sink: EventSink
    /// Where a passed nix-build's output is pushed (`cache.nix-push`), if anywhere.
    var nixPush: NixPushQueue? = nil

    /// Reports one log line of this stage.
    public func log(_ line: String, stream: String = "stderr") {
        sink(RunEvent(run: runID, .log(stage: stage.name, stream: stream, line: line)))
    }

    /// Runs `body` holding `lock`: one holder at a time across runs and processes. A stage that
    /// must wait says so, naming the run and stage that hold the lock; `work` says what they do
    /// ("building the same tree").
    public func exclusively<T: Sendable>(lock: URL, work: String, _ body: () async throws -> T) async throws -> T {
        let me = LockHolder(run: runID, stage: stage.name)
        return try await FileLock.withLock(at: lock, holder: me.description, onWait: { line in
            let holder = line.flatMap(LockHolder.init(parsing:))
            let who = holder.map { "run \($0.run) (stage \($0.stage))" } ?? "another run"
            sink(RunEvent(run: runID, .stageWaiting(stage: stage.name, reason: "\(who) is \(work); waiting for it",
                                                    heldBy: holder)))
        }, body)
    }

    /// Reports a warning tied to this stage.
    public func warn(_ message: String) {
        sink(RunEvent(run: runID, .warning(stage: stage.name, message: message)))
    }

    /// The string output `key` of the stage `name`.
    public func output(_ key: String, of name: String) -> String? {
        outputsByStage[name]?.first { $0.0 == key }?.1.stringValue
    }
}

/// What an executor returns when its stage passes.
public struct StageOutcome: Sendable {
    /// The stage's outputs, in the order they should be shown.
    public let outputs: [(String, JSONValue)]
    /// Whether the work was skipped because the cache held its result.
    public let cached: Bool
    /// What the stage claims about the image it made or tested, for the engine to sign.
    public var claim: StageClaim?

    /// Creates an outcome.
    public init(outputs: [(String, JSONValue)], cached: Bool, claim: StageClaim? = nil) {
        self.outputs = outputs
        self.cached = cached
        self.claim = claim
    }
}

/// Runs one kind of stage. A kind is its spec (in Pipeline, with one line in `StageKinds.all`),
/// its executor and one line in `Engine.executors`. What a kind can do is declared here, and
/// the engine, the cache tools and the messages ask these capabilities, never the kind's name.
public protocol StageExecutor: Sendable {
    /// The settings this executor runs; its `kind` is the executor's kind.
    associatedtype Spec: StageSpec
    /// Whether stages of this kind need the Docker daemon (checked before the run starts).
    static var needsDocker: Bool { get }
    /// Whether stages of this kind need nix.
    static var needsNix: Bool { get }
    /// The timeout of a stage of this kind that sets none. A requirement (not an extension
    /// default), so that it is dispatched through the registry's type erasure.
    static var defaultTimeout: Duration { get }
    /// Whether a reproducibility check (`RunOptions.reproduce`) can check stages of this kind:
    /// only those run in such a check. A requirement, for the same reason as `defaultTimeout`.
    static var checksReproducibility: Bool { get }
    /// Runs the stage. Throws `StageFailure` (or a module's error) when it fails; must honour
    /// cancellation and leave nothing running.
    func execute(_ spec: Spec, context: StageContext) async throws -> StageOutcome
}

extension StageExecutor {
    /// Most kinds produce nothing a second build could be compared with.
    public static var checksReproducibility: Bool { false }
    /// The kind it runs, e.g. `nix-build`: its spec's.
    public static var kind: String { Spec.kind }
    /// Whether its stages put an image in the daemon that containers can run (and that cache
    /// tools untag): its spec's, since the planner checks `image:` references with it.
    public static var producesImage: Bool { Spec.producesImage }
}

/// An executor with its spec type erased: the one place where a stage's `any StageSpec` is
/// matched to the executor's own `Spec`.
public struct AnyStageExecutor: Sendable {
    /// The kind it runs.
    public let kind: String
    /// Whether its stages need the Docker daemon.
    public let needsDocker: Bool
    /// Whether its stages need nix.
    public let needsNix: Bool
    /// Whether its stages put an image in the daemon.
    public let producesImage: Bool
    /// The timeout of a stage that sets none.
    public let defaultTimeout: Duration
    /// Whether a reproducibility check runs stages of this kind.
    public let checksReproducibility: Bool
    private let run: @Sendable (any StageSpec, StageContext) async throws -> StageOutcome

    /// Wraps `executor`.
    public init<Executor: StageExecutor>(_ executor: Executor) {
        kind = Executor.kind
        needsDocker = Executor.needsDocker
        needsNix = Executor.needsNix
        producesImage = Executor.producesImage
        defaultTimeout = Executor.defaultTimeout
        checksReproducibility = Executor.checksReproducibility
        run = { spec, context in
            guard let spec = spec as? Executor.Spec else {
                throw StageFailure(.internal, "the \(Executor.kind) executor was given \(type(of: spec).kind) settings")
            }
            return try await executor.execute(spec, context: context)
        }
    }

    /// Runs a stage of this kind (see `StageExecutor.execute`).
    /// - Throws: `StageFailure` (`internal`) if `spec` is of another kind; what the executor throws.
    public func execute(_ spec: any StageSpec, context: StageContext) async throws -> StageOutcome {
        try await run(spec, context)
    }
}
