import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix
import Synchronization

extension DockerClient {
    /// What the daemon says about itself.
    ///
    /// Uses `GET /info` and `GET /version` (which names the engine: Podman lists a `Podman Engine`
    /// component); the API version comes from the `GET /_ping` made when the client opened.
    /// - Throws: ``DockerError``.
    public func info() async throws -> DaemonInfo {
        async let version = sendDecoding(Wire.Version.self, Call(.GET, "/version"), what: "read the daemon's version")
        let wire = try await sendDecoding(Wire.Info.self, Call(.GET, "/info"), what: "read the daemon's info")
        return DaemonInfo(wire, version: try await version, apiVersion: daemonVersion.description)
    }

    /// Describes an image, or returns nil if the daemon has none by that reference.
    ///
    /// Uses `GET /images/{name}/json`.
    /// - Throws: ``DockerError`` for anything but 404.
    public func inspectImage(_ reference: String) async throws -> ImageDetails? {
        let call = Call(.GET, "/images/\(percentEncoded(reference, keepingSeparators: true))/json")
        var attempt = 1
        while true {
            do {
                let wire = try await sendDecoding(Wire.ImageInspect.self, call, what: "inspect image '\(reference)'")
                return ImageDetails(id: wire.Id, repoTags: wire.RepoTags ?? [], size: wire.Size ?? 0, labels: wire.Config?.Labels ?? [:],
                                    onBuild: wire.Config?.OnBuild ?? [], layers: wire.RootFS?.Layers ?? [])
            } catch let error as DockerError where error.code == .notFound {
                return nil
            } catch let error as DockerError where engine == .podman && attempt < 3 && error.status == 500
                        && error.daemonMessage?.contains("image not known") == true {
                // Podman 4.3 resolves a short name by reading every image; one removed meanwhile
                // (by anyone) fails the lookup with a 500 "image not known". Asking again is safe.
                attempt += 1
            }
        }
    }

    /// The `ONBUILD` triggers a build `FROM` `image` runs first: its config's `OnBuild`. Podman
    /// 4.3's inspect leaves `OnBuild` out although its builder runs the triggers, so there they
    /// are read from the image's history (`#(nop) ONBUILD …` entries), which also lists those of
    /// the images it was built from, already run: more than the truth, never less.
    ///
    /// Uses `GET /images/{name}/history` on Podman (``inspectImage(_:)`` gives `details`).
    /// - Throws: ``DockerError`` if the daemon cannot be reached or does not answer in time.
    public func onBuildTriggers(of image: String, details: ImageDetails) async throws -> [String] {
        guard engine == .podman, details.onBuild.isEmpty else { return details.onBuild }
        let call = Call(.GET, "/images/\(percentEncoded(image, keepingSeparators: true))/history")
        let entries: [Wire.HistoryEntry]
        do {
            entries = try await sendDecoding([Wire.HistoryEntry].self, call, what: "read the history of image '\(image)'")
        } catch let error as DockerError where error.code == .notFound {
            return []
        }
        let marker = "#(nop) ONBUILD "
        // Newest first in the answer: oldest first here, in the order they were declared.
        return entries.reversed().compactMap { entry in
            entry.CreatedBy?.range(of: marker).map { String(entry.CreatedBy![$0.upperBound...]) }
        }
    }

    /// The steps that made each layer of `image`, bottom first: the `CreatedBy` of every history
    /// entry that is not an empty layer (so that the n-th names the n-th of ``ImageDetails/layers``
    /// when the history is complete, as the classic builder writes it).
    ///
    /// Uses `GET /images/{name}/history`.
    /// - Throws: ``DockerError`` if the daemon cannot be reached or does not answer in time.
    public func layerSteps(of image: String) async throws -> [String] {
        let call = Call(.GET, "/images/\(percentEncoded(image, keepingSeparators: true))/history")
        let entries = try await sendDecoding([Wire.HistoryEntry].self, call, what: "read the history of image '\(image)'")
        // Docker's history has no EmptyLayer field: a step makes a layer unless it is metadata
        // ("#(nop) ENV …"), and COPY and ADD, written as "#(nop) COPY …", make one.
        func makesLayer(_ entry: Wire.HistoryEntry) -> Bool {
            if let empty = entry.EmptyLayer { return !empty }
            let step = entry.CreatedBy ?? ""
            return !step.contains("#(nop)") || step.contains("#(nop) COPY") || step.contains("#(nop) ADD")
        }
        return entries.reversed().filter(makesLayer).map { ($0.CreatedBy ?? "").replacingOccurrences(of: "/bin/sh -c #(nop) ", with: "") }
    }

