import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import Synchronization

/// A client for one Docker daemon, speaking the Engine API version negotiated when it opened.
///
/// Open one with ``withClient(host:timeout:logger:isolation:_:)``; it is valid only inside that
/// scope. Every call has a deadline (the client's `timeout` unless the call takes its own) that
/// bounds the whole call, body included, and honours Task cancellation: a cancelled call throws
/// ``DockerError`` `.cancelled` and tears its connection down.
public final class DockerClient: Sendable {
    /// Where the daemon is.
    public let host: DockerHost
    /// The negotiated Engine API version, the `/vN.NN/` prefix of every call.
    public let version: APIVersion
    /// The highest API version the daemon speaks (from `GET /_ping`).
    public let daemonVersion: APIVersion
    /// The default deadline of a call.
    public let timeout: Duration
    /// Which engine answers: Podman when its `GET /_ping` carries a `Libpod-Api-Version` header.
    /// (``DaemonInfo/engine`` says the same from `GET /version`; the client needs it before any
    /// call, to send a load in the form the engine accepts.)
    public let engine: ContainerEngine

    let http: HTTPClient
    let logger: Logger

    /// The negotiated Engine API version as text, e.g. `1.41`.
    public var apiVersion: String { version.description }

    private init(host: DockerHost, version: APIVersion, daemonVersion: APIVersion, engine: ContainerEngine, timeout: Duration,
                 http: HTTPClient, logger: Logger) {
        self.host = host
        self.engine = engine
        self.version = version
        self.daemonVersion = daemonVersion
        self.timeout = timeout
        self.http = http
        self.logger = logger
    }

    /// Opens a client on `host`, negotiates the API version with `GET /_ping`, runs `body`, and
    /// always shuts the HTTP client down — on return, on throw and on cancellation.
    ///
    /// - Parameters:
    ///   - timeout: the default deadline of each call (calls that wait for containers or stream
    ///     take their own).
    ///   - logger: receives a debug line per call, with `docker.endpoint` metadata; none by default.
    /// - Throws: ``DockerError`` `.unreachable` if nothing answers on the socket, `.badResponse` if
    ///   what answers is not a Docker daemon, `.daemonError` if its API is too old; whatever `body` throws.
    public static func withClient<T: Sendable>(
        host: DockerHost,
        timeout: Duration = .seconds(30),
        logger: Logger? = nil,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (DockerClient) async throws -> T
    ) async throws -> T {
        var configuration = HTTPClient.Configuration()
        configuration.httpVersion = .http1Only
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        // No span per API request, even when a process-wide tracer is bootstrapped (the dashboard's
        // request spans): a run's trace has its own steps (image upload, container start, probe).
        configuration.tracing.tracer = nil
        // No read timeout: wait, logs?follow and events legitimately stay silent for long; each
        // call bounds itself with its deadline instead.
        configuration.timeout = .init(connect: .seconds(5), read: nil)
        // A wait and a followed log each hold a connection for a container's whole run.
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        let logger = logger ?? Logger(label: "sutradhar.docker", factory: { _ in SwiftLogNoOpLogHandler() })

        return try await HTTPClient.withHTTPClient(
            eventLoopGroup: HTTPClient.defaultEventLoopGroup,
            configuration: configuration,
            backgroundActivityLogger: logger,
            isolation: isolation
        ) { http in
            let (daemonVersion, engine) = try await ping(http: http, host: host, timeout: timeout, logger: logger)
            let version = try APIVersion.negotiate(daemonHeader: daemonVersion)
            let client = DockerClient(
                host: host, version: version, daemonVersion: APIVersion(daemonVersion ?? "") ?? version, engine: engine,
                timeout: timeout, http: http, logger: logger
            )
            logger.debug("connected to Docker", metadata: ["docker.host": "\(host)", "docker.api": "\(version)"])
            return try await body(client)
        }
    }

