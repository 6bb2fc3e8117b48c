import NIOCore

/// An incremental decoder of a streamed response body: fed chunks as they arrive (chunk
/// boundaries are arbitrary), it returns the complete elements found so far and keeps the rest.
protocol StreamDecoder: Sendable {
    associatedtype Element: Sendable
    /// Adds a chunk; returns the elements it completed.
    mutating func feed(_ chunk: ByteBuffer) throws -> [Element]
    /// Ends the stream; throws if a partial element is left.
    mutating func finish() throws -> [Element]
}

/// One frame of a container's multiplexed output.
public struct LogFrame: Sendable, Equatable, CustomStringConvertible {
    /// Which stream the frame came from (the first byte of the frame header).
    public enum Stream: UInt8, Sendable {
        /// Standard input (only echoed back on attach).
        case stdin = 0
        /// Standard output.
        case stdout = 1
        /// Standard error.
        case stderr = 2
        /// An error the daemon itself wrote into the stream (e.g. the container's log driver failed).
        case systemError = 3
    }

    /// Which stream the bytes belong to.
    public let stream: Stream
    /// The frame's payload, exactly as the container wrote it (not necessarily whole lines).
    public let bytes: ByteBuffer

    /// Makes a frame.
    public init(stream: Stream, bytes: ByteBuffer) {
        self.stream = stream
        self.bytes = bytes
    }

    /// The payload as UTF-8 text (invalid sequences replaced).
    public var text: String { String(buffer: bytes) }

    /// `stdout: text`.
    public var description: String { "\(stream): \(text.debugDescription)" }
}

/// Splits the daemon's multiplexed stream (container logs and exec/attach output without a TTY)
/// into frames.
///
/// Each frame is an 8-byte header `[stream, 0, 0, 0, size as big-endian UInt32]` followed by `size`
/// bytes. Frames span body chunks freely — a header may be cut in two — so this keeps the
/// unfinished part across calls to ``feed(_:)-7f5x0``. A frame larger than `maximumFrameSize` is an
/// error rather than an unbounded buffer.
public struct MultiplexedStreamDecoder: StreamDecoder, Sendable {
    /// The default frame limit, 1 MiB. The daemon frames what it read from the container's pipe in
    /// one go (32 KiB at most) or one log line (split at 16 KiB), so real frames are far smaller.
    public static let defaultMaximumFrameSize = 1 << 20

    private static let headerSize = 8
    private var buffer = ByteBuffer()
    private let maximumFrameSize: Int

    /// Makes a decoder that rejects frames above `maximumFrameSize` bytes.
    public init(maximumFrameSize: Int = MultiplexedStreamDecoder.defaultMaximumFrameSize) {
        self.maximumFrameSize = maximumFrameSize
    }

    /// Adds a chunk of the stream and returns the frames it completed, in order.
    ///
    /// - Throws: ``DockerError`` `.badResponse` if a header is not a multiplexing header (the
    ///   container may have a TTY, whose output is raw) or announces a frame above the limit.
    public mutating func feed(_ chunk: ByteBuffer) throws -> [LogFrame] {
        var chunk = chunk
        buffer.writeBuffer(&chunk)
        return try drain()
    }

    /// Adds bytes (for callers holding an array) and returns the frames they completed.
    public mutating func feed(_ bytes: some Sequence<UInt8>) throws -> [LogFrame] {
        buffer.writeBytes(bytes)
        return try drain()
    }

    /// Ends the stream.
    ///
    /// - Throws: ``DockerError`` `.badResponse` if the stream stopped inside a frame.
    public mutating func finish() throws -> [LogFrame] {
        guard buffer.readableBytes == 0 else {
            throw DockerError(
                .badResponse,
                "the multiplexed output stream ended inside a frame (\(buffer.readableBytes) bytes of an unfinished frame); the connection was cut"
            )
        }
        return []
    }

