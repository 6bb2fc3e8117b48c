import Crypto
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// A folder sent to `POST /build` as a tar, written as it is read: memory holds one chunk and the
/// names of the folders still to visit, never a file's content. Entries are sorted by name, owned
/// by 0:0 and dated 0, so the same files make the same bytes (their digest is a cache key).
///
/// Symbolic links are stored as links and never followed, so nothing outside the folder is
/// read; other special files (sockets, FIFOs, devices) are left out.
public struct BuildContext: Sendable {
    /// The folder sent.
    public let root: String
    /// Its `.dockerignore`.
    public let ignore: DockerIgnore
    /// Paths (relative to `root`) sent even if `.dockerignore` excludes them: the Dockerfile and
    /// `.dockerignore` itself, as `docker build` does.
    public let alwaysSent: Set<String>
    /// Paths whose content is sent from memory instead of the file (a rewritten Dockerfile).
    public let replacements: [String: [UInt8]]

    /// Describes the context at `root`, reading its `.dockerignore` if it has one.
    ///
    /// - Parameters:
    ///   - dockerfile: the Dockerfile's path relative to `root`, always sent.
    ///   - replacements: content to send instead of these files' own.
    /// - Throws: ``DockerError`` `.invalidArchive` if `.dockerignore` cannot be read.
    public init(root: String, dockerfile: String, replacements: [String: [UInt8]] = [:]) throws {
        self.root = root
        let ignorePath = root + "/.dockerignore"
        if FileManager.default.fileExists(atPath: ignorePath) {
            guard let data = FileManager.default.contents(atPath: ignorePath) else {
                throw DockerError(.invalidArchive, "cannot read \(ignorePath); check its permissions")
            }
            ignore = DockerIgnore(String(decoding: data, as: UTF8.self))
        } else {
            ignore = .none
        }
        alwaysSent = [dockerfile, ".dockerignore"]
        self.replacements = replacements
    }

    /// The tar as 1 MiB chunks, read on NIO's blocking-I/O pool as the consumer pulls.
    public var chunks: BuildContextChunks { BuildContextChunks(context: self) }

    /// SHA-256 of the tar this context makes: a key of exactly the files sent. Blocking: in async
    /// code use the `async` overload, which a cancelled Task stops.
    /// - Throws: ``DockerError`` `.invalidArchive` if a file cannot be read.
    public func digest() throws -> String {
        try Self.digest(TarWriter(context: self))
    }

    /// SHA-256 of the tar this context makes, computed on NIO's blocking-I/O pool.
    ///
    /// Cancelling the calling Task (a stage timeout, Ctrl-C) stops the walk at the next file, so a
    /// context of many files (or a costly `.dockerignore`) never outlives its stage.
    /// - Throws: ``DockerError`` `.invalidArchive` if a file cannot be read, `.cancelled` if the
    ///   Task was cancelled.
    public func digest() async throws -> String {
        let writer = TarWriter(context: self)
        return try await withTaskCancellationHandler {
            try await NIOThreadPool.singleton.runIfActive { try Self.digest(writer) }
        } onCancel: {
            writer.cancel()
        }
    }