    /// `GET /_ping`, unversioned: checks a daemon answers and returns its `API-Version` header
    /// and which engine it is.
    private static func ping(http: HTTPClient, host: DockerHost, timeout: Duration, logger: Logger) async throws
        -> (apiVersion: String?, engine: ContainerEngine)
    {
        let call = Call(.GET, "/_ping", versioned: false)
        if let failure = connectionFailure(toUnixSocketAt: host.socketPath) {
            let advice = switch failure.code {
            case EACCES: "this user may not open the socket: run as its owner (the rootless daemon's user) or fix its permissions"
            case ENOENT: "no socket is there: start the daemon (scripts/setup.sh starts the rootless one) or name its socket as the run's Docker host (or DOCKER_HOST)"
            default: "the daemon is not running there: start it (scripts/setup.sh starts the rootless one) or name its socket as the run's Docker host (or DOCKER_HOST)"
            }
            throw DockerError(.unreachable, "cannot connect to the Docker daemon at \(host): \(failure); \(advice)", endpoint: call.endpoint, underlying: failure)
        }
        let deadline = Deadline(after: timeout)
        return try await withDeadline(deadline, call.endpoint, "reach the Docker daemon at \(host)", host: host) {
            let response = try await execute(call, http: http, host: host, version: nil, deadline: deadline, logger: logger)
            let body = try await response.body.collect(upTo: 64 * 1024)
            guard response.status.code == 200 else {
                throw statusError(Int(response.status.code), body: body, endpoint: call.endpoint, what: "ping the Docker daemon at \(host)")
            }
            let engine: ContainerEngine = response.headers.contains(name: "Libpod-Api-Version") ? .podman : .docker
            return (response.headers.first(name: "API-Version"), engine)
        }
    }
}

// MARK: - Calls

/// One Engine API request: method, unversioned path, query, body.
struct Call: Sendable {
    var method: HTTPMethod
    /// The path without the `/vN.NN` prefix, e.g. `/containers/create`.
    var path: String
    var query: [(name: String, value: String)]
    var body: HTTPClientRequest.Body?
    var contentType: String?
    var versioned: Bool

    init(
        _ method: HTTPMethod,
        _ path: String,
        query: [(name: String, value: String)] = [],
        body: HTTPClientRequest.Body? = nil,
        contentType: String? = nil,
        versioned: Bool = true
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.body = body
        self.contentType = contentType
        self.versioned = versioned
    }

    /// `METHOD /path`, as errors and logs name it.
    var endpoint: String { "\(method.rawValue) \(path)" }

    /// A call whose body is `value` as JSON.
    static func json(_ method: HTTPMethod, _ path: String, query: [(name: String, value: String)] = [], _ value: some Encodable) throws -> Call {
        let data: Data
        do {
            data = try JSONEncoder().encode(value)
        } catch {
            throw DockerError(.badResponse, "cannot encode the body of \(method.rawValue) \(path) as JSON", endpoint: "\(method.rawValue) \(path)", underlying: error)
        }
        return Call(method, path, query: query, body: .bytes(ByteBuffer(data: data)), contentType: "application/json")
    }
}

/// A point in time a call must finish by, the budget it came from, and what to say when it
/// passes (the daemon being slow, unless the call waits for a container).
struct Deadline: Sendable {
    let instant: NIODeadline
    let budget: Duration
    let timeoutHint: String?

    init(after budget: Duration, timeoutHint: String? = nil) {
        self.budget = budget
        self.instant = .now() + TimeAmount(budget)
        self.timeoutHint = timeoutHint
    }

    func timeoutError(_ what: String, endpoint: String, host: DockerHost, underlying: (any Error)? = nil) -> DockerError {
        DockerError(
            .timeout, "could not \(what) within \(budget.inWords); \(timeoutHint ?? "the daemon at \(host) is slow or stuck")",
            endpoint: endpoint, underlying: underlying
        )
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        let nanoseconds = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        self = nanoseconds.overflow ? .nanoseconds(.max) : .nanoseconds(nanoseconds.partialValue + attoseconds / 1_000_000_000)
    }
}

extension Duration {
    /// `30 s`, `1.5 s`, for messages.
    var inWords: String {
        let seconds = Double(components.seconds) + Double(components.attoseconds) / 1e18
        return seconds == seconds.rounded() ? "\(Int(seconds)) s" : String(format: "%.1f s", seconds)
    }
}

/// Percent-encodes `text` for a URL path segment or query value, keeping `/`, `:` and `@`
/// only where `keepingSeparators` (image references contain them and the daemon routes them).
func percentEncoded(_ text: String, keepingSeparators: Bool = false) -> String {
    var allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
    if keepingSeparators { allowed.insert(charactersIn: "/:@") }
    return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
}

