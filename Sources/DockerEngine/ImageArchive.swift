import CZlib
import Crypto
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What a docker-archive says about one image, read without loading it.
public struct ImageArchiveInfo: Sendable, Equatable {
    /// The image ID the classic (graphdriver) image store will give it: `sha256:` + the SHA-256
    /// of its config file. (A daemon using the containerd image store reports the manifest's
    /// digest instead; compare ``configDigest`` with that store.)
    public let id: String
    /// The tags the archive's `manifest.json` gives it, `name:tag`.
    public let repoTags: [String]
    /// `sha256:` + the SHA-256 of the config file, as the archive's bytes say.
    public let configDigest: String
    /// The config file's path inside the archive.
    public let configPath: String
    /// The layer paths inside the archive, bottom first.
    public let layers: [String]
}

/// Reads docker-archives (what `docker save` and nixpkgs `dockerTools.buildImage` write: a tar,
/// plain or gzip-compressed, holding `manifest.json`, a config JSON and layer tars) as a stream.
///
/// Memory stays bounded whatever the archive's size: layers are skipped (seeked over in a plain
/// tar, inflated and dropped in a gzipped one) and only small files are hashed, a chunk at a time.
/// Archives are distrusted (a nix build's output is whatever its flake wrote): every tar header
/// field is validated and every size checked before it is used, so a hostile archive ends in
/// ``DockerError`` `.invalidArchive`, never a crash, a loop or unbounded memory.
public enum ImageArchive {
    /// The largest `manifest.json` accepted (real ones are a few hundred bytes per image).
    static let manifestLimit = 4 << 20
    /// Entries up to this size are hashed as they pass, since the manifest naming the config may
    /// come after it (`docker save` writes `manifest.json` last). Configs are a few KiB.
    static let hashedEntryLimit = 16 << 20
    /// The most bytes of names and digests of small entries kept until the manifest is known:
    /// tens of thousands of entries, where real archives have a few hundred.
    static let rememberedLimit = 8 << 20
    /// What one remembered digest costs beyond its name (the digest string, the table's slot).
    static let rememberedEntryCost = 128
    /// The largest entry accepted (4 TiB): more than any layer, and small enough that no size
    /// arithmetic can overflow.
    static let entrySizeLimit: Int64 = 1 << 42
    /// The most memory a scan holds, whatever the archive: its fixed buffers, the manifest, one
    /// extended header and the remembered digests.
    static let memoryLimit = TarReader.chunkBytes + GzipSource.inputBytes + GzipSource.scratchBytes
        + manifestLimit + TarReader.extendedHeaderLimit + rememberedLimit

    /// The ID, tags and config digest of the one image in the archive at `path`.
    ///
    /// Reads the file with `read(2)` in 1 MiB chunks (gzip detected by its magic bytes, inflated
    /// with zlib); blocking, so in async code use the `async` overload, which reads on a thread
    /// of its own and can be cancelled.
    /// - Throws: ``DockerError`` `.invalidArchive` if the file cannot be read, is not a
    ///   (gzipped) tar, lacks `manifest.json` or the config it names, holds other than one image,
    ///   or has a malformed tar header (a negative or oversized size, a bad checksum or pax record).
    public static func imageID(ofArchiveAt path: String) throws -> ImageArchiveInfo {
        try onlyImage(in: images(inArchiveAt: path), path: path)
    }

    /// The ID, tags and config digest of the one image in the archive at `path`, read on a
    /// thread of its own (never blocking Swift's cooperative pool).
    ///
    /// Cancelling the calling Task (a stage timeout, Ctrl-C) stops the read within one chunk:
    /// a multi-GiB gzip bomb is abandoned in milliseconds, not inflated to its end.
    /// - Throws: as the blocking ``imageID(ofArchiveAt:)-swift.type.method``, and ``DockerError``
    ///   `.cancelled` if the Task was cancelled.
    public static func imageID(ofArchiveAt path: String) async throws -> ImageArchiveInfo {
        try onlyImage(in: await images(inArchiveAt: path), path: path)
    }

    /// Every image listed in the archive's `manifest.json`, in its order.
    ///
    /// - Throws: as ``imageID(ofArchiveAt:)-swift.type.method``, except for the image count.
    public static func images(inArchiveAt path: String) throws -> [ImageArchiveInfo] {
        try scan(path, control: ScanControl()).images
    }

    /// Every image listed in the archive's `manifest.json`, read on a thread of its own and
    /// cancelled with the calling Task.
    ///
    /// - Throws: as ``images(inArchiveAt:)-swift.type.method``, and ``DockerError`` `.cancelled`.
    public static func images(inArchiveAt path: String) async throws -> [ImageArchiveInfo] {
        try await runOffCooperativePool(name: "sutradhar-archive-scan") { control in
            try scan(path, control: control).images
        }
    }