    /// Writes `image` as a docker-archive (what `docker save` writes) to the file `destination`,
    /// streaming: memory does not grow with the image. A partial file is removed on failure.
    ///
    /// Uses `GET /images/{name}/get`.
    /// - Throws: ``DockerError`` `.notFound` if there is no such image, `.timeout` past `timeout`,
    ///   `.badResponse` if the file cannot be written.
    public func saveImage(_ image: String, to destination: URL, timeout: Duration = .seconds(600)) async throws {
        let call = Call(.GET, "/images/\(percentEncoded(image, keepingSeparators: true))/get")
        let what = "save image '\(image)'"
        guard FileManager.default.createFile(atPath: destination.path, contents: nil),
              let handle = FileHandle(forWritingAtPath: destination.path) else {
            throw DockerError(.badResponse, "cannot create \(destination.path) to save image '\(image)' into; check the folder")
        }
        do {
            defer { try? handle.close() }
            let reader = try await open(call, what: what, deadline: Deadline(after: timeout))
            while let chunk = try await reader.next() {
                try handle.write(contentsOf: Data(chunk.readableBytesView))
            }
        } catch {
            try? FileManager.default.removeItem(at: destination)
            throw error
        }
    }

    /// Tags `image` (a reference or ID) as `repository:tag`.
    ///
    /// Uses `POST /images/{name}/tag?repo=&tag=`.
    /// - Throws: ``DockerError`` `.notFound` if there is no such image.
    public func tagImage(_ image: String, repository: String, tag: String) async throws {
        let call = Call(.POST, "/images/\(percentEncoded(image, keepingSeparators: true))/tag", query: [("repo", repository), ("tag", tag)])
        _ = try await send(call, what: "tag image '\(image)' as \(repository):\(tag)", hint: "load the image first")
    }

    /// Removes an image (a tag or ID); `force` also removes an ID's other tags and images used
    /// by stopped containers. An image that is already gone is not an error (cleanup is idempotent).
    ///
    /// Uses `DELETE /images/{name}?force=`.
    /// - Throws: ``DockerError`` `.conflict` if a container still uses it (without `force`).
    public func removeImage(_ reference: String, force: Bool) async throws {
        let call = Call(.DELETE, "/images/\(percentEncoded(reference, keepingSeparators: true))", query: [("force", force ? "1" : "0")])
        do {
            _ = try await send(call, what: "remove image '\(reference)'", hint: "remove the containers using it first, or force")
        } catch let error as DockerError where error.code == .notFound {
            return
        }
    }

    /// Lists images carrying all of `labels` (every image when empty).
    ///
    /// Uses `GET /images/json?filters={"label":["k=v"]}`.
    /// - Throws: ``DockerError``.
    public func listImages(labels: [String: String]) async throws -> [ImageSummary] {
        let call = Call(.GET, "/images/json", query: [("filters", labelFilter(labels))])
        return try await sendDecoding([Wire.ImageListEntry].self, call, what: "list images").map {
            ImageSummary(id: $0.Id, repoTags: ($0.RepoTags ?? []).filter { $0 != "<none>:<none>" }, labels: $0.Labels ?? [:], size: $0.Size ?? 0)
        }
    }

    /// The default deadline of a load: loading a large image takes the daemon a while.
    public static let defaultLoadTimeout: Duration = .seconds(900)