/// `{"label":["k=v",…]}` for a `filters` query parameter, with the labels sorted.
func labelFilter(_ labels: [String: String], extra: [String: [String]] = [:]) -> String {
    var filters = extra
    if !labels.isEmpty {
        filters["label"] = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    return String(decoding: (try? encoder.encode(filters)) ?? Data("{}".utf8), as: UTF8.self)
}

/// Sends one request and returns once the response head arrived (the body may still be coming).
func execute(
    _ call: Call, http: HTTPClient, host: DockerHost, version: APIVersion?, deadline: Deadline, logger: Logger
) async throws -> HTTPClientResponse {
    var uri = call.path
    if call.versioned, let version { uri = "/v\(version)" + uri }
    if !call.query.isEmpty {
        uri += "?" + call.query.map { "\(percentEncoded($0.name))=\(percentEncoded($0.value))" }.joined(separator: "&")
    }
    guard let url = URL(httpURLWithSocketPath: host.socketPath, uri: uri) else {
        throw DockerError(.invalidHost, "cannot make a URL for the socket \(host.socketPath) and \(uri)", endpoint: call.endpoint)
    }
    var request = HTTPClientRequest(url: url.absoluteString)
    request.method = call.method
    // The daemon ignores Host, but HTTP/1.1 requires one, and the percent-encoded socket path
    // AsyncHTTPClient would derive is not a valid host name.
    request.headers.add(name: "Host", value: "localhost")
    if let contentType = call.contentType { request.headers.add(name: "Content-Type", value: contentType) }
    request.body = call.body
    logger.debug("docker call", metadata: ["docker.endpoint": "\(call.endpoint)"])
    return try await http.execute(request, deadline: deadline.instant, logger: logger)
}

/// The error for a non-2xx answer, carrying the daemon's `{"message": …}`.
func statusError(_ status: Int, body: ByteBuffer, endpoint: String, what: String, hint: String? = nil) -> DockerError {
    let daemonMessage = daemonMessage(in: body)
    let said = daemonMessage.map { ": \($0)" } ?? ""
    // Podman answers a conflict with HTTP 500 and says which in `cause`: the same code as Docker's 409.
    let podmanConflicts = ["that name is already in use", "container state improper"]
    let conflict = status == 409
        || (status == 500 && (try? JSONDecoder().decode(Wire.ErrorMessage.self, from: body).cause).flatMap { $0 }.map(podmanConflicts.contains) == true)
    switch conflict ? 409 : status {
    case 404:
        return DockerError(.notFound, "cannot \(what)\(said); \(hint ?? "it does not exist (any more)")", endpoint: endpoint, status: status, daemonMessage: daemonMessage)
    case 409:
        return DockerError(.conflict, "cannot \(what)\(said); \(hint ?? "it is in use or in a state that does not allow this")", endpoint: endpoint, status: status, daemonMessage: daemonMessage)
    default:
        return DockerError(
            .daemonError,
            "cannot \(what): the daemon answered HTTP \(status)\(said); \(hint ?? "see the daemon's log")",
            endpoint: endpoint, status: status, daemonMessage: daemonMessage
        )
    }
}

/// The daemon's `{"message": …}`, or its plain-text answer, trimmed and capped.
func daemonMessage(in body: ByteBuffer) -> String? {
    if let decoded = try? JSONDecoder().decode(Wire.ErrorMessage.self, from: body) {
        return decoded.message
    }
    let text = String(buffer: body).trimmingCharacters(in: .whitespacesAndNewlines)
    if text.isEmpty { return nil }
    return text.count > 1000 ? String(text.prefix(1000)) + "…" : text
}

/// A transport error, cancellation or deadline as a ``DockerError``.
func dockerError(from error: any Error, endpoint: String, what: String, host: DockerHost, deadline: Deadline) -> DockerError {
    // Cancellation first: a cancelled read looks like a short body, which may have been
    // reported as some other failure on the way up.
    if error is CancellationError || Task.isCancelled || (error as? HTTPClientError) == .cancelled {
        if let error = error as? DockerError, error.code == .cancelled { return error }
        return DockerError(.cancelled, "cancelled while trying to \(what)", endpoint: endpoint, underlying: error)
    }
    if let error = error as? DockerError { return error }
    if let error = error as? HTTPClientError {
        switch error {
        case .deadlineExceeded, .readTimeout, .connectTimeout, .getConnectionFromPoolTimeout, .writeTimeout:
            return deadline.timeoutError(what, endpoint: endpoint, host: host, underlying: error)
        case .remoteConnectionClosed:
            return DockerError(
                .badResponse, "the daemon closed the connection while this client tried to \(what); see the daemon's log",
                endpoint: endpoint, underlying: error
            )
        default:
            break
        }
    }
    if error is NIOTooManyBytesError {
        return DockerError(.badResponse, "the daemon's answer while trying to \(what) was larger than this client accepts", endpoint: endpoint, underlying: error)
    }
    return DockerError(
        .unreachable,
        "cannot \(what): no answer from the Docker daemon at \(host); check that it runs (scripts/setup.sh starts the rootless one) "
            + "and that this user may open the socket",
        endpoint: endpoint, underlying: error
    )
}

private struct DeadlinePassed: Error {}

/// Runs `operation`, throwing ``DockerError`` `.timeout` if it has not finished by `deadline`.
///
/// AsyncHTTPClient's own deadline bounds only the wait for the response head; bodies that arrive
/// late (wait, logs, events, load answers) are bounded here, by cancelling the reading task,
/// which makes AsyncHTTPClient drop the request. Other errors become ``DockerError``s too.
///
/// The deadline is a ``DeadlineTimer`` on `eventLoop`, disarmed as soon as `operation` ends.
func withDeadline<T: Sendable>(
    _ deadline: Deadline,
    _ endpoint: String,
    _ what: String,
    host: DockerHost,
    on eventLoop: any EventLoop = HTTPClient.defaultEventLoopGroup.any(),
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    let timer = DeadlineTimer(deadline.instant, on: eventLoop)
    defer { timer.cancel() }
    return try await withDeadline(deadline, endpoint, what, host: host, timer: timer, operation)
}

/// ``withDeadline(_:_:_:host:on:_:)`` with a timer that outlives the call: a streamed body's,
/// shared by the reads of all its chunks, so that a read costs no timer of its own.
func withDeadline<T: Sendable>(
    _ deadline: Deadline,
    _ endpoint: String,
    _ what: String,
    host: DockerHost,
    timer: DeadlineTimer,
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    do {
        return try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask(operation: operation)
            group.addTask {
                try await timer.wait()
                throw DeadlinePassed()
            }
            defer { group.cancelAll() }
            let result = try await group.next()!
            // A cancelled body read ends like a finished body (next() returns nil), so a result
            // that arrives after cancellation cannot be trusted to be complete.
            try Task.checkCancellation()
            return result
        }
    } catch is DeadlinePassed {
        throw deadline.timeoutError(what, endpoint: endpoint, host: host)
    } catch {
        throw dockerError(from: error, endpoint: endpoint, what: what, host: host, deadline: deadline)
    }
}

