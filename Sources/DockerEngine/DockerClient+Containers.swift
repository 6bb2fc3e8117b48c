import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import Synchronization

extension DockerClient {
    /// Creates a container (not started) and returns its ID. Warnings the daemon returns (for
    /// instance limits it cannot apply) are logged at `notice`.
    ///
    /// Uses `POST /containers/create?name=`.
    /// - Throws: ``DockerError`` `.notFound` if the image is not loaded (create never pulls),
    ///   `.conflict` if the name is taken.
    public func createContainer(name: String?, _ spec: ContainerSpec) async throws -> String {
        let call = try Call.json(.POST, "/containers/create", query: name.map { [("name", $0)] } ?? [], spec)
        let what = "create a container\(name.map { " named '\($0)'" } ?? "") from image '\(spec.image)'"
        let created: Wire.Created
        do {
            created = try await sendDecoding(Wire.Created.self, call, what: what)
        } catch let error as DockerError where error.code == .notFound || error.code == .conflict {
            let hint = error.code == .notFound
                ? "the image is not loaded (create never pulls): load it first"
                : "a container with that name exists: remove it or choose another name"
            throw DockerError(error.code, "cannot \(what): \(error.daemonMessage ?? "HTTP \(error.status ?? 0)"); \(hint)",
                              endpoint: error.endpoint, status: error.status, daemonMessage: error.daemonMessage)
        }
        for warning in created.Warnings ?? [] where !warning.isEmpty {
            logger.notice("daemon warning creating container", metadata: ["container": "\(created.Id)", "warning": "\(warning)"])
        }
        return created.Id
    }

    /// Starts a created container; starting a running one is not an error.
    ///
    /// Uses `POST /containers/{id}/start` (204, or 304 when already running). Call
    /// ``waitContainer(_:timeout:)`` first, so a short run's exit cannot be missed.
    /// - Throws: ``DockerError`` `.notFound`, or `.daemonError` with the runtime's message (bad
    ///   command, seccomp or rlimit failures).
    public func startContainer(_ id: String) async throws {
        _ = try await send(Call(.POST, "/containers/\(percentEncoded(id))/start"), what: "start container \(id)")
    }

    /// The default deadline of a wait: a smoke run is bounded by its own, shorter timeout.
    public static let defaultWaitTimeout: Duration = .seconds(3600)

    /// Registers a wait for the container's next exit and returns a handle to await it.
    ///
    /// Call it BEFORE ``startContainer(_:)`` (as the docker CLI does): the daemon answers the head
    /// at once and the body only when the container exits, so an exit that happens between
    /// start and a later wait cannot be missed. The handle's ``ContainerWait/value`` is bounded by
    /// `timeout`, counted from this call.
    ///
    /// Uses `POST /containers/{id}/wait?condition=next-exit`.
    /// - Throws: ``DockerError`` `.notFound` if there is no such container.
    public func waitContainer(_ id: String, timeout: Duration = DockerClient.defaultWaitTimeout) async throws -> ContainerWait {
        let call = Call(.POST, "/containers/\(percentEncoded(id))/wait", query: [("condition", "next-exit")])
        let what = "wait for container \(id) to exit"
        let deadline = Deadline(after: timeout, timeoutHint: "it is still running: stop it, or allow it more time")
        let reader = try await open(call, what: what, deadline: deadline)
        return ContainerWait(containerID: id, reader: reader, client: self)
    }

    /// Stops a container: SIGTERM (or the image's stop signal), then SIGKILL after `gracePeriod`.
    /// Stopping a stopped container is not an error.
    ///
    /// Uses `POST /containers/{id}/stop?t=` (204, or 304 when not running); the call's deadline is
    /// the client's timeout plus the grace period, since the daemon answers only once it stopped.
    /// - Throws: ``DockerError`` `.notFound` if there is no such container.
    public func stopContainer(_ id: String, gracePeriod: Duration) async throws {
        let seconds = max(0, Int(gracePeriod.components.seconds) + (gracePeriod.components.attoseconds > 0 ? 1 : 0))
        let call = Call(.POST, "/containers/\(percentEncoded(id))/stop", query: [("t", String(seconds))])
        _ = try await send(call, what: "stop container \(id)", timeout: timeout + .seconds(seconds))
    }

    /// Sends a signal (SIGKILL by default) to a running container.
    ///
    /// Uses `POST /containers/{id}/kill?signal=`.
    /// - Throws: ``DockerError`` `.notFound`, or `.conflict` if it is not running.
    public func killContainer(_ id: String, signal: String = "KILL") async throws {
        let call = Call(.POST, "/containers/\(percentEncoded(id))/kill", query: [("signal", signal)])
        _ = try await send(call, what: "kill container \(id)", hint: "it is not running")
    }

    /// Removes a container and its anonymous volumes; `force` kills it first if it runs. A
    /// container that is already gone is not an error (cleanup is idempotent).
    ///
    /// Uses `DELETE /containers/{id}?force=&v=1`.
    /// - Throws: ``DockerError`` `.conflict` if it runs and `force` is false, or a removal is in progress.
    public func removeContainer(_ id: String, force: Bool) async throws {
        let call = Call(.DELETE, "/containers/\(percentEncoded(id))", query: [("force", force ? "1" : "0"), ("v", "1")])
        do {
            _ = try await send(call, what: "remove container \(id)", hint: "stop it first, or remove with force")
        } catch let error as DockerError where error.code == .notFound {
            return
        }
    }