    private static func onlyImage(in images: [ImageArchiveInfo], path: String) throws -> ImageArchiveInfo {
        guard images.count == 1 else {
            throw DockerError(
                .invalidArchive,
                "the image archive \(path) holds \(images.count) images; Sutradhar expects exactly one per archive"
            )
        }
        return images[0]
    }

    /// What a scan held, for tests that bound the reader's memory.
    struct ScanStatistics {
        /// The most bytes held at once (fixed buffers included).
        var peakBytes = 0
    }

    /// Reads the archive at `path`, checking `control` in every loop.
    static func scan(_ path: String, control: ScanControl) throws -> (images: [ImageArchiveInfo], statistics: ScanStatistics) {
        let file = try ArchiveFile(path: path, control: control)
        defer { file.close() }
        let gzipped = try file.startsWithGzipMagic()
        let source: any ArchiveByteSource = gzipped ? try GzipSource(file, control: control) : file
        var statistics = ScanStatistics()
        let fixed = TarReader.chunkBytes + (gzipped ? GzipSource.inputBytes + GzipSource.scratchBytes : 0)
        let images = try read(TarReader(source: source, control: control), path: path) { held in
            statistics.peakBytes = max(statistics.peakBytes, fixed + held)
        }
        return (images, statistics)
    }

    private static func read(_ tar: TarReader, path: String, holding: (Int) -> Void) throws -> [ImageArchiveInfo] {
        var manifestBytes: [UInt8]?
        var digests: [String: String] = [:]
        var remembered = 0
        var wanted: Set<String> = []

        while let entry = try tar.nextEntry() {
            holding((manifestBytes?.count ?? 0) + remembered + tar.largestExtendedHeader)
            guard entry.isRegularFile else {
                try tar.skipContents(of: entry)
                continue
            }
            let name = normalized(entry.name)
            if name == "manifest.json" {
                guard entry.size <= manifestLimit else {
                    throw DockerError(.invalidArchive, "manifest.json in \(path) is \(entry.size) bytes, more than a docker-archive manifest can be")
                }
                var bytes: [UInt8] = []
                bytes.reserveCapacity(Int(entry.size))
                try tar.readContents(of: entry) { bytes.append(contentsOf: $0) }
                manifestBytes = bytes
                wanted = Set(try parseManifest(bytes, path: path).map { normalized($0.Config) })
            } else if entry.size <= hashedEntryLimit || wanted.contains(name) {
                var hasher = SHA256()
                try tar.readContents(of: entry) { hasher.update(bufferPointer: $0) }
                if digests[name] == nil {
                    remembered += name.utf8.count + rememberedEntryCost
                    guard remembered <= rememberedLimit else {
                        throw DockerError(
                            .invalidArchive,
                            "the image archive \(path) is not a valid docker-archive: it holds more small files than any image "
                                + "(over \(rememberedLimit >> 20) MiB of their names by entry '\(TarReader.quoted(entry.name))' at byte \(entry.offset))"
                        )
                    }
                }
                digests[name] = "sha256:" + hasher.finalize().map { String(format: "%02x", $0) }.joined()
            } else {
                try tar.skipContents(of: entry)
            }
        }
        holding((manifestBytes?.count ?? 0) + remembered + tar.largestExtendedHeader)

        guard let manifestBytes else {
            throw DockerError(.invalidArchive, "\(path) has no manifest.json, so it is not a docker-archive (an OCI layout or a root file system tar?)")
        }
        return try parseManifest(manifestBytes, path: path).map { image in
            let configPath = normalized(image.Config)
            guard let digest = digests[configPath] else {
                throw DockerError(.invalidArchive, "\(path) lacks the config file \(image.Config) that its manifest.json names")
            }
            return ImageArchiveInfo(
                id: digest, repoTags: image.RepoTags ?? [], configDigest: digest, configPath: configPath,
                layers: (image.Layers ?? []).map(normalized)
            )
        }
    }

    private struct ManifestEntry: Decodable {
        var Config: String
        var RepoTags: [String]?
        var Layers: [String]?
    }

    private static func parseManifest(_ bytes: [UInt8], path: String) throws -> [ManifestEntry] {
        do {
            return try JSONDecoder().decode([ManifestEntry].self, from: Data(bytes))
        } catch {
            throw DockerError(.invalidArchive, "manifest.json in \(path) is not a docker-archive manifest", underlying: error)
        }
    }

