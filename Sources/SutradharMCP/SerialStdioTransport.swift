import Dispatch
import Foundation
import Logging
import MCP

/// A stdio transport whose reads and writes each have a thread of their own.
///
/// The SDK's `StdioTransport` has two problems here. Its `send` sleeps when stdout is full
/// (EAGAIN) and, being an actor method, lets a second `send` write in the middle of the first:
/// under pipe back-pressure two frames interleave (swift-sdk issue #263). And its reader polls a
/// non-blocking stdin, sleeping 10 ms whenever nothing is there, which adds up to 10 ms to every
/// request. Here every frame is written whole, by one serial queue, before the next starts (a
/// full pipe blocks that queue's thread in `poll`, not a frame), and stdin is read by a thread
/// that blocks in `poll`/`read` and hands each line over as it arrives.
public actor SerialStdioTransport: Transport {
    public nonisolated let logger: Logger
    private let input: Int32
    private let output: Int32
    private let writer = DispatchQueue(label: "sutradhar.mcp.stdout")
    private let reader = DispatchQueue(label: "sutradhar.mcp.stdin")
    private let frames: AsyncThrowingStream<Data, any Error>
    private let continuation: AsyncThrowingStream<Data, any Error>.Continuation
    private var connected = false

    /// Reads frames from `input`, writes them to `output` (standard input and output by default).
    public init(input: Int32 = STDIN_FILENO, output: Int32 = STDOUT_FILENO, logger: Logger) {
        self.logger = logger
        self.input = input
        self.output = output
        (frames, continuation) = AsyncThrowingStream.makeStream(of: Data.self)
    }

    /// The largest frame (one JSON-RPC message, one line) read: 4 MiB. A larger one is skipped
    /// up to its newline, without being held, and answered with a JSON-RPC error (-32600); the
    /// server keeps serving. A tool call's arguments are a few kilobytes.
    public static let maximumFrameBytes = 4 * 1024 * 1024

    /// Starts the reading thread; the stream of frames ends when the input does.
    public func connect() async throws {
        guard !connected else { return }
        connected = true
        let (input, output, writer, continuation, logger) = (self.input, self.output, self.writer, self.continuation, self.logger)
        let answer: @Sendable (Data) -> Void = { reply in
            writer.async {
                var line = reply
                line.append(UInt8(ascii: "\n"))
                do { try Self.writeAll(line, to: output) } catch { logger.warning("cannot answer a refused frame: \(error)") }
            }
        }
        reader.async {
            Self.readLines(from: input, maximumFrameBytes: Self.maximumFrameBytes, logger: logger) { frame in
                switch FrameCheck.check(frame) {
                case .forward: continuation.yield(frame)
                case .answer(let reply): answer(reply)
                }
            } oversize: { skipped in
                logger.warning("refused a frame of \(skipped) bytes or more (the limit is \(Self.maximumFrameBytes))")
                answer(FrameCheck.oversizeError(limit: Self.maximumFrameBytes))
            }
            logger.debug("standard input closed")
            continuation.finish()
        }
    }

    /// Ends the stream of frames (the reading thread stays blocked until the input ends or
    /// the process exits: a blocked `read` cannot be interrupted portably).
    public func disconnect() async {
        continuation.finish()
    }

    public func receive() -> AsyncThrowingStream<Data, any Error> { frames }

    /// Reads `descriptor` until end of file, calling `frame` with each non-empty line of at most
    /// `maximumFrameBytes`, and `oversize` once for each longer one, which is dropped as it comes
    /// (memory stays within one frame and one read). Each byte is looked at once: a long line
    /// arriving in many reads costs no rescans.
    static func readLines(from descriptor: Int32, maximumFrameBytes: Int, logger: Logger,
                          frame: (Data) -> Void, oversize: (Int) -> Void) {
        var pending = [UInt8]()
        var discarding = false   // inside a line already known to be too long
        var discarded = 0
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count == 0 { break }
            if count < 0 {
                let code = errno
                if code == EINTR { continue }
                if code == EAGAIN || code == EWOULDBLOCK {
                    // A non-blocking stdin (inherited): wait in poll, without a timeout.
                    var wait = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                    _ = poll(&wait, 1, -1)
                    continue
                }
                logger.error("cannot read standard input: \(String(cString: strerror(code)))")
                break
            }
            var start = 0
            while start < count {
                let newline = buffer[start..<count].firstIndex(of: UInt8(ascii: "\n"))
                let end = newline ?? count
                if discarding {
                    discarded += end - start
                } else {
                    pending.append(contentsOf: buffer[start..<end])
                    if pending.count > maximumFrameBytes {
                        discarding = true
                        discarded = pending.count
                        pending = []
                    }
                }
                guard let newline else { break }
                if discarding {
                    oversize(discarded)
                    discarding = false
                } else if !pending.isEmpty {
                    frame(Data(pending))
                }
                pending.removeAll(keepingCapacity: pending.count <= 64 * 1024)
                start = newline + 1
            }
        }
        if discarding { oversize(discarded) } else if !pending.isEmpty { frame(Data(pending)) }
    }

    /// Writes `message` and a newline as one frame, after every frame sent before it.
    /// - Throws: `MCPError.internalError` when the other end is gone (EPIPE) or the write fails.
    public func send(_ message: Data) async throws {
        var line = message
        line.append(UInt8(ascii: "\n"))
        let frame = line
        let output = self.output
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            writer.async {
                do {
                    try Self.writeAll(frame, to: output)
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// Writes every byte, waiting in `poll` while the pipe is full (stdout may be non-blocking:
    /// the flag belongs to the open file, which the process may have inherited so).
    static func writeAll(_ frame: Data, to descriptor: Int32) throws {
        try frame.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
            var written = 0
            while written < buffer.count {
                let result = write(descriptor, buffer.baseAddress! + written, buffer.count - written)
                if result > 0 {
                    written += result
                    continue
                }
                let code = errno
                if result < 0, code == EINTR { continue }
                if result < 0, code == EAGAIN || code == EWOULDBLOCK {
                    var wait = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&wait, 1, -1)
                    continue
                }
                throw MCPError.internalError("cannot write to standard output: \(String(cString: strerror(code)))")
            }
        }
    }
}