    private static func digest(_ writer: TarWriter) throws -> String {
        var hasher = SHA256()
        while let chunk = try writer.next() {
            chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// Whether an excluded folder must still be walked: something inside may be re-included.
    func mustWalk(excludedFolder path: String) -> Bool {
        ignore.hasExceptions || alwaysSent.contains { $0.hasPrefix(path + "/") }
    }
}

/// ``BuildContext``'s tar as an async sequence of chunks (single consumer).
public struct BuildContextChunks: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    let context: BuildContext

    public struct AsyncIterator: AsyncIteratorProtocol {
        let writer: TarWriter

        /// The next chunk; a cancelled Task stops the walk at the next file (one chunk can
        /// otherwise cover any number of files that `.dockerignore` leaves out).
        public mutating func next() async throws -> ByteBuffer? {
            let writer = self.writer
            return try await withTaskCancellationHandler {
                try await NIOThreadPool.singleton.runIfActive { try writer.next() }
            } onCancel: {
                writer.cancel()
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(writer: TarWriter(context: context)) }
}

/// Writes a folder as a ustar archive with pax headers for what ustar cannot hold (names or link
/// targets over 100 bytes, sizes of 8 GiB and more). Not thread-safe by itself: its state is
/// behind a lock so that a read the HTTP client issues late cannot race `deinit`'s close.
final class TarWriter: Sendable {
    static let chunkSize = 1 << 20
    private let context: BuildContext
    private let state = Mutex(State())
    /// Set from another thread to stop the walk; checked before each file (outside the lock).
    private let cancelled = Atomic<Bool>(false)

    private struct State: ~Copyable {
        /// Paths still to visit, the next one last ("" is the root).
        var pending: [String] = [""]
        /// The file being copied: its descriptor, path and bytes still to send.
        var file: (fd: Int32, path: String, remaining: Int64, padding: Int)?
        var finished = false

        deinit { if let file { _ = closeDescriptor(file.fd) } }
    }

    init(context: BuildContext) {
        self.context = context
    }

    /// Stops the walk: the `next()` running now throws before its next file, and every later one.
    func cancel() { cancelled.store(true, ordering: .relaxed) }

    /// The next chunk of the archive, or nil after its end: about 1 MiB, exceeded at most by one
    /// entry's headers (a few KiB with pax records) or a replaced file's content.
    func next() throws -> ByteBuffer? {
        try state.withLock { state -> ByteBuffer? in
            if state.finished { return nil }
            try checkCancellation()
            var buffer = ByteBufferAllocator().buffer(capacity: Self.chunkSize + 2048)
            while buffer.readableBytes < Self.chunkSize {
                if state.file != nil {
                    try copyFile(&state, into: &buffer)
                    continue
                }
                try checkCancellation()
                guard let path = state.pending.popLast() else {
                    buffer.writeRepeatingByte(0, count: 1024)  // two zero blocks end the archive
                    state.finished = true
                    break
                }
                try visit(path, &state, into: &buffer)
            }
            return buffer
        }
    }

    /// Whether the walk was cancelled. `Task.isCancelled` serves the blocking `digest()` called
    /// from a Task; the flag the rest.
    private var isCancelled: Bool { cancelled.load(ordering: .relaxed) || Task.isCancelled }

    private func checkCancellation() throws {
        if isCancelled { throw cancellation }
    }

    private var cancellation: DockerError { DockerError(.cancelled, "sending the build context \(context.root) was cancelled") }

    /// Whether the entry at `path` is sent; asks for cancellation while matching its patterns.
    private func sends(_ path: String) throws -> Bool {
        if context.alwaysSent.contains(path) { return true }
        guard let excluded = context.ignore.excludes(path, stopping: { isCancelled }) else { throw cancellation }
        return !excluded
    }

    private func copyFile(_ state: inout State, into buffer: inout ByteBuffer) throws {
        guard var file = state.file else { return }
        if file.remaining > 0 {
            let want = Int(min(file.remaining, Int64(max(Self.chunkSize - buffer.readableBytes, 1))))
            var failure: Errno?
            let got = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { pointer -> Int in
                switch readRetryingInterrupts(file.fd, pointer.baseAddress!, want) {
                case .success(let got): return got
                case .failure(let error): failure = error; return 0
                }
            }
            if let failure {
                throw DockerError(.invalidArchive, "cannot read \(file.path) of the build context: \(failure)", underlying: failure)
            }
            if got == 0 {
                // The file shrank while being sent: pad it to the size its header promised, so
                // the archive stays readable (the next build sends it whole).
                buffer.writeRepeatingByte(0, count: Int(file.remaining))
                file.remaining = 0
            } else {
                file.remaining -= Int64(got)
            }
        }
        if file.remaining == 0 {
            buffer.writeRepeatingByte(0, count: file.padding)
            _ = closeDescriptor(file.fd)
            state.file = nil
        } else {
            state.file = file
        }
    }

    private func visit(_ path: String, _ state: inout State, into buffer: inout ByteBuffer) throws {
        let full = path.isEmpty ? context.root : context.root + "/" + path
        var info = stat()
        guard lstat(full, &info) == 0 else {
            if errno == ENOENT { return }  // removed while walking
            throw DockerError(.invalidArchive, "cannot read \(full) of the build context: \(String(cString: strerror(errno)))")
        }
        let mode = Int(info.st_mode & 0o7777)
        switch info.st_mode & S_IFMT {
        case S_IFDIR:
            let sent = try path.isEmpty || sends(path)
            if !sent && !context.mustWalk(excludedFolder: path) { return }
            if sent && !path.isEmpty { writeHeader(name: path + "/", mode: mode, size: 0, type: "5", link: "", into: &buffer) }
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: full)
            } catch {
                throw DockerError(.invalidArchive, "cannot list \(full) of the build context; check its permissions", underlying: error)
            }
            // Sorted by bytes, pushed in reverse so that the first is visited first.
            for name in names.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }).reversed() {
                state.pending.append(path.isEmpty ? name : path + "/" + name)
            }
        case S_IFLNK:
            guard try sends(path) else { return }
            var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let length = readlink(full, &target, Int(PATH_MAX))
            guard length >= 0 else {
                throw DockerError(.invalidArchive, "cannot read the link \(full): \(String(cString: strerror(errno)))")
            }
            let link = String(decoding: target[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            writeHeader(name: path, mode: mode, size: 0, type: "2", link: link, into: &buffer)
        case S_IFREG:
            guard try sends(path) else { return }
            if let content = context.replacements[path] {
                writeHeader(name: path, mode: mode, size: Int64(content.count), type: "0", link: "", into: &buffer)
                buffer.writeBytes(content)
                buffer.writeRepeatingByte(0, count: Self.padding(Int64(content.count)))
                return
            }
            // O_NOFOLLOW: a file swapped for a link after the lstat is refused, not followed.
            let fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
            guard fd >= 0 else {
                throw DockerError(.invalidArchive, "cannot open \(full) of the build context: \(String(cString: strerror(errno))); check its permissions")
            }
            var opened = stat()
            guard fstat(fd, &opened) == 0, opened.st_mode & S_IFMT == S_IFREG else {
                _ = closeDescriptor(fd)
                throw DockerError(.invalidArchive, "\(full) changed while the build context was being sent; build again")
            }
            let size = Int64(opened.st_size)
            writeHeader(name: path, mode: mode, size: size, type: "0", link: "", into: &buffer)
            state.file = (fd, full, size, Self.padding(size))
        default:
            return  // sockets, FIFOs and devices have no place in an image's context
        }
    }

    static func padding(_ size: Int64) -> Int { Int((512 - size % 512) % 512) }

    /// A ustar header, preceded by a pax header when a field does not fit.
    func writeHeader(name: String, mode: Int, size: Int64, type: Character, link: String, into buffer: inout ByteBuffer) {
        var records: [(String, String)] = []
        if name.utf8.count > 100 { records.append(("path", name)) }
        if link.utf8.count > 100 { records.append(("linkpath", link)) }
        if size >= 0o77777777777 { records.append(("size", String(size))) }
        if !records.isEmpty {
            var body: [UInt8] = []
            for (key, value) in records { body += Self.paxRecord(key, value) }
            Self.appendHeader(name: "PaxHeaders/" + String(name.suffix(80)), mode: 0o644, size: Int64(body.count),
                              type: "x", link: "", into: &buffer)
            buffer.writeBytes(body)
            buffer.writeRepeatingByte(0, count: Self.padding(Int64(body.count)))
        }
        Self.appendHeader(name: name, mode: mode, size: size >= 0o77777777777 ? 0 : size, type: type, link: link, into: &buffer)
    }

    /// `LEN key=value\n`, where LEN counts the whole record, itself included.
    static func paxRecord(_ key: String, _ value: String) -> [UInt8] {
        let rest = " \(key)=\(value)\n".utf8.count
        var length = rest + String(rest).count
        if String(length).count != String(rest).count { length = rest + String(length).count }
        return Array("\(length) \(key)=\(value)\n".utf8)
    }

    private static func appendHeader(name: String, mode: Int, size: Int64, type: Character, link: String, into buffer: inout ByteBuffer) {
        var header = [UInt8](repeating: 0, count: 512)
        func put(_ bytes: some Sequence<UInt8>, at offset: Int, max: Int) {
            for (index, byte) in bytes.prefix(max).enumerated() { header[offset + index] = byte }
        }
        func octal(_ value: Int64, at offset: Int, width: Int) {
            let digits = String(value, radix: 8)
            put(Array(String(repeating: "0", count: max(0, width - 1 - digits.count)).utf8) + Array(digits.utf8), at: offset, max: width - 1)
        }
        put(name.utf8, at: 0, max: 100)
        octal(Int64(mode), at: 100, width: 8)
        octal(0, at: 108, width: 8)
        octal(0, at: 116, width: 8)
        octal(size, at: 124, width: 12)
        octal(0, at: 136, width: 12)
        header[156] = type.asciiValue!
        put(link.utf8, at: 157, max: 100)
        put("ustar\u{0}00".utf8, at: 257, max: 8)
        put(Array(repeating: UInt8(ascii: " "), count: 8), at: 148, max: 8)
        let sum = header.reduce(0) { $0 + Int64($1) }
        let digits = String(sum, radix: 8)
        put(Array((String(repeating: "0", count: max(0, 6 - digits.count)) + digits).utf8) + [0, UInt8(ascii: " ")], at: 148, max: 8)
        buffer.writeBytes(header)
    }
}