/// A deadline as one timer on an event loop, which waits (one after another, or at once) share.
///
/// Not `Task.sleep`: a cancelled `Task.sleep` returns at once but leaves its wake-up job (about
/// 700 bytes) queued until the instant it was set for. Streamed bodies are read one chunk at a
/// time under the request's deadline, an hour away for a followed log, so a stage that logged
/// 100 MiB of lines kept a GB of such jobs alive. A wait here that is cancelled leaves
/// nothing behind, and a ``cancel()``led timer is removed from its loop.
final class DeadlineTimer: Sendable {
    private let waits: Waits
    private let scheduled: Scheduled<Void>

    /// Arms the timer for `deadline` (one already passed fires at once).
    init(_ deadline: NIODeadline, on eventLoop: any EventLoop) {
        let waits = Waits()
        self.waits = waits
        scheduled = eventLoop.scheduleTask(deadline: deadline) { waits.pass() }
    }

    deinit { scheduled.cancel() }

    /// Returns once the deadline has passed (at once if it has).
    /// - Throws: `CancellationError` as soon as the waiting task is cancelled.
    func wait() async throws { try await waits.wait() }

    /// Disarms the timer: waits then end only by cancellation.
    func cancel() { scheduled.cancel() }

    /// The waits in progress, and whether the deadline has passed.
    private final class Waits: Sendable {
        private let state = Mutex((passed: false, waiting: [ObjectIdentifier: Wait]()))

