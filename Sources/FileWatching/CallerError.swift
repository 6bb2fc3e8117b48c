/// A failure of one of the callers' tools: writing a nightly report, installing or removing
/// systemd units, watching a folder.
public struct CallerError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is, so the CLI can pick the exit code without parsing text.
    public enum Code: String, Sendable {
        /// A file (report, unit) could not be written or removed: the environment's fault.
        case io
        /// The request cannot be honoured as given (no such installed timer, a bad schedule).
        case invalidRequest
        /// A folder cannot be watched (inotify unavailable, out of watches).
        case watchFailed
    }

    /// What kind of failure this is.
    public let code: Code
    /// What failed and what to do about it.
    public let message: String
    /// The underlying error or system message, if any.
    public let cause: String?
    /// When what to do is a setting a front end offers, which one: the front end words its own
    /// advice (the CLI names its flag); `message` names no flag.
    public let remedy: Remedy?

    /// A setting that would avoid the failure.
    public enum Remedy: String, Sendable {
        /// Write the units into another folder (`SystemdUserManager(unitDirectory:)`).
        case chooseUnitFolder = "choose-unit-folder"
    }

    /// Creates an error; `message` says what failed and what to do.
    public init(_ code: Code, _ message: String, cause: String? = nil, remedy: Remedy? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
        self.remedy = remedy
    }

    /// The message, followed by the underlying cause when there is one.
    public var description: String {
        guard let cause, !cause.isEmpty else { return message }
        return "\(message) (cause: \(cause))"
    }
}
