import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// What `POST /build` is asked to do.
public struct BuildRequest: Sendable {
    /// `t`: the names to tag the image with.
    public var tags: [String]
    /// `dockerfile`: the Dockerfile's path inside the context.
    public var dockerfile: String
    /// `target`: the Dockerfile stage to build, if not the last.
    public var target: String?
    /// `buildargs`: `ARG` values.
    public var buildArgs: [String: String]
    /// `networkmode`: the network `RUN` steps get (`none` or `bridge`).
    public var networkMode: String
    /// `nocache`: build every step again instead of reusing the builder's cache (a second
    /// build for a reproducibility check).
    public var noCache = false

    /// Creates a request; `RUN` steps get no network unless `networkMode` says otherwise.
    public init(tags: [String], dockerfile: String, target: String? = nil, buildArgs: [String: String] = [:], networkMode: String = "none") {
        self.tags = tags
        self.dockerfile = dockerfile
        self.target = target
        self.buildArgs = buildArgs
        self.networkMode = networkMode
    }

    /// The query: the classic builder (`version=1`), intermediate containers always removed
    /// (`rm`, `forcerm`, also when a step fails), never pulling (`pull=0`).
    var query: [(name: String, value: String)] {
        var query: [(name: String, value: String)] = tags.map { ("t", $0) }
        query.append(("dockerfile", dockerfile))
        if let target { query.append(("target", target)) }
        if !buildArgs.isEmpty {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            query.append(("buildargs", String(decoding: (try? encoder.encode(buildArgs)) ?? Data("{}".utf8), as: UTF8.self)))
        }
        query += [("networkmode", networkMode), ("rm", "1"), ("forcerm", "1"), ("pull", "0"), ("version", "1")]
        if noCache { query.append(("nocache", "1")) }
        return query
    }
}

extension DockerClient {
    /// The default deadline of a build.
    public static let defaultBuildTimeout: Duration = .seconds(3600)

    /// Builds an image with the classic builder from a context tar streamed from `context`
    /// (pulled only as fast as the socket drains), passing each output line to `output` as it
    /// arrives.
    ///
    /// Uses `POST /build` with `rm=1&forcerm=1&pull=0`: the daemon removes every intermediate
    /// container, also when a step fails; when this call is cancelled or times out, its
    /// connection is closed, which cancels the build on the daemon.
    /// - Returns: the image ID (`sha256:…`) from the answer's `aux` record.
    /// - Throws: ``DockerError`` `.buildFailed` with the failing step and its last output lines
    ///   when the answer carries an `errorDetail`; `.badResponse` if it names no image.
    public func buildImage<Body: AsyncSequence & Sendable>(
        context: Body,
        _ request: BuildRequest,
        output: @escaping @Sendable (String) -> Void,
        timeout: Duration = DockerClient.defaultBuildTimeout
    ) async throws -> String where Body.Element == ByteBuffer {
        let paced = EventLoopPacedSequence(base: context, loops: Array(http.eventLoopGroup.makeIterator()))
        let call = Call(.POST, "/build", query: request.query, body: .stream(paced, length: .unknown), contentType: "application/x-tar")
        let what = "build an image from \(request.dockerfile)"
        let deadline = Deadline(after: timeout)
        return try await withDeadline(deadline, call.endpoint, what, host: host) {
            let response = try await self.executeAccepted(call, deadline: deadline, failing: .buildFailed,
                                                     refusal: "the daemon refused the build",
                                                     advice: "check the Dockerfile's path and the build settings")
            var parser = BuildResponseParser(endpoint: call.endpoint, output: output)
            for try await chunk in response.body {
                try parser.feed(chunk)
            }
            return try parser.finish()
        }
    }
}

/// Reads the JSON-lines answer of `POST /build` as it arrives: `stream` text (the build's
/// output), `aux.ID` (the image), `errorDetail` (a failure, inside an HTTP 200).
public struct BuildResponseParser {
    /// How many output lines of the failing step an error quotes.
    public static let quotedLines = 30
    /// Longer output lines are cut to this many bytes of UTF-8 and end with ``truncationMarker``;
    /// the rest of the line is dropped. A step that prints without newlines must not grow one
    /// string without bound (the same limit as nix's and containers' log lines, 16 KiB).
    public static let maximumLineBytes = 16 * 1024
    /// Appended to a line that was cut at ``maximumLineBytes``.
    public static let truncationMarker = " …[line truncated]"