    /// The images of a manifest whose config digests `digest` looks up by entry name.
    static func manifestImages(_ bytes: [UInt8], path: String, digest: (String) -> String?) throws -> [ImageArchiveInfo] {
        try parseManifest(bytes, path: path).map { image in
            let configPath = normalized(image.Config)
            let configDigest = digest(configPath) ?? ""
            return ImageArchiveInfo(id: configDigest, repoTags: image.RepoTags ?? [], configDigest: configDigest,
                                    configPath: configPath, layers: (image.Layers ?? []).map(normalized))
        }
    }

    /// `./a/b` and `a/b` are the same entry.
    static func normalizedName(_ name: String) -> String { normalized(name) }

    /// `./a/b` and `a/b` are the same entry.
    private static func normalized(_ name: String) -> String {
        var name = Substring(name)
        while name.hasPrefix("./") { name = name.dropFirst(2) }
        while name.hasPrefix("/") { name = name.dropFirst() }
        return String(name)
    }
}

// MARK: - Cancellation

/// Lets a scan that runs on a thread of its own be stopped: the Task awaiting it sets the flag
/// (from its cancellation handler), and every loop of the reader checks it, so a cancelled scan
/// ends within one chunk's work (microseconds to a few milliseconds) whatever the archive holds.
final class ScanControl: Sendable {
    private let cancelled = Atomic<Bool>(false)
    /// Tests bound each scan with this; production scans are bounded by their stage's timeout.
    let deadline: ContinuousClock.Instant?

    init(deadline: ContinuousClock.Instant? = nil) {
        self.deadline = deadline
    }

    func cancel() { cancelled.store(true, ordering: .relaxed) }

    /// Throws ``DockerError`` `.cancelled` once cancelled (or, for the blocking overloads called
    /// from a Task, once that Task is), `.timeout` once past the deadline.
    func check(_ path: String) throws {
        if cancelled.load(ordering: .relaxed) || Task.isCancelled {
            throw DockerError(.cancelled, "reading the image archive \(path) was cancelled")
        }
        if let deadline, ContinuousClock.now >= deadline {
            throw DockerError(.timeout, "reading the image archive \(path) did not finish before its deadline")
        }
    }
}

/// Runs blocking work on a thread of its own, not on Swift's cooperative pool (whose few threads
/// it would hold for as long as a large archive takes), and cancels it through ``ScanControl``
/// when the awaiting Task is cancelled (a stage timeout, Ctrl-C).
func runOffCooperativePool<T: Sendable>(
    name: String, control: ScanControl = ScanControl(), _ body: @escaping @Sendable (ScanControl) throws -> T
) async throws -> T {
    try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let thread = Thread {
                continuation.resume(with: Result { try body(control) })
            }
            thread.name = name
            thread.start()
        }
    } onCancel: {
        control.cancel()
    }
}

// MARK: - Byte sources

/// Where a tar's bytes come from: the file itself, or zlib inflating it.
protocol ArchiveByteSource: AnyObject {
    /// Fills some of `buffer`; returns how many bytes, 0 at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
    /// Skips `count` bytes (never negative: callers validate sizes first).
    func skip(_ count: Int64) throws
    /// The most bytes that can still come, so that a size read from a header can be checked
    /// before it is acted on.
    var maxRemaining: Int64 { get }
    /// Where the data came from, for messages.
    var path: String { get }
}

/// An archive file opened for reading with `read(2)`.
final class ArchiveFile: ArchiveByteSource {
    let path: String
    private var fd: Int32
    private let size: Int64
    private var offset: Int64 = 0
    private let control: ScanControl

    init(path: String, control: ScanControl = ScanControl()) throws {
        self.path = path
        self.control = control
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw DockerError(.invalidArchive, "cannot open the image archive \(path): \(Errno(code: errno)); check the path and its permissions")
        }
        var status = stat()
        guard fstat(fd, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else {
            closeDescriptor(fd)
            throw DockerError(.invalidArchive, "the image archive \(path) is not a regular file")
        }
        size = Int64(status.st_size)
    }

    func close() {
        if fd >= 0 { closeDescriptor(fd) }
        fd = -1
    }

    var maxRemaining: Int64 { max(0, size - offset) }

