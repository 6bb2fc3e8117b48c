/// An error from running `nix`: what failed, what to do about it, and the end of nix's log.
///
/// A struct rather than an enum (as swift-subprocess's `SubprocessError`), so a new ``Code``
/// breaks no caller that only reads ``code``, ``message`` and ``logTail``.
public struct NixError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is.
    public enum Code: String, Sendable {
        /// The `nix` executable was not found (not installed, or not on `PATH`).
        case nixMissing
        /// `nix` runs but is older than 2.4, the first release with flakes.
        case nixTooOld
        /// `nix` refused the flake or `nix-command` features although they were requested.
        case flakesUnavailable
        /// `nix build` exited with a non-zero status (a builder failed, or the flake did not evaluate).
        case buildFailed
        /// `nix eval` exited with a non-zero status.
        case evalFailed
        /// `nix` succeeded but printed something this module cannot read (or could not be run at all).
        case unexpectedOutput
        /// The calling task was cancelled; nix and its builders were stopped.
        case cancelled
        /// nix runs but cannot reach the store's daemon (`NIX_REMOTE=daemon` with no nix-daemon
        /// listening, or a socket this user may not open): a problem of the machine, not the build.
        case storeUnreachable
        /// A remote builder could not be reached ("cannot build on '…'", `nix store ping --store`
        /// failing), or nix-daemon ignored the builders (only trusted users may set them) while
        /// `max-jobs` 0 forbids building locally: a problem of the machines, not the build.
        case builderUnreachable
        /// `nix copy` to a binary cache failed.
        case pushFailed
    }

    /// What kind of failure this is.
    public let code: Code
    /// What failed and what to do about it, in one or two sentences.
    public let message: String
    /// nix's exit status when it exited, or `nil` if it never ran or was killed by a signal.
    public let exitCode: Int32?
    /// The last lines nix wrote to stderr (at most ``Nix/logTailLimit``), oldest first.
    public let logTail: [String]
    /// The command that failed, as an argument list (`["nix", "build", …]`), or empty if none ran.
    public let command: [String]
    /// The error underneath, e.g. a `SubprocessError` when nix could not be started.
    public let underlyingError: (any Error)?

    /// Creates an error; the fields mean what their properties say.
    public init(
        code: Code,
        message: String,
        exitCode: Int32? = nil,
        logTail: [String] = [],
        command: [String] = [],
        underlyingError: (any Error)? = nil
    ) {
        self.code = code
        self.message = message
        self.exitCode = exitCode
        self.logTail = logTail
        self.command = command
        self.underlyingError = underlyingError
    }

    /// The message, followed by the exit code and the underlying error when there are any.
    /// The log tail is left out: it was already streamed to the build log as it arrived.
    public var description: String {
        var text = message
        if let exitCode {
            text += " (nix exited with status \(exitCode))"
        }
        if let underlyingError {
            text += " [\(underlyingError)]"
        }
        return text
    }
}
