/// Why Kubernetes manifests could not be rendered. A front end shows `message`; the CLI exits
/// 2 for every code (the request or the definition must change) except `io` (exit 3).
public struct KubeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure this is, so a front end can pick an exit code without parsing text.
    public enum Code: String, Sendable {
        /// An option's value cannot be used (a cache spec, a uid, a namespace, an image, a socket path).
        case invalidArgument = "invalid-argument"
        /// The pipeline's `schedule:` has no cron equivalent a CronJob could use.
        case unconvertibleSchedule = "unconvertible-schedule"
        /// The definition's name or file name cannot name Kubernetes objects.
        case invalidName = "invalid-name"
        /// The definition file could not be read.
        case io
    }

    /// What kind of failure this is.
    public let code: Code
    /// What failed and what to do about it.
    public let message: String

    /// Creates an error; `message` says what failed and what to do.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }
}
