import Foundation

/// A stable, machine-readable name for why a stage failed, was skipped or was cancelled: the
/// `code` beside `error` in the events. Agents branch on it, never on the prose. A code always
/// means the same side of the line: the `isEnvironmentProblem` ones blame the machine (the run
/// exits 3), the others the commit, its definition or the run itself.
///
/// A struct rather than an enum, so that a new code breaks no caller's `switch`.
public struct StageErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The code as written in the events, e.g. `nix-build-failed`.
    public let rawValue: String
    /// Whether this code blames the machine rather than the commit (the run exits 3).
    public let isEnvironmentProblem: Bool

    /// Reads a code from the events; unknown text gives nil.
    public init?(rawValue: String) {
        guard let known = Self.all.first(where: { $0.rawValue == rawValue }) else { return nil }
        self = known
    }

    private init(_ rawValue: String, environment: Bool = false) {
        self.rawValue = rawValue
        self.isEnvironmentProblem = environment
    }

    public var description: String { rawValue }

    // The commit, its definition or the run.

    /// The source could not be resolved or written out (unknown ref, unreachable repository, not a repository).
    public static let checkoutFailed = StageErrorCode("checkout-failed")
    /// `nix build` failed: a builder exited non-zero or the flake did not evaluate.
    public static let nixBuildFailed = StageErrorCode("nix-build-failed")
    /// The daemon refused an image (`POST /images/load` reported an error), or the image script failed.
    public static let loadFailed = StageErrorCode("load-failed")
    /// A `docker-build` step failed (the daemon's `errorDetail`), or the daemon refused the build.
    public static let buildFailed = StageErrorCode("build-failed")
    /// An image archive is not a valid docker-archive (bad tar or gzip, hostile headers).
    public static let archiveInvalid = StageErrorCode("archive-invalid")
    /// The image a container stage names is not in the daemon (Sutradhar never pulls).
    public static let imageMissing = StageErrorCode("image-missing")
    /// The stage asks for something the container policy refuses (a network, mounts outside the
    /// checkout, limits the daemon cannot enforce).
    public static let policyRefused = StageErrorCode("policy-refused")
    /// A smoke stage's server container exited before its probe passed.
    public static let serverExited = StageErrorCode("server-exited")
    /// A smoke stage's probe did not pass in its attempts.
    public static let probeFailed = StageErrorCode("probe-failed")
    /// A container stage's command exited with another code than `expect-exit`.
    public static let containerFailed = StageErrorCode("container-failed")
    /// The stage ran past its `timeout` (its own or its kind's default) and was stopped.
    public static let timeout = StageErrorCode("timeout")
    /// The run was interrupted (Ctrl-C, SIGTERM, the caller's cancellation).
    public static let cancelled = StageErrorCode("cancelled")
    /// Skipped: a stage it needs (or the checkout) did not pass.
    public static let dependencyFailed = StageErrorCode("dependency-failed")
    /// The daemon answered with an error or not in time, in a way no other code describes.
    public static let daemonError = StageErrorCode("daemon-error")
    /// Reading or writing the cache failed for another reason than a full disk (permissions, a lock).
    public static let cacheFailed = StageErrorCode("cache-failed")
    /// A reproducibility check (`sutradhar reproduce`) built the stage's output twice and the two
    /// differ: a finding about the commit, like a failed build; `outputs` name the files.
    public static let notReproducible = StageErrorCode("not-reproducible")
    /// Nothing above: a failure Sutradhar did not expect. Its message says what happened.
    public static let `internal` = StageErrorCode("internal")

    // The machine (exit 3).

    /// The Docker daemon cannot be reached.
    public static let daemonUnreachable = StageErrorCode("daemon-unreachable", environment: true)
    /// nix runs but cannot reach its store's daemon.
    public static let storeUnreachable = StageErrorCode("store-unreachable", environment: true)
    /// A remote builder of `nix.builders` cannot be reached, or nix-daemon ignored the builders
    /// while `nix.max-jobs` 0 forbids building here.
    public static let builderUnreachable = StageErrorCode("builder-unreachable", environment: true)
    /// nix is missing, too old for flakes, or refuses the flake features.
    public static let nixMissing = StageErrorCode("nix-missing", environment: true)
    /// The disk under the cache (or the checkout) is full.
    public static let diskFull = StageErrorCode("disk-full", environment: true)
    /// Something else the run needs is not ready (e.g. a rootful daemon refused, a bad Docker
    /// host setting); `environment_problem` says what.
    public static let environment = StageErrorCode("environment", environment: true)

    /// Every code, in the order docs/events.md lists them.
    public static let all: [StageErrorCode] = [
        checkoutFailed, nixBuildFailed, loadFailed, buildFailed, archiveInvalid, imageMissing, policyRefused, serverExited,
        probeFailed, containerFailed, timeout, cancelled, dependencyFailed, daemonError, cacheFailed, notReproducible, .internal,
        daemonUnreachable, storeUnreachable, builderUnreachable, nixMissing, diskFull, environment,
    ]
}