    /// Whether the file begins with gzip's magic bytes `1f 8b` (read without moving the offset).
    func startsWithGzipMagic() throws -> Bool {
        var magic: [UInt8] = [0, 0]
        let got = magic.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 2, 0) }
        guard got >= 0 else { throw DockerError(.invalidArchive, "cannot read the image archive \(path): \(Errno(code: errno))") }
        return got == 2 && magic == [0x1f, 0x8b]
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try control.check(path)
        switch readRetryingInterrupts(fd, buffer.baseAddress!, buffer.count) {
        case .success(let got):
            offset += Int64(got)
            return got
        case .failure(let error):
            throw DockerError(.invalidArchive, "cannot read the image archive \(path): \(error)", underlying: error)
        }
    }

    /// Seeks over `count` bytes: a plain tar's layers cost nothing to pass.
    func skip(_ count: Int64) throws {
        try control.check(path)
        // Never backwards (a negative count would re-read the same header for ever), never past the end.
        guard count >= 0, count <= maxRemaining else {
            throw DockerError(.invalidArchive, "the image archive \(path) ends inside an entry: it is truncated")
        }
        guard lseek(fd, off_t(count), SEEK_CUR) >= 0 else {
            throw DockerError(.invalidArchive, "cannot seek in the image archive \(path): \(Errno(code: errno))")
        }
        offset += count
    }
}

/// Inflates a gzip file (one or more members) as it is read, with zlib.
final class GzipSource: ArchiveByteSource {
    private let file: ArchiveFile
    private let control: ScanControl
    private let stream: UnsafeMutablePointer<z_stream>
    private let input: UnsafeMutableRawBufferPointer
    private var inputEnded = false
    private var memberEnded = false
    private var scratch: UnsafeMutableRawBufferPointer

    static let inputBytes = 256 << 10
    static let scratchBytes = 64 << 10
    /// Deflate cannot expand more than 1032:1 (a 258-byte match in two bits); with margin.
    static let maxExpansion: Int64 = 1100

    var path: String { file.path }

    /// What the compressed bytes not yet inflated can become at most, plus what zlib may hold.
    var maxRemaining: Int64 {
        let compressed = file.maxRemaining + Int64(stream.pointee.avail_in)
        let (expanded, overflow) = compressed.multipliedReportingOverflow(by: Self.maxExpansion)
        let (total, overflowAgain) = expanded.addingReportingOverflow(1 << 20)
        return overflow || overflowAgain ? Int64.max : total
    }

    init(_ file: ArchiveFile, control: ScanControl = ScanControl()) throws {
        self.file = file
        self.control = control
        // zlib keeps a pointer back to its z_stream, so it lives at a fixed address.
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        input = .allocate(byteCount: Self.inputBytes, alignment: 1)
        scratch = .allocate(byteCount: Self.scratchBytes, alignment: 1)
        // 15 + 32: the largest window, and expect a gzip (or zlib) header.
        let status = inflateInit2_(stream, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else {
            stream.deallocate()
            input.deallocate()
            scratch.deallocate()
            throw DockerError(.invalidArchive, "cannot start inflating \(file.path): zlib error \(status)")
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
        input.deallocate()
        scratch.deallocate()
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            try control.check(path)
            if stream.pointee.avail_in == 0 && !inputEnded {
                let got = try file.read(into: input)
                if got == 0 {
                    inputEnded = true
                } else {
                    stream.pointee.next_in = input.baseAddress!.assumingMemoryBound(to: Bytef.self)
                    stream.pointee.avail_in = uInt(got)
                }
            }
            if memberEnded {
                // Concatenated members form one stream (gzip -c a b); anything else after a member is trailing data.
                guard stream.pointee.avail_in > 0 else { return 0 }
                guard inflateReset(stream) == Z_OK else { return 0 }
                memberEnded = false
            }
            if stream.pointee.avail_in == 0 && inputEnded {
                throw DockerError(.invalidArchive, "the gzip data of \(path) ends early: the archive is truncated")
            }
            stream.pointee.next_out = buffer.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = uInt(buffer.count)
            let status = inflate(stream, Z_NO_FLUSH)
            let produced = buffer.count - Int(stream.pointee.avail_out)
            if try memberEnds(after: status, of: stream, what: path) { memberEnded = true }
            if produced > 0 { return produced }
            if memberEnded && stream.pointee.avail_in == 0 && inputEnded { return 0 }
        }
    }

    func skip(_ count: Int64) throws {
        guard count >= 0 else {
            throw DockerError(.invalidArchive, "the image archive \(path) asked to skip \(count) bytes: it is not a valid docker-archive")
        }
        var remaining = count
        while remaining > 0 {
            let slice = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<Int(min(remaining, Int64(scratch.count)))])
            let got = try read(into: slice)
            guard got > 0 else {
                throw DockerError(.invalidArchive, "the image archive \(path) ends inside an entry: it is truncated")
            }
            remaining -= Int64(got)
        }
    }
}

// MARK: - Tar