    /// Loads an image archive (docker-archive tar, plain or gzip) streamed from `body`.
    ///
    /// The body is pulled only as fast as the socket drains, so memory does not grow with the
    /// archive; a script's stdout (nixpkgs `streamLayeredImage`) can be passed as it is produced.
    /// The daemon's JSON-lines answer is parsed as it arrives; an `error`/`errorDetail` in it fails
    /// the load even though the HTTP status is 200. Podman answers with one JSON object, and
    /// refuses with an HTTP 500 whose `message` becomes the `.loadFailed` error's; it takes no
    /// gzip, so for Podman a gzipped body is inflated on the fly (constant memory, sent chunked:
    /// `bytesSent` then counts the inflated tar).
    ///
    /// Uses `POST /images/load?quiet=1` (`quiet` always explicit: the daemon's default differs from the spec).
    /// - Parameters:
    ///   - length: the body's length if known (sent as Content-Length; chunked otherwise).
    ///   - progress: called with the bytes sent so far, as each chunk goes out.
    ///   - timeout: deadline for the whole load.
    /// - Returns: the names and IDs the daemon reported loading.
    /// - Throws: ``DockerError`` `.loadFailed` with the daemon's message, or if it reported loading nothing.
    public func loadImage<Body: AsyncSequence & Sendable>(
        _ body: Body,
        length: Int64? = nil,
        progress: (@Sendable (Int64) -> Void)?,
        timeout: Duration = DockerClient.defaultLoadTimeout
    ) async throws -> LoadResult where Body.Element == ByteBuffer {
        if engine == .podman {
            // Podman (4.3) refuses a gzipped archive ("invalid tar header"): inflate it on the way.
            return try await sendLoad(GunzipIfGzipped(base: body, what: "the image archive"), length: nil, progress: progress, timeout: timeout)
        }
        return try await sendLoad(body, length: length, progress: progress, timeout: timeout)
    }

    private func sendLoad<Body: AsyncSequence & Sendable>(
        _ body: Body, length: Int64?, progress: (@Sendable (Int64) -> Void)?, timeout: Duration
    ) async throws -> LoadResult where Body.Element == ByteBuffer {
        let counter = ByteCounter(progress: progress)
        let paced = EventLoopPacedSequence(base: body, loops: Array(http.eventLoopGroup.makeIterator()))
        let counted = CountingByteSequence(base: paced, counter: counter)
        let call = Call(
            .POST, "/images/load",
            query: [("quiet", "1")],
            body: .stream(counted, length: length.map { .known($0) } ?? .unknown),
            contentType: "application/x-tar"
        )
        let what = "load an image archive"
        let deadline = Deadline(after: timeout)
        return try await withDeadline(deadline, call.endpoint, what, host: host) {
            let response = try await self.executeAccepted(call, deadline: deadline, failing: .loadFailed,
                                                     refusal: "the daemon refused the image archive",
                                                     advice: "check that it is a docker-archive")
            var parser = ImageLoadResponseParser(endpoint: call.endpoint)
            for try await chunk in response.body {
                try parser.feed(chunk)
            }
            return try parser.finish(bytesSent: counter.total)
        }
    }

    /// Loads the image archive at `path`, streamed in 256 KiB chunks read on NIO's thread pool
    /// (never read whole), with its size as Content-Length.
    ///
    /// Podman (4.3) refuses a gzipped archive ("invalid tar header"), so for Podman a gzipped
    /// file is inflated on the fly with zlib (constant memory) and sent chunked; `bytesSent` and
    /// `progress` then count the inflated tar. Docker gets the file as it is: it inflates itself,
    /// and sending it compressed moves fewer bytes over the socket.
    ///
    /// Uses `POST /images/load?quiet=1`; see ``loadImage(_:length:progress:timeout:)``.
    /// - Throws: ``DockerError`` `.invalidArchive` if the file cannot be opened (or, for Podman,
    ///   its gzip data is corrupt), `.loadFailed` as above.
    public func loadImage(
        fileAt path: String,
        progress: (@Sendable (Int64) -> Void)?,
        timeout: Duration = DockerClient.defaultLoadTimeout
    ) async throws -> LoadResult {
        let file = try ReadOnlyFile(path: path)
        defer { file.close() }
        return try await loadImage(FileChunks(file: file), length: file.size, progress: progress, timeout: timeout)
    }
}

