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

    /// Starts the reading thread; the stream of frames ends when the input does.
    public func connect() async throws {
        guard !connected else { return }
        connected = true
        let (input, continuation, logger) = (self.input, self.continuation, self.logger)
        reader.async { Self.readLines(from: input, into: continuation, logger: logger) }
    }

    /// Ends the stream of frames (the reading thread stays blocked until the input ends or
    /// the process exits: a blocked `read` cannot be interrupted portably).
    public func disconnect() async {
        continuation.finish()
    }

    public func receive() -> AsyncThrowingStream<Data, any Error> { frames }

    /// Reads `descriptor` until end of file, yielding each non-empty line.
    private static func readLines(from descriptor: Int32, into continuation: AsyncThrowingStream<Data, any Error>.Continuation,
                                  logger: Logger) {
        var pending = [UInt8]()
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
            pending.append(contentsOf: buffer[..<count])
            var start = 0
            while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                if newline > start { continuation.yield(Data(pending[start..<newline])) }
                start = newline + 1
            }
            pending.removeFirst(start)
        }
        logger.debug("standard input closed")
        continuation.finish()
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
    private static func writeAll(_ frame: Data, to descriptor: Int32) throws {
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