    private var lines = JSONLinesDecoder()
    private let endpoint: String
    private let output: @Sendable (String) -> Void
    /// The current line so far (at most ``maximumLineBytes``), and whether more of it was dropped.
    private var partial = ""
    private var partialCut = false
    private var step: String?
    private var stepOutput: [String] = []
    private(set) var imageID: String?

    /// Makes a parser that passes each output line to `output`; `endpoint` is named in its errors.
    public init(endpoint: String = "POST /build", output: @escaping @Sendable (String) -> Void) {
        self.endpoint = endpoint
        self.output = output
    }

    /// Adds a chunk of the answer.
    /// - Throws: ``DockerError`` `.buildFailed` as soon as an error line is complete.
    public mutating func feed(_ chunk: ByteBuffer) throws {
        for line in try lines.feed(chunk) { try handle(line) }
    }

    /// Ends the answer and returns the image ID.
    /// - Throws: ``DockerError`` `.buildFailed` for a final error line, `.badResponse` if no image was named.
    public mutating func finish() throws -> String {
        for line in try lines.finish() { try handle(line) }
        flush()
        guard let imageID else {
            throw DockerError(.badResponse, "the build ended without naming the image it made (no aux ID); see the daemon's log", endpoint: endpoint, status: 200)
        }
        return imageID
    }

    private struct Message: Decodable {
        struct Detail: Decodable { var message: String? }
        struct Aux: Decodable { var ID: String? }
        var stream: String?
        var error: String?
        var errorDetail: Detail?
        var aux: Aux?
        var status: String?
    }

    private mutating func handle(_ line: ByteBuffer) throws {
        guard let message = try? JSONDecoder().decode(Message.self, from: line) else {
            throw DockerError(.badResponse, "cannot read a line of the daemon's build answer: '\(String(String(buffer: line).prefix(200)))'",
                              endpoint: endpoint, status: 200)
        }
        if let id = message.aux?.ID { imageID = id }
        if let text = message.stream ?? message.status {
            var rest = Substring(text)
            while let newline = rest.firstIndex(where: \.isNewline) {
                append(rest[..<newline])
                flush()
                rest = rest[rest.index(after: newline)...]
            }
            append(rest)
        }
        if let failure = message.errorDetail?.message ?? message.error {
            flush()
            let failure = failure.trimmingCharacters(in: .whitespacesAndNewlines)
            let place = step.map { " at \($0)" } ?? ""
            let quoted = stepOutput.isEmpty ? "" : "; its output ended with:\n" + stepOutput.joined(separator: "\n")
            // buildah (Podman 4.3's builder) cannot commit a step on a base image whose config
            // lists fewer history entries than layers; its words alone do not say what to change.
            let advice = failure.contains("non-empty layers, but we have")
                ? ". Podman's builder needs the base image's config to have a `history` entry per layer "
                    + "(image builders write them; hand-made archives may not): add them to the base image, or build on Docker"
                : ""
            throw DockerError(.buildFailed, "the build failed\(place): \(failure)\(advice)\(quoted)", endpoint: endpoint, status: 200, daemonMessage: failure)
        }
    }

    /// Adds text of the current line, keeping at most ``maximumLineBytes`` of it.
    private mutating func append(_ text: Substring) {
        guard !partialCut else { return }
        let room = Self.maximumLineBytes - partial.utf8.count
        if text.utf8.count <= room {
            partial += text
        } else {
            // Lossy: the cut may fall inside a character.
            partial += String(decoding: text.utf8.prefix(room), as: UTF8.self)
            partialCut = true
        }
    }

    private mutating func flush() {
        if partialCut { partial += Self.truncationMarker }
        if !partial.isEmpty { emit(partial) }
        partial = ""
        partialCut = false
    }

    private mutating func emit(_ line: String) {
        let line = line.trimmingCharacters(in: .whitespaces)
        guard !line.isEmpty else { return }
        output(line)
        if line.hasPrefix("Step ") {
            step = line
            stepOutput = []
        } else if !line.hasPrefix(" ---> ") {
            stepOutput.append(line)
            if stepOutput.count > Self.quotedLines { stepOutput.removeFirst() }
        }
    }
}