    private mutating func drain() throws -> [LogFrame] {
        var frames: [LogFrame] = []
        while buffer.readableBytes >= Self.headerSize {
            let start = buffer.readerIndex
            let streamByte = buffer.getInteger(at: start, as: UInt8.self)!
            let padding = buffer.getBytes(at: start + 1, length: 3)!
            let size = Int(buffer.getInteger(at: start + 4, endianness: .big, as: UInt32.self)!)
            guard let stream = LogFrame.Stream(rawValue: streamByte), padding == [0, 0, 0] else {
                throw DockerError(
                    .badResponse,
                    "the output is not a multiplexed stream (frame header \(buffer.getBytes(at: start, length: Self.headerSize)!)); "
                        + "containers and execs read through this client must run without a TTY"
                )
            }
            guard size <= maximumFrameSize else {
                throw DockerError(
                    .badResponse,
                    "a multiplexed output frame announces \(size) bytes, above the \(maximumFrameSize)-byte limit; the stream is corrupt or not multiplexed"
                )
            }
            guard buffer.readableBytes >= Self.headerSize + size else { break }
            buffer.moveReaderIndex(forwardBy: Self.headerSize)
            frames.append(LogFrame(stream: stream, bytes: buffer.readSlice(length: size)!))
        }
        // Frames are slices sharing `buffer`'s storage, so this copies the unread tail into fresh
        // storage (copy-on-write) rather than letting the storage grow with the stream.
        buffer.discardReadBytes()
        return frames
    }
}

/// Splits a newline-delimited stream (the daemon's JSON-lines answers to load, events, build) into
/// lines, across chunk boundaries.
///
/// Lines are returned without their `\n` or `\r\n`; empty lines are dropped. A line longer than
/// `maximumLineLength` is an error rather than an unbounded buffer.
public struct JSONLinesDecoder: StreamDecoder, Sendable {
    /// The default line limit, 1 MiB: the daemon's messages are a few hundred bytes.
    public static let defaultMaximumLineLength = 1 << 20

    private var buffer = ByteBuffer()
    /// How far `buffer` (from its reader index) is known to hold no newline.
    private var scanned = 0
    private let maximumLineLength: Int

    /// Makes a decoder that rejects lines above `maximumLineLength` bytes.
    public init(maximumLineLength: Int = JSONLinesDecoder.defaultMaximumLineLength) {
        self.maximumLineLength = maximumLineLength
    }

    /// Adds a chunk and returns the lines it completed, in order.
    ///
    /// - Throws: ``DockerError`` `.badResponse` if a line grows past the limit.
    public mutating func feed(_ chunk: ByteBuffer) throws -> [ByteBuffer] {
        var chunk = chunk
        buffer.writeBuffer(&chunk)
        var lines: [ByteBuffer] = []
        while let offset = buffer.readableBytesView.dropFirst(scanned).firstIndex(of: UInt8(ascii: "\n")) {
            let length = offset - buffer.readableBytesView.startIndex
            var line = buffer.readSlice(length: length)!
            buffer.moveReaderIndex(forwardBy: 1)
            scanned = 0
            if line.readableBytesView.last == UInt8(ascii: "\r") {
                line.moveWriterIndex(to: line.writerIndex - 1)
            }
            if line.readableBytes > 0 { lines.append(line) }
        }
        scanned = buffer.readableBytes
        guard scanned <= maximumLineLength else {
            throw DockerError(
                .badResponse,
                "the daemon sent a line longer than \(maximumLineLength) bytes without a newline; the stream is not JSON lines"
            )
        }
        buffer.discardReadBytes()
        return lines
    }

    /// Ends the stream and returns its last line if it had no final newline.
    public mutating func finish() throws -> [ByteBuffer] {
        defer { buffer.clear(); scanned = 0 }
        var line = buffer
        if line.readableBytesView.last == UInt8(ascii: "\r") {
            line.moveWriterIndex(to: line.writerIndex - 1)
        }
        return line.readableBytes > 0 ? [line] : []
    }
}