    /// A container's state: running, exit code, whether the OOM killer ended it.
    ///
    /// Uses `GET /containers/{id}/json`.
    /// - Throws: ``DockerError`` `.notFound` if there is no such container.
    public func inspectContainer(_ id: String) async throws -> ContainerState {
        let wire = try await sendDecoding(Wire.ContainerInspect.self, Call(.GET, "/containers/\(percentEncoded(id))/json"), what: "inspect container \(id)")
        return ContainerState(
            id: wire.Id,
            name: wire.Name ?? "",
            status: wire.State?.Status ?? "",
            running: wire.State?.Running ?? false,
            exitCode: wire.State?.ExitCode ?? 0,
            oomKilled: wire.State?.OOMKilled ?? false,
            error: wire.State?.Error ?? "",
            pid: wire.State?.Pid ?? 0,
            labels: wire.Config?.Labels ?? [:]
        )
    }

    /// Lists containers carrying all of `labels`; `all` includes stopped ones.
    ///
    /// Uses `GET /containers/json?all=&filters={"label":["k=v"]}`.
    /// - Throws: ``DockerError``.
    public func listContainers(labels: [String: String], all: Bool) async throws -> [ContainerSummary] {
        let call = Call(.GET, "/containers/json", query: [("all", all ? "1" : "0"), ("filters", labelFilter(labels))])
        return try await sendDecoding([Wire.ContainerListEntry].self, call, what: "list containers").map {
            ContainerSummary(
                id: $0.Id, names: $0.Names ?? [], image: $0.Image ?? "", labels: $0.Labels ?? [:],
                state: $0.State ?? "", status: $0.Status ?? ""
            )
        }
    }

    /// The default deadline of a followed log: as long as a wait.
    public static let defaultFollowTimeout: Duration = .seconds(3600)

    /// A container's output, demultiplexed into stdout and stderr frames, read as the consumer
    /// pulls (the request is sent on the first pull).
    ///
    /// Without `follow` the stream ends with the output so far; with it, when the container
    /// exits. The whole stream is bounded by `timeout` (default: the client's without follow,
    /// ``defaultFollowTimeout`` with it); stopping the iteration or cancelling its Task ends the request.
    ///
    /// Uses `GET /containers/{id}/logs?stdout=1&stderr=1&follow=`.
    /// - Throws (from the stream): ``DockerError`` `.notFound`, `.timeout`, `.badResponse` for a
    ///   TTY container (its output is not multiplexed) or a frame above 1 MiB.
    public func logs(_ id: String, follow: Bool, timeout: Duration? = nil) -> AsyncThrowingStream<LogFrame, any Error> {
        let call = Call(
            .GET, "/containers/\(percentEncoded(id))/logs",
            query: [("stdout", "1"), ("stderr", "1"), ("follow", follow ? "1" : "0"), ("timestamps", "0")]
        )
        let budget = timeout ?? (follow ? Self.defaultFollowTimeout : self.timeout)
        let pump = DecodingPump(
            decoder: MultiplexedStreamDecoder(),
            open: { [self] in
                let hint = follow ? "the container is still running: stop it, or allow more time" : nil
                return try await self.open(call, what: "read the logs of container \(id)", deadline: Deadline(after: budget, timeoutHint: hint))
            },
            transform: { $0 }
        )
        return pump.stream
    }
}

/// A registered wait for a container's next exit (see ``DockerClient/waitContainer(_:timeout:)``).
///
/// Await ``value`` once the container is started. Dropping the handle without
/// awaiting it cancels the wait request.
public final class ContainerWait: Sendable {
    private enum State: Sendable {
        case pending(ResponseBodyReader)
        case reading
        case done(Result<ContainerExit, DockerError>)
    }

    /// The container waited for.
    public let containerID: String
    private let state: Mutex<State>
    private let client: DockerClient

    init(containerID: String, reader: ResponseBodyReader, client: DockerClient) {
        self.containerID = containerID
        self.state = Mutex(.pending(reader))
        self.client = client
    }

    /// How the container's run ended (its exit code), once it exits; later awaits return the
    /// same answer.
    ///
    /// - Throws: ``DockerError`` `.timeout` at the wait's deadline, `.cancelled`, `.daemonError`
    ///   if the daemon reported an error waiting, `.badResponse` if awaited from two tasks at once.
    public var value: ContainerExit {
        get async throws { try await awaitExit() }
    }

    private func awaitExit() async throws -> ContainerExit {
        let reader: ResponseBodyReader
        switch state.withLock({ state -> State in
            let current = state
            if case .pending = current { state = .reading }
            return current
        }) {
        case .done(let result):
            return try result.get()
        case .reading:
            throw DockerError(.badResponse, "the wait for container \(containerID) is already being awaited by another task; await it once")
        case .pending(let pendingReader):
            reader = pendingReader
        }

        let result: Result<ContainerExit, DockerError>
        do {
            var body = ByteBuffer()
            while let chunk = try await reader.next() {
                var chunk = chunk
                body.writeBuffer(&chunk)
                guard body.readableBytes <= 64 * 1024 else {
                    throw DockerError(.badResponse, "the answer to the wait for container \(containerID) is over 64 KiB", endpoint: reader.endpoint)
                }
            }
            let wire = try client.decode(Wire.Wait.self, from: body, endpoint: reader.endpoint, what: reader.what)
            if let message = wire.Error?.Message, !message.isEmpty {
                throw DockerError(
                    .daemonError, "the daemon reported an error waiting for container \(containerID): \(message)",
                    endpoint: reader.endpoint, status: 200, daemonMessage: message
                )
            }
            result = .success(ContainerExit(statusCode: wire.StatusCode, error: nil))
        } catch let error as DockerError {
            result = .failure(error)
        } catch {
            result = .failure(dockerError(from: error, endpoint: reader.endpoint, what: reader.what, host: client.host, deadline: reader.deadline))
        }
        // The body can be read only once, so even a cancelled or timed-out await is final.
        state.withLock { $0 = .done(result) }
        return try result.get()
    }
}
