import Dispatch
import Foundation
import Logging
import MCP

/// The SDK's stdio transport for reading, with writes made strictly serial.
///
/// The SDK's `StdioTransport.send` sleeps when stdout is full (EAGAIN) and, being an actor
/// method, lets a second `send` write in the middle of the first: under pipe back-pressure two
/// frames interleave (swift-sdk issue #263). Here every frame is written whole, by one serial
/// queue, before the next starts; a full pipe blocks that queue's thread (in `poll`), not a frame.
public actor SerialStdioTransport: Transport {
    public nonisolated let logger: Logger
    private let reader: StdioTransport
    private let output: Int32
    private let queue = DispatchQueue(label: "sutradhar.mcp.stdout")

    /// Reads frames from `input`, writes them to `output` (standard input and output by default).
    public init(input: Int32 = STDIN_FILENO, output: Int32 = STDOUT_FILENO, logger: Logger) {
        self.logger = logger
        self.output = output
        // The reader never writes: it gets /dev/null as its output so that it does not touch
        // (or set non-blocking) the real one.
        let devNull = open("/dev/null", O_WRONLY | O_CLOEXEC)
        reader = StdioTransport(input: .init(rawValue: input), output: .init(rawValue: devNull), logger: logger)
    }

    public func connect() async throws { try await reader.connect() }

    public func disconnect() async { await reader.disconnect() }

    public func receive() -> AsyncThrowingStream<Data, any Error> {
        // `receive` is not async in the protocol, but the reader is another actor: hand over
        // its stream through a relay.
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: Data.self)
        let reader = self.reader
        let relay = Task {
            do {
                for try await frame in await reader.receive() { continuation.yield(frame) }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in relay.cancel() }
        return stream
    }

    /// Writes `message` and a newline as one frame, after every frame sent before it.
    /// - Throws: `MCPError.internalError` when the other end is gone (EPIPE) or the write fails.
    public func send(_ message: Data) async throws {
        var line = message
        line.append(UInt8(ascii: "\n"))
        let frame = line
        let output = self.output
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            queue.async {
                do {
                    try Self.writeAll(frame, to: output)
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// Writes every byte, waiting in `poll` while the pipe is full (stdout may be non-blocking
    /// when it shares its open file with stdin, which the reader makes non-blocking).
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