        func pass() {
            let waiting = state.withLock { state -> [Wait] in
                state.passed = true
                defer { state.waiting = [:] }
                return Array(state.waiting.values)
            }
            waiting.forEach { $0.end(.success(())) }
        }

        func wait() async throws {
            let wait = Wait()
            let key = ObjectIdentifier(wait)
            guard state.withLock({ state -> Bool in
                if state.passed { return false }
                state.waiting[key] = wait
                return true
            }) else { return }
            defer { _ = state.withLock { $0.waiting.removeValue(forKey: key) } }
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { wait.start($0) }
            } onCancel: {
                wait.end(.failure(CancellationError()))
            }
        }
    }

    /// One wait: ended by the deadline or by its task's cancellation, whichever comes first,
    /// even before its continuation is there.
    private final class Wait: Sendable {
        private enum State {
            case idle
            case waiting(CheckedContinuation<Void, any Error>)
            case ended(Result<Void, any Error>)
        }
        private let state = Mutex(State.idle)

        func start(_ continuation: CheckedContinuation<Void, any Error>) {
            let ended = state.withLock { state -> Result<Void, any Error>? in
                if case .ended(let result) = state { return result }
                state = .waiting(continuation)
                return nil
            }
            if let ended { continuation.resume(with: ended) }
        }

        func end(_ result: Result<Void, any Error>) {
            let continuation = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                switch state {
                case .idle:
                    state = .ended(result)
                    return nil
                case .waiting(let continuation):
                    state = .ended(result)
                    return continuation
                case .ended:
                    return nil
                }
            }
            continuation?.resume(with: result)
        }
    }
}

extension DockerClient {
    /// Sends `call` and returns the answer's body; a non-2xx status becomes a ``DockerError``.
    ///
    /// - Parameters:
    ///   - what: the action in words (`create container 'x'`), for messages.
    ///   - hint: what to do if the daemon refuses, when the generic advice does not fit.
    ///   - timeout: this call's deadline; the client's by default.
    func send(_ call: Call, what: String, hint: String? = nil, timeout: Duration? = nil, maximumBodySize: Int = 32 << 20) async throws -> ByteBuffer {
        try await send(call, what: what, hint: hint, deadline: Deadline(after: timeout ?? self.timeout), maximumBodySize: maximumBodySize)
    }

    /// ``send(_:what:hint:timeout:maximumBodySize:)`` within a deadline shared with other calls.
    func send(_ call: Call, what: String, hint: String? = nil, deadline: Deadline, maximumBodySize: Int = 32 << 20) async throws -> ByteBuffer {
        try await withDeadline(deadline, call.endpoint, what, host: host) {
            let response = try await execute(call, http: self.http, host: self.host, version: self.version, deadline: deadline, logger: self.logger)
            let body = try await response.body.collect(upTo: maximumBodySize)
            let status = Int(response.status.code)
            guard (200..<300).contains(status) || status == 304 else {
                throw statusError(status, body: body, endpoint: call.endpoint, what: what, hint: hint)
            }
            return body
        }
    }

    /// ``send(_:what:hint:timeout:maximumBodySize:)`` and decode the JSON answer.
    func sendDecoding<T: Decodable>(_ type: T.Type, _ call: Call, what: String, hint: String? = nil, timeout: Duration? = nil) async throws -> T {
        try await sendDecoding(type, call, what: what, hint: hint, deadline: Deadline(after: timeout ?? self.timeout))
    }

    /// ``sendDecoding(_:_:what:hint:timeout:)`` within a deadline shared with other calls.
    func sendDecoding<T: Decodable>(_ type: T.Type, _ call: Call, what: String, hint: String? = nil, deadline: Deadline) async throws -> T {
        let body = try await send(call, what: what, hint: hint, deadline: deadline)
        return try decode(type, from: body, endpoint: call.endpoint, what: what)
    }

