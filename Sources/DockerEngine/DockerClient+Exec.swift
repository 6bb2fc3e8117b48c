import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

extension DockerClient {
    /// The default bound on each captured stream of an exec.
    public static let defaultExecCaptureLimit = 1 << 20

    /// Runs `command` in a running container and returns its exit code and output.
    ///
    /// Creates the exec, starts it attached (the output is the multiplexed stream, read until
    /// the daemon closes it when the process ends), then inspects it for the exit code. Output
    /// beyond `captureLimit` bytes per stream is read and dropped, and flagged as truncated.
    ///
    /// Uses `POST /containers/{id}/exec`, `POST /exec/{id}/start`, `GET /exec/{id}/json`.
    /// - Parameters:
    ///   - timeout: deadline for the whole exec. At the deadline this throws, but the process may
    ///     go on inside the container (the Engine API cannot kill an exec); stop the container.
    /// - Throws: ``DockerError`` `.notFound` (no such container), `.conflict` (not running),
    ///   `.timeout`, `.cancelled`.
    public func exec(
        _ containerID: String,
        command: [String],
        timeout: Duration,
        user: String? = nil,
        environment: [String: String] = [:],
        workingDirectory: String? = nil,
        captureLimit: Int = DockerClient.defaultExecCaptureLimit
    ) async throws -> ExecResult {
        struct Create: Encodable {
            var AttachStdin = false
            var AttachStdout = true
            var AttachStderr = true
            var Tty = false
            var Cmd: [String]
            var Env: [String]
            var User: String?
            var WorkingDir: String?
        }
        struct Start: Encodable {
            var Detach = false
            var Tty = false
        }
        let what = "run \(command.joined(separator: " ").debugDescription) in container \(containerID)"
        let deadline = Deadline(
            after: timeout,
            timeoutHint: "the command may still run inside the container (the Engine API cannot stop an exec): stop the container, or allow more time"
        )
        let createCall = try Call.json(
            .POST, "/containers/\(percentEncoded(containerID))/exec",
            Create(Cmd: command, Env: environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }, User: user, WorkingDir: workingDirectory)
        )

        return try await withDeadline(deadline, createCall.endpoint, what, host: host) {
            let created = try await self.sendDecoding(
                Wire.Created.self, createCall, what: what, hint: "the container must exist and be running", deadline: deadline
            )
            let execPath = "/exec/\(percentEncoded(created.Id))"

            let reader = try await self.open(try Call.json(.POST, "\(execPath)/start", Start()), what: what, deadline: deadline)
            var decoder = MultiplexedStreamDecoder()
            var stdout = BoundedCapture(limit: captureLimit)
            var stderr = BoundedCapture(limit: captureLimit)
            let collect = { (frames: [LogFrame]) in
                for frame in frames {
                    switch frame.stream {
                    case .stdout: stdout.append(frame.bytes)
                    case .stderr, .systemError: stderr.append(frame.bytes)
                    case .stdin: break
                    }
                }
            }
            while let chunk = try await reader.next() {
                collect(try decoder.feed(chunk))
            }
            collect(try decoder.finish())

            // The stream closes when the process ends, a moment before the daemon records its
            // exit code: poll until it does, first at once, then after 1, 2, 4… ms up to 20 ms
            // (a fixed 20 ms would be most of a smoke probe's own ~35 ms).
            var pause = Duration.milliseconds(1)
            while true {
                let inspected = try await self.sendDecoding(Wire.ExecInspect.self, Call(.GET, "\(execPath)/json"), what: what, deadline: deadline)
                if !inspected.Running, let exitCode = inspected.ExitCode {
                    return ExecResult(
                        exitCode: exitCode, stdout: stdout.text, stderr: stderr.text,
                        stdoutTruncated: stdout.truncated, stderrTruncated: stderr.truncated
                    )
                }
                try await Task.sleep(for: pause)
                pause = min(pause * 2, .milliseconds(20))
            }
        }
    }
}