/// One entry's contents read through its archive's reader, hashed (SHA-256) as they pass, so
/// that the entry's digest is known whatever part of it the caller reads or skips.
final class EntryContents: ArchiveByteSource {
    private let reader: TarReader
    private let size: Int64
    private var remaining: Int64
    private var hasher = SHA256()
    private let scratch: UnsafeMutableRawBufferPointer
    let path: String

    fileprivate init(reader: TarReader, name: String, size: Int64) {
        self.reader = reader
        self.size = size
        self.remaining = size
        self.path = "\(reader.sourcePath) (entry \(TarReader.quoted(name)))"
        scratch = .allocate(byteCount: 64 << 10, alignment: 1)
    }

    deinit { scratch.deallocate() }

    var maxRemaining: Int64 { remaining }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard remaining > 0, buffer.count > 0 else { return 0 }
        let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(min(Int64(buffer.count), remaining))])
        let got = try reader.readSome(slice)
        guard got > 0 else {
            throw DockerError(.invalidArchive, "the image archive \(path) ends inside this entry: it is truncated")
        }
        hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: slice[0..<got]))
        remaining -= Int64(got)
        return got
    }

    /// Reads over `count` bytes rather than seeking, so that they are hashed too.
    func skip(_ count: Int64) throws {
        guard count >= 0, count <= remaining else {
            throw DockerError(.invalidArchive, "the image archive \(path) asked to skip past the end of its entry")
        }
        var left = count
        while left > 0 {
            let got = try read(into: UnsafeMutableRawBufferPointer(rebasing: scratch[0..<Int(min(left, Int64(scratch.count)))]))
            left -= Int64(got)
        }
    }

    /// Reads whatever is left, so that the digest covers the whole entry.
    func drain() throws { try skip(remaining) }

    /// `sha256:` and the hex digest of the whole entry; call after `drain()`.
    var digest: String {
        "sha256:" + hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}

/// A streaming reader of ustar/pax/GNU tar headers over an ``ArchiveByteSource``.
///
/// Every header is distrusted: numbers must be well-formed octal or non-negative GNU base-256,
/// the checksum must match, pax records must be well-formed with lengths that add up, and a
/// size must fit both ``ImageArchive/entrySizeLimit`` and what the source can still hold, so
/// no arithmetic can overflow and the reader only ever moves forward.
final class TarReader {
    struct Entry {
        var name: String
        var size: Int64
        var type: UInt8
        /// Where the entry's (first) header starts in the tar stream.
        var offset: Int64 = 0
        /// Permission bits, owner and group, as the header (or its pax record) gives them.
        var mode: Int64 = 0
        var uid: Int64 = 0
        var gid: Int64 = 0
        /// Modification time as written: seconds since 1970, with a fraction when pax gave one.
        var mtime: String = "0"
        /// A link's target (symbolic or hard), else empty.
        var linkName: String = ""
        var isRegularFile: Bool { type == UInt8(ascii: "0") || type == 0 || type == UInt8(ascii: "7") }
    }

    private let source: any ArchiveByteSource
    private let control: ScanControl
    private let chunk: UnsafeMutableRawBufferPointer
    /// Bytes of the tar stream consumed so far (after inflating), for messages.
    private(set) var position: Int64 = 0
    /// The largest extended header (pax, GNU long name) held at once.
    private(set) var largestExtendedHeader = 0

    static let chunkBytes = 1 << 20
    /// Long names (pax `path`, GNU `L`) are bounded too.
    static let extendedHeaderLimit = 1 << 20
    /// Names longer than this (PATH_MAX) are no docker-archive's.
    static let nameLimit = 4096

    init(source: any ArchiveByteSource, control: ScanControl = ScanControl()) {
        self.source = source
        self.control = control
        chunk = .allocate(byteCount: Self.chunkBytes, alignment: 1)
    }

    deinit { chunk.deallocate() }