    /// Decodes a JSON answer, or throws `.badResponse` naming the endpoint.
    func decode<T: Decodable>(_ type: T.Type, from body: ByteBuffer, endpoint: String, what: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: body)
        } catch {
            let excerpt = String(String(buffer: body).prefix(200))
            throw DockerError(
                .badResponse, "cannot read the daemon's answer to \(what) (expected \(T.self) JSON, got '\(excerpt)')",
                endpoint: endpoint, underlying: error
            )
        }
    }

    /// Sends `call` and returns a reader of its body once a 2xx head arrived, for bodies that
    /// stream (logs, events, wait, exec output). A non-2xx answer becomes a ``DockerError``.
    func open(_ call: Call, what: String, hint: String? = nil, deadline: Deadline) async throws -> ResponseBodyReader {
        try await withDeadline(deadline, call.endpoint, what, host: host) {
            let response = try await execute(call, http: self.http, host: self.host, version: self.version, deadline: deadline, logger: self.logger)
            let status = Int(response.status.code)
            guard (200..<300).contains(status) else {
                let body = try await response.body.collect(upTo: 1 << 20)
                throw statusError(status, body: body, endpoint: call.endpoint, what: what, hint: hint)
            }
            return ResponseBodyReader(response: response, client: self, endpoint: call.endpoint, what: what, deadline: deadline)
        }
    }
}

/// Reads a streamed response body chunk by chunk, each read bounded by the call's deadline.
///
/// `@unchecked Sendable`: the iterator is used by one reader at a time — each ``next()`` awaits
/// the child task that uses it before returning, and the streams built on this are
/// single-consumer (`AsyncThrowingStream(unfolding:)` calls its closure from its one consumer).
final class ResponseBodyReader: @unchecked Sendable {
    private var iterator: HTTPClientResponse.Body.AsyncIterator
    private let client: DockerClient
    let endpoint: String
    let what: String
    let deadline: Deadline
    /// The deadline's one timer for the whole body (disarmed when the reader goes).
    private let timer: DeadlineTimer

    init(response: HTTPClientResponse, client: DockerClient, endpoint: String, what: String, deadline: Deadline) {
        self.iterator = response.body.makeAsyncIterator()
        self.client = client
        self.endpoint = endpoint
        self.what = what
        self.deadline = deadline
        self.timer = DeadlineTimer(deadline.instant, on: client.http.eventLoopGroup.any())
    }

    /// The next chunk, or nil at the end of the body.
    func next() async throws -> ByteBuffer? {
        try await withDeadline(deadline, endpoint, what, host: client.host, timer: timer) {
            try await self.iterator.next()
        }
    }
}

/// Turns a streamed body into a single-consumer stream of decoded elements, pulling from the
/// socket only when the consumer asks (backpressure), and opening the request on the first pull.
///
/// `@unchecked Sendable` for the reason given on ``ResponseBodyReader``: one consumer, one pull at
/// a time.
final class DecodingPump<Decoder: StreamDecoder, Output: Sendable>: @unchecked Sendable {
    private let open: @Sendable () async throws -> ResponseBodyReader
    private let transform: @Sendable (Decoder.Element) throws -> Output?
    private var decoder: Decoder
    private var reader: ResponseBodyReader?
    private var pending: [Output] = []
    private var nextIndex = 0
    private var finished = false

    init(
        decoder: Decoder,
        open: @escaping @Sendable () async throws -> ResponseBodyReader,
        transform: @escaping @Sendable (Decoder.Element) throws -> Output?
    ) {
        self.decoder = decoder
        self.open = open
        self.transform = transform
    }

    /// An `AsyncThrowingStream` that ends at the end of the body or at the first error.
    var stream: AsyncThrowingStream<Output, any Error> {
        AsyncThrowingStream(unfolding: { try await self.next() })
    }

    private func next() async throws -> Output? {
        do {
            while true {
                if nextIndex < pending.count {
                    defer { nextIndex += 1 }
                    return pending[nextIndex]
                }
                pending.removeAll(keepingCapacity: true)
                nextIndex = 0
                if finished { return nil }
                if reader == nil { reader = try await open() }
                if let chunk = try await reader!.next() {
                    pending = try decoder.feed(chunk).compactMap(transform)
                } else {
                    pending = try decoder.finish().compactMap(transform)
                    finished = true
                    reader = nil
                }
            }
        } catch {
            finished = true
            reader = nil
            pending = []
            throw error
        }
    }
}