/// Reads the JSON-lines answer of `POST /images/load` as it arrives.
///
/// Success lines are `{"stream":"Loaded image: NAME:TAG\n"}` or `{"stream":"Loaded image ID:
/// sha256:…\n"}`; failures are `{"errorDetail":{"message":…},"error":…}`, usually inside an HTTP 200.
public struct ImageLoadResponseParser: Sendable {
    private var lines = JSONLinesDecoder()
    private var images: [String] = []
    private var imageIDs: [String] = []
    private let endpoint: String

    /// Makes a parser; `endpoint` is named in its errors.
    public init(endpoint: String = "POST /images/load") {
        self.endpoint = endpoint
    }

    /// Adds a chunk of the answer.
    ///
    /// - Throws: ``DockerError`` `.loadFailed` with the daemon's message as soon as an error line
    ///   is complete; `.badResponse` for a line that is not a load message.
    public mutating func feed(_ chunk: ByteBuffer) throws {
        for line in try lines.feed(chunk) {
            try handle(line)
        }
    }

    /// Ends the answer and returns what was loaded.
    ///
    /// - Throws: ``DockerError`` `.loadFailed` if the daemon named no image.
    public mutating func finish(bytesSent: Int64) throws -> LoadResult {
        for line in try lines.finish() {
            try handle(line)
        }
        guard !images.isEmpty || !imageIDs.isEmpty else {
            throw DockerError(
                .loadFailed,
                "the daemon finished the load without naming any loaded image; the archive is probably empty or not a docker-archive",
                endpoint: endpoint, status: 200
            )
        }
        return LoadResult(images: images, imageIDs: imageIDs, bytesSent: bytesSent)
    }

    private mutating func handle(_ line: ByteBuffer) throws {
        let message: Wire.LoadMessage
        do {
            message = try JSONDecoder().decode(Wire.LoadMessage.self, from: line)
        } catch {
            throw DockerError(
                .badResponse, "cannot read a line of the daemon's load answer: '\(String(String(buffer: line).prefix(200)))'",
                endpoint: endpoint, status: 200, underlying: error
            )
        }
        if let failure = message.errorDetail?.message ?? message.error {
            throw DockerError(
                .loadFailed,
                "the daemon could not load the image archive: \(failure); check that the archive is complete and the daemon has disk space",
                endpoint: endpoint, status: 200, daemonMessage: failure
            )
        }
        guard let stream = message.stream else { return }
        for text in stream.split(whereSeparator: \.isNewline) {
            if let id = text.trimmedPrefix("Loaded image ID: ") {
                imageIDs.append(id)
            } else if let name = text.trimmedPrefix("Loaded image: ") {
                images.append(name)
            }
        }
    }
}

extension Substring {
    fileprivate func trimmedPrefix(_ prefix: String) -> String? {
        guard hasPrefix(prefix) else { return nil }
        return dropFirst(prefix.count).trimmingCharacters(in: .whitespaces)
    }
}

/// Counts the bytes of a request body as they are pulled, and reports progress.
final class ByteCounter: Sendable {
    private let count = Atomic<Int64>(0)
    private let progress: (@Sendable (Int64) -> Void)?

    init(progress: (@Sendable (Int64) -> Void)?) {
        self.progress = progress
    }

    var total: Int64 { count.load(ordering: .relaxed) }

    func add(_ bytes: Int) {
        let total = count.add(Int64(bytes), ordering: .relaxed).newValue
        progress?(total)
    }
}

/// A byte-buffer sequence that counts what passes through it.
struct CountingByteSequence<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    typealias Element = ByteBuffer
    let base: Base
    let counter: ByteCounter

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let counter: ByteCounter

        mutating func next() async throws -> ByteBuffer? {
            guard let chunk = try await base.next() else { return nil }
            counter.add(chunk.readableBytes)
            return chunk
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), counter: counter)
    }
}