    /// The next entry's header, or nil at the end of the archive.
    func nextEntry() throws -> Entry? {
        var longName: String?
        var paxPath: String?
        var paxSize: Int64?
        var paxMetadata: [String: String] = [:]
        var longLinkName: String?
        var firstOffset: Int64?
        while true {
            try control.check(source.path)
            let offset = position
            var header = [UInt8](repeating: 0, count: 512)
            let got = try header.withUnsafeMutableBytes { try readFully($0) }
            // EOF at a header boundary (as Go's archive/tar accepts) or the zero block ends the archive,
            // unless an extended header promised an entry.
            if got == 0 || (got == 512 && header.allSatisfy { $0 == 0 }) {
                if let firstOffset {
                    throw invalid("an extended header is not followed by the entry it describes", at: firstOffset)
                }
                return nil
            }
            guard got == 512 else {
                throw DockerError(.invalidArchive, "the image archive \(source.path) ends inside a tar header: it is truncated")
            }
            try verifyChecksum(header, at: offset)
            try verifyNumbers(header, at: offset)

            let type = header[156]
            let headerSize = try size(header, at: offset)
            switch type {
            case UInt8(ascii: "x"), UInt8(ascii: "L"), UInt8(ascii: "K"), UInt8(ascii: "g"):
                guard headerSize <= Self.extendedHeaderLimit else {
                    throw invalid("an extended header of \(headerSize) bytes, more than the \(Self.extendedHeaderLimit) allowed", at: offset)
                }
                var bytes: [UInt8] = []
                bytes.reserveCapacity(Int(headerSize))
                try readContents(of: Entry(name: "(extended header)", size: headerSize, type: type, offset: offset)) {
                    bytes.append(contentsOf: $0)
                }
                largestExtendedHeader = max(largestExtendedHeader, bytes.count)
                if type != UInt8(ascii: "g") { firstOffset = firstOffset ?? offset }
                if type == UInt8(ascii: "L") {
                    longName = try checkedName(String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self), at: offset)
                } else if type == UInt8(ascii: "K") {
                    longLinkName = try checkedName(String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self), at: offset)
                } else {
                    let records = try paxRecords(bytes, at: offset)
                    // A global header's records apply to later entries' metadata this reader does not use;
                    // they are validated all the same, as the daemon will.
                    guard type == UInt8(ascii: "x") else { continue }
                    for (key, value) in records {
                        switch key {
                        case "path":
                            paxPath = value.isEmpty ? nil : try checkedName(value, at: offset)
                        case "size":
                            guard let size = Self.decimal(value) else {
                                throw invalid("the pax size '\(Self.quoted(value))' is not a non-negative decimal number", at: offset)
                            }
                            paxSize = size
                        case "mtime", "uid", "gid", "linkpath":
                            paxMetadata[key] = value
                        default:
                            break
                        }
                    }
                }
                continue
            default:
                break
            }

