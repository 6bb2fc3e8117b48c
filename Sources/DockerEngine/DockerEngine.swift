/// DockerEngine: Sutradhar's own client for the Docker Engine API over the daemon's unix socket.
///
/// The module knows the Engine API (version negotiation, system, images, containers, exec,
/// events), the two stream formats the daemon answers with (JSON lines and the multiplexed
/// stdout/stderr framing), where the daemon's socket is, and how to read a docker-archive without
/// loading it. It knows nothing of pipelines, git or Nix, and it never runs the docker CLI.
///
/// Why AsyncHTTPClient rather than raw SwiftNIO: loading an image means sending hundreds of MiB
/// as a request body, and AsyncHTTPClient pulls such a body from an `AsyncSequence` only as fast
/// as the socket drains (backpressure), so memory stays flat whatever the image size. It also
/// gives per-request deadlines, Task-cancellation that tears the request down, connection pooling
/// over `http+unix://` (a `wait` or `logs?follow` can stay open while other calls go on), and a
/// correct HTTP/1.1 parser for chunked and read-until-close bodies (exec output). Raw NIO would
/// mean re-writing all of that; what AsyncHTTPClient does not bound — the time to read a long
/// body — this module bounds itself (see `withDeadline`).
///
/// Entry points: ``DockerHost/discover(explicit:environment:homeDirectory:)`` finds the socket,
/// ``DockerClient/withClient(host:timeout:logger:isolation:_:)`` opens a client for a scope, and
/// ``ImageArchive`` reads an image archive's ID before loading it.

/// An error from talking to the Docker daemon or reading an image archive.
///
/// It says what failed, where (`endpoint`, `status`), what the daemon answered (`daemonMessage`)
/// and what to do about it (`message`). `underlying` keeps the transport or decoding error that
/// caused it, if any.
public struct DockerError: Error, CustomStringConvertible, Sendable {
    /// The kind of failure; new kinds may be added.
    public enum Code: String, Sendable {
        /// The socket could not be reached (missing, refused, permission denied).
        case unreachable
        /// The daemon answered something this client cannot read (unexpected status, JSON or framing).
        case badResponse
        /// The daemon answered 404: no such image, container or exec instance.
        case notFound
        /// The daemon answered 409: a name is taken, or the object is in the wrong state.
        case conflict
        /// The daemon answered with another error status (usually 500).
        case daemonError
        /// `POST /images/load` reported an error (often inside an HTTP 200) or loaded nothing.
        case loadFailed
        /// The call did not finish before its deadline.
        case timeout
        /// The calling Task was cancelled.
        case cancelled
        /// An image archive is not a readable docker-archive (tar or gzip-compressed tar): it
        /// cannot be opened, is truncated, or has a malformed tar header (a negative or oversized
        /// size, a bad checksum, a broken pax record). A stage reports it as `archive-invalid`.
        case invalidArchive
        /// A Docker host setting cannot be used: not a `unix://` socket, or a broken context.
        case invalidHost
    }

    /// The kind of failure.
    public let code: Code
    /// The Engine API endpoint, e.g. `POST /containers/create`, without the version prefix.
    public let endpoint: String?
    /// The HTTP status the daemon answered with, if it answered.
    public let status: Int?
    /// The daemon's own words (`{"message": …}` or a load `error`), if it gave any.
    public let daemonMessage: String?
    /// What failed, where, and what to do.
    public let message: String
    /// The error that caused this one (transport, decoding, file system), if any.
    public let underlying: (any Error)?

    /// Makes an error; `message` should say what failed and what to do.
    public init(
        _ code: Code,
        _ message: String,
        endpoint: String? = nil,
        status: Int? = nil,
        daemonMessage: String? = nil,
        underlying: (any Error)? = nil
    ) {
        self.code = code
        self.message = message
        self.endpoint = endpoint
        self.status = status
        self.daemonMessage = daemonMessage
        self.underlying = underlying
    }

    /// One line: the message, then the endpoint, status, daemon message and cause in brackets.
    public var description: String {
        var details: [String] = []
        if let endpoint { details.append(endpoint) }
        if let status { details.append("HTTP \(status)") }
        if let daemonMessage, !message.contains(daemonMessage) { details.append("daemon: \(daemonMessage)") }
        if let underlying { details.append("cause: \(underlying)") }
        return details.isEmpty ? message : "\(message) [\(details.joined(separator: "; "))]"
    }
}