/// A request body whose next chunk is pulled only after the HTTP client's event loops have run
/// everything queued before the pull.
///
/// Why: AsyncHTTPClient hands each chunk to the connection's event loop and asks for the next one
/// straight away; it pauses the producer only once that loop has written a chunk and found the
/// socket full. While the daemon keeps the cores busy (it hashes and unpacks what it receives) the
/// loop runs late, and a producer reading from the page cache queues chunk after chunk meanwhile:
/// Benchmarks/load-benchmark.sh saw 20–120 MiB of them. A no-op submitted to each loop runs after
/// the queued write, so the pause has landed before the next chunk is read: at most about two
/// chunks are in flight. It costs a hop per loop per chunk (microseconds against a 1 MiB read).
struct EventLoopPacedSequence<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    typealias Element = ByteBuffer
    let base: Base
    let loops: [any EventLoop]

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let loops: [any EventLoop]

        mutating func next() async throws -> ByteBuffer? {
            for loop in loops {
                try await loop.submit {}.get()
            }
            return try await base.next()
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), loops: loops)
    }
}

/// A file opened read-only whose reads run on NIO's blocking-I/O thread pool.
///
/// Reads and `close` are serialised by a lock, so a read that AsyncHTTPClient issues after the
/// load gave up cannot touch a closed (and perhaps reused) descriptor.
final class ReadOnlyFile: Sendable {
    private let descriptor: Mutex<Int32>
    let path: String
    let size: Int64

    init(path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw DockerError(.invalidArchive, "cannot open the image archive \(path): \(reason); check the path and its permissions")
        }
        var status = stat()
        guard fstat(fd, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else {
            closeDescriptor(fd)
            throw DockerError(.invalidArchive, "the image archive \(path) is not a regular file; pass the docker-archive file itself")
        }
        self.descriptor = Mutex(fd)
        self.path = path
        self.size = Int64(status.st_size)
    }

    /// Reads up to `count` bytes at the current offset, blocking; nil at the end of the file.
    func readBlocking(upTo count: Int) throws -> ByteBuffer? {
        try descriptor.withLock { fd -> ByteBuffer? in
            guard fd >= 0 else {
                throw DockerError(.cancelled, "the image archive \(path) was closed while it was being sent")
            }
            var buffer = ByteBufferAllocator().buffer(capacity: count)
            var failure: Errno?
            let got = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { pointer -> Int in
                switch readRetryingInterrupts(fd, pointer.baseAddress!, count) {
                case .success(let got): return got
                case .failure(let error): failure = error; return 0
                }
            }
            if let failure {
                throw DockerError(.invalidArchive, "cannot read the image archive \(path): \(failure)", underlying: failure)
            }
            return got == 0 ? nil : buffer
        }
    }

    func close() {
        descriptor.withLock { fd in
            if fd >= 0 { closeDescriptor(fd) }
            fd = -1
        }
    }
}

/// The contents of a ``ReadOnlyFile`` as 256 KiB chunks, read on NIO's thread pool so the
/// cooperative threads never block on disk.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    /// 256 KiB: with 1 MiB chunks glibc's malloc kept freed chunks in its per-thread arenas and a
    /// 512 MiB load peaked ~5 MiB higher (65.2 vs 60.0 MiB, release binary, Podman; Docker 63.9
    /// vs 59.8) for no measurable gain in time.
    static let chunkSize = 1 << 18
    let file: ReadOnlyFile

    struct AsyncIterator: AsyncIteratorProtocol {
        let file: ReadOnlyFile

        mutating func next() async throws -> ByteBuffer? {
            let file = self.file
            return try await NIOThreadPool.singleton.runIfActive {
                try file.readBlocking(upTo: FileChunks.chunkSize)
            }
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(file: file) }
}

extension DockerClient {
    /// Sends a call whose answer streams (a load, a build) and returns the response once the daemon
    /// has accepted it; a refusal (not 2xx) throws `code`, saying `refusal`, the status, the
    /// daemon's own words and `advice`.
    func executeAccepted(_ call: Call, deadline: Deadline, failing code: DockerError.Code,
                         refusal: String, advice: String) async throws -> HTTPClientResponse {
        let response = try await execute(call, http: http, host: host, version: version, deadline: deadline, logger: logger)
        let status = Int(response.status.code)
        guard (200..<300).contains(status) else {
            let said = daemonMessage(in: try await response.body.collect(upTo: 1 << 20))
            throw DockerError(code, "\(refusal) (HTTP \(status))\(said.map { ": \($0)" } ?? ""); \(advice)",
                              endpoint: call.endpoint, status: status, daemonMessage: said)
        }
        return response
    }
}