            let name = paxPath ?? longName ?? Self.ustarName(header)
            // Links, devices, folders and fifos have no contents whatever their size field says (as in Go's archive/tar).
            let size = Self.isHeaderOnly(type) ? 0 : (paxSize ?? headerSize)
            guard size <= ImageArchive.entrySizeLimit else {
                throw invalid("entry '\(Self.quoted(name))' declares \(size) bytes, more than any image layer (\(ImageArchive.entrySizeLimit))", at: offset)
            }
            let remaining = source.maxRemaining
            guard size + Self.padding(size) <= remaining else {
                throw invalid("entry '\(Self.quoted(name))' declares \(size) bytes, but at most \(remaining) remain: it is truncated or its size is corrupt", at: offset)
            }
            var entry = Entry(name: name, size: size, type: type, offset: firstOffset ?? offset)
            entry.mode = Self.number(header[100..<108])
            entry.uid = paxMetadata["uid"].flatMap(Self.decimal) ?? Self.number(header[108..<116])
            entry.gid = paxMetadata["gid"].flatMap(Self.decimal) ?? Self.number(header[116..<124])
            entry.mtime = paxMetadata["mtime"] ?? String(Self.number(header[136..<148]))
            entry.linkName = paxMetadata["linkpath"] ?? longLinkName
                ?? String(decoding: header[157..<257].prefix { $0 != 0 }, as: UTF8.self)
            return entry
        }
    }

    /// A numeric field already checked by `verifyNumbers`: octal, or GNU base-256 (0 if it does not fit).
    private static func number(_ field: ArraySlice<UInt8>) -> Int64 {
        if field.first.map({ $0 & 0x80 != 0 }) == true { return base256(field) ?? 0 }
        return octal(field) ?? 0
    }

    /// Reads the entry's contents as a byte source of their own (a tar inside this tar, such as a
    /// layer), then moves past whatever `body` left unread and the padding. `body`'s reads and
    /// skips come from this reader's source, so memory stays that of the two readers' buffers.
    func withContents<T>(of entry: Entry, _ body: (EntryContents) throws -> T) throws -> T {
        precondition(entry.size >= 0 && entry.size <= ImageArchive.entrySizeLimit)
        let contents = EntryContents(reader: self, name: entry.name, size: entry.size)
        let result = try body(contents)
        try contents.drain()
        try skip(Self.padding(entry.size))
        return result
    }

    /// Reads what `source` gives at once into `buffer` (one call), counting it in `position`.
    fileprivate func readSome(_ buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try control.check(source.path)
        let got = try source.read(into: buffer)
        position += Int64(got)
        return got
    }

    fileprivate var sourcePath: String { source.path }

    /// Passes the entry's contents to `body` a chunk at a time, then moves past its padding.
    func readContents(of entry: Entry, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        precondition(entry.size >= 0 && entry.size <= ImageArchive.entrySizeLimit)
        var remaining = entry.size
        while remaining > 0 {
            try control.check(source.path)
            let slice = UnsafeMutableRawBufferPointer(rebasing: chunk[0..<Int(min(remaining, Int64(chunk.count)))])
            let got = try readFully(slice)
            guard got == slice.count else {
                throw DockerError(.invalidArchive, "the image archive \(source.path) ends inside \(Self.quoted(entry.name)): it is truncated")
            }
            try body(UnsafeRawBufferPointer(slice))
            remaining -= Int64(got)
        }
        try skip(Self.padding(entry.size))
    }

    /// Moves past the entry's contents and padding without keeping them.
    func skipContents(of entry: Entry) throws {
        precondition(entry.size >= 0 && entry.size <= ImageArchive.entrySizeLimit)
        try skip(entry.size + Self.padding(entry.size))
    }

    private func skip(_ count: Int64) throws {
        try source.skip(count)
        position += count
    }

    private static func padding(_ size: Int64) -> Int64 { (512 - size % 512) % 512 }

    /// Types whose entries have no contents: hard and symbolic links, devices, folders, fifos.
    private static func isHeaderOnly(_ type: UInt8) -> Bool {
        (UInt8(ascii: "1")...UInt8(ascii: "6")).contains(type)
    }

    private func readFully(_ buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var filled = 0
        while filled < buffer.count {
            let got = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            if got == 0 { break }
            filled += got
        }
        position += Int64(filled)
        return filled
    }

    /// The error for a header that no valid tar has, naming where it is.
    private func invalid(_ problem: String, at offset: Int64) -> DockerError {
        DockerError(
            .invalidArchive,
            "the image archive \(source.path) is not a valid docker-archive: the tar header at byte \(offset) has \(problem); "
                + "rebuild it (the image build's output must be a docker-archive, as dockerTools or docker save write)"
        )
    }

    private func verifyChecksum(_ header: [UInt8], at offset: Int64) throws {
        guard let recorded = Self.octal(header[148..<156]) else {
            throw invalid("a checksum field that is not an octal number, so it is not a tar archive (or a gzip of one)", at: offset)
        }
        // Unsigned as POSIX says, or signed as some old tars wrote (Go's archive/tar accepts both).
        var unsigned: Int64 = 0
        var signed: Int64 = 0
        for (index, byte) in header.enumerated() {
            let counted = (148..<156).contains(index) ? UInt8(ascii: " ") : byte
            unsigned += Int64(counted)
            signed += Int64(Int8(bitPattern: counted))
        }
        guard recorded == unsigned || recorded == signed else {
            throw DockerError(
                .invalidArchive,
                "\(source.path) is not a tar archive (or a gzip of one): the checksum of the header at byte \(offset) does not match; is it a docker-archive?"
            )
        }
    }

    /// The size field: octal, or non-negative base-256.
    private func size(_ header: [UInt8], at offset: Int64) throws -> Int64 {
        let field = header[124..<136]
        if let first = field.first, first & 0x80 != 0 {
            guard first & 0x40 == 0 else { throw invalid("a negative size (a base-256 number)", at: offset) }
            guard let value = Self.base256(field) else { throw invalid("a base-256 size too large for any file", at: offset) }
            return value
        }
        guard let value = Self.octal(field) else {
            throw invalid("a size field '\(Self.quoted(field))' that is not an octal number", at: offset)
        }
        return value
    }

    /// The other numeric fields this reader does not use (mode, uid, gid, mtime) must still be
    /// numbers: the daemon's tar reader refuses the archive otherwise.
    private func verifyNumbers(_ header: [UInt8], at offset: Int64) throws {
        for (name, range) in [("mode", 100..<108), ("uid", 108..<116), ("gid", 116..<124), ("mtime", 136..<148)] {
            let field = header[range]
            // Base-256 (GNU), negative ones included: a time before 1970 is still a time.
            if field.first.map({ $0 & 0x80 != 0 }) == true { continue }
            guard Self.octal(field) != nil else {
                throw invalid("a \(name) field '\(Self.quoted(field))' that is not an octal number", at: offset)
            }
        }
    }

    /// Octal digits with optional leading spaces or NULs and only NULs or spaces after them; an
    /// empty field is 0. Nil for anything else (a sign, a stray character).
    static func octal(_ field: ArraySlice<UInt8>) -> Int64? {
        var index = field.startIndex
        while index < field.endIndex, field[index] == UInt8(ascii: " ") || field[index] == 0 { index += 1 }
        var value: Int64 = 0
        while index < field.endIndex, (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(field[index]) {
            // At most 12 digits (36 bits) fit a field, but check rather than rely on it.
            let (shifted, overflow) = value.multipliedReportingOverflow(by: 8)
            guard !overflow else { return nil }
            value = shifted + Int64(field[index] - UInt8(ascii: "0"))
            index += 1
        }
        while index < field.endIndex {
            guard field[index] == 0 || field[index] == UInt8(ascii: " ") else { return nil }
            index += 1
        }
        return value
    }

    /// A GNU base-256 number whose sign bit is clear: big-endian after the marker bit. Nil if it
    /// does not fit an `Int64`.
    static func base256(_ field: ArraySlice<UInt8>) -> Int64? {
        guard let first = field.first else { return nil }
        var value = Int64(first & 0x3f)
        for byte in field.dropFirst() {
            guard value <= (Int64.max >> 8) else { return nil }
            value = value << 8 | Int64(byte)
        }
        return value
    }

    /// Decimal digits only (no sign, no space), as pax `size` is; nil if empty or over `Int64.max`.
    static func decimal(_ text: String) -> Int64? {
        guard !text.isEmpty else { return nil }
        var value: Int64 = 0
        for byte in text.utf8 {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            let (shifted, overflow) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflowAgain) = shifted.addingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
            guard !overflow, !overflowAgain else { return nil }
            value = sum
        }
        return value
    }

    private func checkedName(_ name: String, at offset: Int64) throws -> String {
        guard name.utf8.count <= Self.nameLimit else {
            throw invalid("a name of \(name.utf8.count) bytes, longer than any path (\(Self.nameLimit))", at: offset)
        }
        guard !name.utf8.contains(0) else { throw invalid("a name with a NUL byte", at: offset) }
        return name
    }

    /// `prefix/name` from a ustar header; the prefix only in a POSIX ustar header (GNU headers
    /// keep times there).
    private static func ustarName(_ header: [UInt8]) -> String {
        let name = String(decoding: header[0..<100].prefix { $0 != 0 }, as: UTF8.self)
        let isPOSIX = header[257..<263].elementsEqual("ustar\0".utf8)
        let prefix = isPOSIX ? String(decoding: header[345..<500].prefix { $0 != 0 }, as: UTF8.self) : ""
        return prefix.isEmpty ? name : prefix + "/" + name
    }

    /// The `LENGTH KEY=VALUE\n` records of a pax extended header, where LENGTH counts the whole
    /// record in bytes, its own digits and the newline included.
    private func paxRecords(_ bytes: [UInt8], at offset: Int64) throws -> [(String, String)] {
        var records: [(String, String)] = []
        var start = 0
        while start < bytes.count {
            var index = start
            var length = 0
            while index < bytes.count, index - start < 8, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                length = length * 10 + Int(bytes[index] - UInt8(ascii: "0"))
                index += 1
            }
            guard index > start, index < bytes.count, bytes[index] == UInt8(ascii: " ") else {
                throw invalid("a pax record at byte \(start) of its data that does not start with 'LENGTH '", at: offset)
            }
            // The shortest record after "LENGTH " is "k=\n".
            guard length >= index - start + 4, length <= bytes.count - start else {
                throw invalid("a pax record at byte \(start) of its data whose length \(length) does not fit the \(bytes.count - start) bytes left", at: offset)
            }
            let end = start + length
            guard bytes[end - 1] == UInt8(ascii: "\n") else {
                throw invalid("a pax record at byte \(start) of its data whose length \(length) does not end at a newline", at: offset)
            }
            let record = bytes[(index + 1)..<(end - 1)]
            guard let equals = record.firstIndex(of: UInt8(ascii: "=")), equals > record.startIndex else {
                throw invalid("a pax record at byte \(start) of its data without 'key=value'", at: offset)
            }
            records.append((String(decoding: record[record.startIndex..<equals], as: UTF8.self),
                            String(decoding: record[(equals + 1)...], as: UTF8.self)))
            start = end
        }
        return records
    }

    /// A header's text for a message: at most 100 characters, control characters as `?`.
    static func quoted<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> String {
        String(String(decoding: bytes, as: UTF8.self).unicodeScalars.prefix(100).map {
            $0.value < 0x20 || $0.value == 0x7f ? "?" : Character($0)
        })
    }

    static func quoted(_ text: String) -> String { quoted(Array(text.utf8)) }
}