/// Keeps the first `limit` bytes of a stream and notes whether more came.
struct BoundedCapture {
    let limit: Int
    private(set) var bytes = ByteBuffer()
    private(set) var truncated = false

    init(limit: Int) {
        self.limit = limit
    }

    mutating func append(_ chunk: ByteBuffer) {
        let room = limit - bytes.readableBytes
        if chunk.readableBytes > room { truncated = true }
        guard room > 0 else { return }
        var kept = chunk.getSlice(at: chunk.readerIndex, length: min(room, chunk.readableBytes))!
        bytes.writeBuffer(&kept)
    }

    var text: String { String(buffer: bytes) }
}

extension DockerClient {
    /// The default deadline of an event stream.
    public static let defaultEventsTimeout: Duration = .seconds(3600)

    /// The daemon's events about objects carrying all of `labels`, from `since` on (past events
    /// are replayed), until `until` if given (the stream then ends) or until the consumer stops.
    ///
    /// The request is sent on the first pull; the stream is bounded by `timeout` and ends when
    /// its iteration stops or its Task is cancelled.
    ///
    /// Uses `GET /events?since=&until=&filters={"label":["k=v"],"type":[…]}`.
    /// - Parameter types: object types to keep (`container`, `image`, …); all when empty.
    /// - Throws (from the stream): ``DockerError`` `.timeout`, `.badResponse` for an unreadable event.
    public func events(
        labels: [String: String],
        since: Date?,
        until: Date? = nil,
        types: [String] = [],
        timeout: Duration = DockerClient.defaultEventsTimeout
    ) -> AsyncThrowingStream<DockerEvent, any Error> {
        var query: [(name: String, value: String)] = []
        if let since { query.append(("since", unixTimestamp(since))) }
        if let until { query.append(("until", unixTimestamp(until))) }
        query.append(("filters", labelFilter(labels, extra: types.isEmpty ? [:] : ["type": types])))
        let call = Call(.GET, "/events", query: query)
        let what = "read the daemon's events"
        let pump = DecodingPump(
            decoder: JSONLinesDecoder(),
            open: { [self] in
                let hint = "the event stream's time budget ran out; open a new stream to go on watching"
                return try await self.open(call, what: what, deadline: Deadline(after: timeout, timeoutHint: hint))
            },
            transform: { [self] line in DockerEvent(try self.decode(Wire.Event.self, from: line, endpoint: call.endpoint, what: what)) }
        )
        // Podman (4.3) ignores the label and type filters of /events: the same filter again here,
        // so that either engine gives only what was asked for.
        let events = EventIteratorBox(pump.stream.makeAsyncIterator())
        return AsyncThrowingStream {
            while let event = try await events.iterator.next() {
                if Self.event(event, matches: labels, types: types) { return event }
            }
            return nil
        }
    }

    /// Whether `event` carries all of `labels` (as attributes) and is of one of `types` (any when empty).
    static func event(_ event: DockerEvent, matches labels: [String: String], types: [String]) -> Bool {
        (types.isEmpty || types.contains(event.type)) && labels.allSatisfy { event.attributes[$0.key] == $0.value }
    }
}

/// The iterator of the unfiltered event stream, pulled by the filtered stream's unfolding closure:
/// that closure runs once per pull, one pull at a time, so the iterator is never used concurrently.
private final class EventIteratorBox: @unchecked Sendable {
    var iterator: AsyncThrowingStream<DockerEvent, any Error>.AsyncIterator
    init(_ iterator: AsyncThrowingStream<DockerEvent, any Error>.AsyncIterator) { self.iterator = iterator }
}

/// `SECONDS.NANOSECONDS`, as `since` and `until` take them.
private func unixTimestamp(_ date: Date) -> String {
    let interval = date.timeIntervalSince1970
    let seconds = interval.rounded(.down)
    let nanoseconds = Int(((interval - seconds) * 1e9).rounded(.down))
    return "\(Int(seconds)).\(String(format: "%09d", nanoseconds))"
}
