import CZlib
import NIOCore

/// A request body that is inflated on the fly when it is gzip (magic bytes `1f 8b`), and passed
/// through untouched otherwise: Podman's `/images/load` takes only a plain tar.
///
/// Constant memory: zlib's window (32 KiB) plus one output chunk of at most 1 MiB per pull, so
/// an archive of any size costs the same. Several gzip members in a row (`gzip -c a b`) are one
/// stream, as gzip(1) reads them.
struct GunzipIfGzipped<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    typealias Element = ByteBuffer
    let base: Base
    /// Where the bytes come from, for messages.
    let what: String

    static var outputBytes: Int { 1 << 20 }

    final class AsyncIterator: AsyncIteratorProtocol {
        private var base: Base.AsyncIterator
        private let what: String
        /// nil until the first bytes decide; then whether they are gzip.
        private var gzipped: Bool?
        private var pending: ByteBuffer?
        private var stream: UnsafeMutablePointer<z_stream>?
        private var input: [UInt8] = []
        private var inputOffset = 0
        private var baseEnded = false
        private var memberEnded = false

        init(base: Base.AsyncIterator, what: String) {
            self.base = base
            self.what = what
        }

        deinit {
            if let stream {
                inflateEnd(stream)
                stream.deallocate()
            }
        }

        func next() async throws -> ByteBuffer? {
            if gzipped == nil { try await decide() }
            guard gzipped == true else {
                if let first = pending {
                    pending = nil
                    return first
                }
                return try await base.next()
            }
            return try await inflateNext()
        }

        /// Reads until two bytes are known (or the body ends) and looks at them.
        private func decide() async throws {
            var head = ByteBuffer()
            while head.readableBytes < 2, var chunk = try await base.next() {
                head.writeBuffer(&chunk)
            }
            let magic = head.getBytes(at: head.readerIndex, length: Swift.min(2, head.readableBytes)) ?? []
            gzipped = magic == [0x1f, 0x8b]
            if gzipped == true {
                input = head.readBytes(length: head.readableBytes) ?? []
                let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
                stream.initialize(to: z_stream())
                // 15 + 32: the largest window, and expect a gzip (or zlib) header.
                guard inflateInit2_(stream, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                    stream.deallocate()
                    throw DockerError(.invalidArchive, "cannot start inflating \(what)")
                }
                self.stream = stream
            } else {
                pending = head.readableBytes > 0 ? head : nil
            }
        }

        private func inflateNext() async throws -> ByteBuffer? {
            guard let stream else { return nil }
            var output = ByteBufferAllocator().buffer(capacity: Self.outputBytes)
            while true {
                if inputOffset == input.count && !baseEnded {
                    if let chunk = try await base.next() {
                        input = Array(chunk.readableBytesView)
                        inputOffset = 0
                        continue
                    }
                    baseEnded = true
                }
                if memberEnded {
                    // Another member follows, or this is the end.
                    guard inputOffset < input.count else { return output.readableBytes > 0 ? output : nil }
                    guard inflateReset(stream) == Z_OK else { return output.readableBytes > 0 ? output : nil }
                    memberEnded = false
                }
                if inputOffset == input.count && baseEnded {
                    throw DockerError(.invalidArchive, "the gzip data of \(what) ends early: the archive is truncated")
                }
                var status: Int32 = Z_OK
                var consumed = 0
                let room = Self.outputBytes - output.readableBytes
                let offset = inputOffset
                input.withUnsafeMutableBytes { source in
                    _ = output.writeWithUnsafeMutableBytes(minimumWritableBytes: room) { target -> Int in
                        stream.pointee.next_in = source.baseAddress!.advanced(by: offset).assumingMemoryBound(to: Bytef.self)
                        stream.pointee.avail_in = uInt(source.count - offset)
                        stream.pointee.next_out = target.baseAddress!.assumingMemoryBound(to: Bytef.self)
                        stream.pointee.avail_out = uInt(room)
                        status = inflate(stream, Z_NO_FLUSH)
                        consumed = source.count - offset - Int(stream.pointee.avail_in)
                        return room - Int(stream.pointee.avail_out)
                    }
                }
                inputOffset += consumed
                if try memberEnds(after: status, of: stream, what: what) { memberEnded = true }
                if output.readableBytes == Self.outputBytes { return output }
                // Input used up with output to give: hand it on rather than wait for the next chunk.
                if output.readableBytes > 0 && inputOffset == input.count { return output }
            }
        }

        private static var outputBytes: Int { GunzipIfGzipped.outputBytes }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator(), what: what) }
}

/// Reads the status of one `inflate` call: whether a gzip member ended.
/// - Throws: ``DockerError`` `.invalidArchive` with zlib's words when the data is corrupt.
func memberEnds(after status: Int32, of stream: UnsafeMutablePointer<z_stream>, what: String) throws -> Bool {
    switch status {
    case Z_STREAM_END:
        return true
    case Z_OK, Z_BUF_ERROR:
        return false
    default:
        let detail = stream.pointee.msg.map { String(cString: $0) } ?? "zlib error \(status)"
        throw DockerError(.invalidArchive, "cannot inflate \(what): \(detail); the gzip data is corrupt")
    }
}
