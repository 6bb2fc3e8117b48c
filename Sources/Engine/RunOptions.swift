import Foundation
import RunEvents

/// How one run is carried out; every field has the default a user would expect.
public struct RunOptions: Sendable {
    /// The cache root (see `BuildCache`).
    public var cacheRoot: URL
    /// `--commit`: overrides the definition's `source.ref`.
    public var commit: String?
    /// `--source`: a URL or path replacing the definition's source. A local folder without
    /// `--commit` is built as it is (snapshot), with uncommitted and untracked changes.
    public var sourceOverride: String?
    /// `--jobs`: how many stages may run at once.
    public var jobs: Int
    /// `--no-cache`: run every stage again (mirrors and the nix store still serve).
    public var noCache: Bool
    /// `--docker-host`: the daemon's socket, overriding discovery.
    public var dockerHost: String?
    /// `--allow-rootful`: accept a daemon that is not rootless (with a loud warning).
    public var allowRootful: Bool
    /// `--allow-network`: let stages that ask for `network: bridge` have it.
    public var allowNetwork: Bool
    /// `--stage`: run only this stage and what it needs.
    public var onlyStage: String?
    /// `--max-runs`: how many runs may work at once on one cache; later ones queue.
    public var maxRuns: Int
    /// The environment nix and discovery see (defaults to the process's).
    public var environment: [String: String]
    /// `--signing-key` and `--no-attest`: whether the run signs attestations, and with which key.
    public var attestation = AttestationSettings()
    /// Warnings the caller met before the run (e.g. its run history was recovered from a corrupt
    /// file): each becomes a `warning` event right after run-started, and goes into the summary.
    public var warnings: [String] = []
    /// Set for a reproducibility check (`sutradhar reproduce`): only the stages that can be
    /// checked run (and what they need), each building its output if needed, then again, and
    /// comparing the two. Nil for an ordinary run.
    public var reproduce: ReproduceSettings? = nil
    /// The caller's W3C trace context (`00-<trace id>-<span id>-<flags>`): when runs are traced,
    /// the run's trace continues it; a malformed one is ignored (the run starts a trace of its
    /// own). The CLI's `run` and `nightly` take it from `TRACEPARENT`, the MCP server from a tool
    /// call's `_meta.traceparent`; a long-lived server never applies its own environment's.
    public var traceparent: String? = nil
    /// The run's own trace context, set by the launcher when the run is traced: nix and the run's
    /// containers get it as `TRACEPARENT`, so that what they start can continue the run's trace.
    public var propagatedTraceparent: String? = nil
    /// Receives the timed steps inside stages (`StageStep`), for the run's trace; nil: none are timed.
    public var stepSink: StageStepSink? = nil

    /// Options with defaults: 2 jobs, cache used, rootless only, no network.
    public init(cacheRoot: URL, commit: String? = nil, sourceOverride: String? = nil, jobs: Int = 2, noCache: Bool = false,
                dockerHost: String? = nil, allowRootful: Bool = false, allowNetwork: Bool = false, onlyStage: String? = nil,
                maxRuns: Int = RunOptions.defaultMaxRuns, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.cacheRoot = cacheRoot
        self.commit = commit
        self.sourceOverride = sourceOverride
        self.jobs = max(1, jobs)
        self.noCache = noCache
        self.dockerHost = dockerHost
        self.allowRootful = allowRootful
        self.allowNetwork = allowNetwork
        self.onlyStage = onlyStage
        self.maxRuns = max(1, maxRuns)
        self.environment = environment
    }
}

/// How a reproducibility check runs and reports what it finds.
public struct ReproduceSettings: Sendable, Equatable {
    /// Which stages run, and what a difference does to its stage.
    public enum Scope: Sendable, Equatable {
        /// `sutradhar reproduce`: only the stages that can be checked run (and what they need),
        /// and a difference fails its stage (`not-reproducible`).
        case checkedStagesOnly
        /// A nightly rebuild that also checks: every stage runs, and a difference is reported in
        /// the stage's outputs and as a warning without failing it (the image still loads and is
        /// smoke-tested).
        case wholeRun
    }

    /// Whether diffoscope also writes an HTML report (the text one is always written).
    public var html: Bool
    /// Which stages run, and whether a difference fails its stage.
    public var scope: Scope

    /// Settings for `sutradhar reproduce`, with a text report only.
    public init(html: Bool = false, scope: Scope = .checkedStagesOnly) {
        self.html = html
        self.scope = scope
    }
}

extension RunOptions {
    /// One run per two cores, at least two: a run is mostly nix and the daemon working, and
    /// more at once only makes each slower.
    public static var defaultMaxRuns: Int { max(2, ProcessInfo.processInfo.activeProcessorCount / 2) }
}

/// Something the run needs is missing or refused: the CLI exits 3.
public struct EnvironmentError: Error, Sendable, CustomStringConvertible {
    /// What is wrong and how to fix it.
    public let message: String
    /// The stable code the stages it kept from starting report (one that blames the machine).
    public let code: StageErrorCode
    /// The setting that would avoid it, if one would; `message` names no front end's flag.
    public let remedy: Remedy?

    /// Creates the error.
    public init(_ message: String, code: StageErrorCode = .environment, remedy: Remedy? = nil) {
        self.message = message
        self.code = code
        self.remedy = remedy
    }
    public var description: String { message }
}

/// A stage failed in a way its own log explains (a failing build, a probe that never passed).
public struct StageFailure: Error, Sendable, CustomStringConvertible {
    /// What kind of failure, for machines (the `code` beside `error` in the events).
    public let code: StageErrorCode
    /// Why, in one line.
    public let message: String
    /// Outputs gathered before the failure (e.g. the container's exit code).
    public let outputs: [(String, JSONValue)]
    /// The setting that would avoid it, if one would; `message` names no front end's flag.
    public let remedy: Remedy?
    /// What the failed stage claims all the same (a smoke stage's FAILED verdict), for the engine to sign.
    public var claim: StageClaim?

    /// Creates the failure with its code.
    public init(_ code: StageErrorCode, _ message: String, outputs: [(String, JSONValue)] = [], remedy: Remedy? = nil) {
        self.code = code
        self.message = message
        self.outputs = outputs
        self.remedy = remedy
    }

    /// Creates a failure with the code `internal`: prefer `init(_:_:outputs:)` with a code that says what failed.
    public init(_ message: String, outputs: [(String, JSONValue)] = []) {
        self.init(.internal, message, outputs: outputs)
    }
    public var description: String { message }
}
