import CZlib
import Crypto
import Foundation

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
public enum ImageArchive {
    /// The largest `manifest.json` accepted (real ones are a few hundred bytes per image).
    static let manifestLimit = 4 << 20
    /// Entries up to this size are hashed as they pass, since the manifest naming the config may
    /// come after it (`docker save` writes `manifest.json` last). Configs are a few KiB.
    static let hashedEntryLimit = 16 << 20

    /// The ID, tags and config digest of the one image in the archive at `path`.
    ///
    /// Reads the file with `read(2)` in 1 MiB chunks (gzip detected by its magic bytes, inflated
    /// with zlib); blocking, so call it off the cooperative pool for large archives.
    /// - Throws: ``DockerError`` `.invalidArchive` if the file cannot be read, is not a
    ///   (gzipped) tar, lacks `manifest.json` or the config it names, or holds other than one image.
    public static func imageID(ofArchiveAt path: String) throws -> ImageArchiveInfo {
        let images = try images(inArchiveAt: path)
        guard images.count == 1 else {
            throw DockerError(
                .invalidArchive,
                "the image archive \(path) holds \(images.count) images; Sutradhar expects exactly one per archive"
            )
        }
        return images[0]
    }

    /// Every image listed in the archive's `manifest.json`, in its order.
    ///
    /// - Throws: as ``imageID(ofArchiveAt:)``, except for the image count.
    public static func images(inArchiveAt path: String) throws -> [ImageArchiveInfo] {
        let file = try ArchiveFile(path: path)
        defer { file.close() }
        let source: any ArchiveByteSource = try file.startsWithGzipMagic() ? GzipSource(file) : file
        return try read(TarReader(source: source), path: path)
    }

    private static func read(_ tar: TarReader, path: String) throws -> [ImageArchiveInfo] {
        var manifestBytes: [UInt8]?
        var digests: [String: String] = [:]
        var wanted: Set<String> = []

        while let entry = try tar.nextEntry() {
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
                try tar.readContents(of: entry) { bytes.append(contentsOf: $0) }
                manifestBytes = bytes
                wanted = Set(try parseManifest(bytes, path: path).map { normalized($0.Config) })
            } else if entry.size <= hashedEntryLimit || wanted.contains(name) {
                var hasher = SHA256()
                try tar.readContents(of: entry) { hasher.update(bufferPointer: $0) }
                digests[name] = "sha256:" + hasher.finalize().map { String(format: "%02x", $0) }.joined()
            } else {
                try tar.skipContents(of: entry)
            }
        }

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

    /// `./a/b` and `a/b` are the same entry.
    private static func normalized(_ name: String) -> String {
        var name = Substring(name)
        while name.hasPrefix("./") { name = name.dropFirst(2) }
        while name.hasPrefix("/") { name = name.dropFirst() }
        return String(name)
    }
}

// MARK: - Byte sources

/// Where a tar's bytes come from: the file itself, or zlib inflating it.
protocol ArchiveByteSource: AnyObject {
    /// Fills some of `buffer`; returns how many bytes, 0 at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
    /// Skips `count` bytes.
    func skip(_ count: Int64) throws
    /// Where the data came from, for messages.
    var path: String { get }
}

/// An archive file opened for reading with `read(2)`.
final class ArchiveFile: ArchiveByteSource {
    let path: String
    private var fd: Int32
    private let size: Int64
    private var offset: Int64 = 0

    init(path: String) throws {
        self.path = path
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

    /// Whether the file begins with gzip's magic bytes `1f 8b` (read without moving the offset).
    func startsWithGzipMagic() throws -> Bool {
        var magic: [UInt8] = [0, 0]
        let got = magic.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 2, 0) }
        guard got >= 0 else { throw DockerError(.invalidArchive, "cannot read the image archive \(path): \(Errno(code: errno))") }
        return got == 2 && magic == [0x1f, 0x8b]
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
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
        guard offset + count <= size else {
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
    private let stream: UnsafeMutablePointer<z_stream>
    private let input: UnsafeMutableRawBufferPointer
    private var inputEnded = false
    private var memberEnded = false
    private var scratch: UnsafeMutableRawBufferPointer

    var path: String { file.path }

    init(_ file: ArchiveFile) throws {
        self.file = file
        // zlib keeps a pointer back to its z_stream, so it lives at a fixed address.
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        input = .allocate(byteCount: 256 << 10, alignment: 1)
        scratch = .allocate(byteCount: 64 << 10, alignment: 1)
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
            switch status {
            case Z_STREAM_END:
                memberEnded = true
            case Z_OK, Z_BUF_ERROR:
                break
            default:
                let detail = stream.pointee.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                throw DockerError(.invalidArchive, "cannot inflate \(path): \(detail); the gzip data is corrupt")
            }
            if produced > 0 { return produced }
            if memberEnded && stream.pointee.avail_in == 0 && inputEnded { return 0 }
        }
    }

    func skip(_ count: Int64) throws {
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

/// A streaming reader of ustar/pax/GNU tar headers over an ``ArchiveByteSource``.
final class TarReader {
    struct Entry {
        var name: String
        var size: Int64
        var type: UInt8
        var isRegularFile: Bool { type == UInt8(ascii: "0") || type == 0 || type == UInt8(ascii: "7") }
    }

    private let source: any ArchiveByteSource
    private let chunk: UnsafeMutableRawBufferPointer
    /// Long names (pax `path`, GNU `L`) are bounded too.
    private static let extendedHeaderLimit = 1 << 20

    init(source: any ArchiveByteSource) {
        self.source = source
        chunk = .allocate(byteCount: 1 << 20, alignment: 1)
    }

    deinit { chunk.deallocate() }

    /// The next entry's header, or nil at the end of the archive.
    func nextEntry() throws -> Entry? {
        var overriddenName: String?
        var overriddenSize: Int64?
        while true {
            var header = [UInt8](repeating: 0, count: 512)
            let got = try header.withUnsafeMutableBytes { try readFully($0) }
            if got == 0 { return nil }  // EOF at a header boundary, as Go's archive/tar accepts
            guard got == 512 else {
                throw DockerError(.invalidArchive, "the image archive \(source.path) ends inside a tar header: it is truncated")
            }
            if header.allSatisfy({ $0 == 0 }) { return nil }
            try verifyChecksum(header)

            let type = header[156]
            let size = try Self.number(header[124..<136], path: source.path)
            switch type {
            case UInt8(ascii: "x"), UInt8(ascii: "L"):
                guard size <= Self.extendedHeaderLimit else {
                    throw DockerError(.invalidArchive, "the image archive \(source.path) has a \(size)-byte extended tar header, over the limit")
                }
                var bytes: [UInt8] = []
                try readContents(of: Entry(name: "", size: size, type: type)) { bytes.append(contentsOf: $0) }
                if type == UInt8(ascii: "L") {
                    overriddenName = String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
                } else {
                    let records = Self.paxRecords(bytes)
                    if let path = records["path"] { overriddenName = path }
                    if let size = records["size"].flatMap({ Int64($0) }) { overriddenSize = size }
                }
                continue
            case UInt8(ascii: "g"):
                try skipContents(of: Entry(name: "", size: size, type: type))
                continue
            default:
                break
            }
            return Entry(name: overriddenName ?? Self.ustarName(header), size: overriddenSize ?? size, type: type)
        }
    }

    /// Passes the entry's contents to `body` a chunk at a time, then moves past its padding.
    func readContents(of entry: Entry, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        var remaining = entry.size
        while remaining > 0 {
            let slice = UnsafeMutableRawBufferPointer(rebasing: chunk[0..<Int(min(remaining, Int64(chunk.count)))])
            let got = try readFully(slice)
            guard got == slice.count else {
                throw DockerError(.invalidArchive, "the image archive \(source.path) ends inside \(entry.name): it is truncated")
            }
            try body(UnsafeRawBufferPointer(slice))
            remaining -= Int64(got)
        }
        try source.skip(Self.padding(entry.size))
    }

    /// Moves past the entry's contents and padding without keeping them.
    func skipContents(of entry: Entry) throws {
        try source.skip(entry.size + Self.padding(entry.size))
    }

    private static func padding(_ size: Int64) -> Int64 { (512 - size % 512) % 512 }

    private func readFully(_ buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var filled = 0
        while filled < buffer.count {
            let got = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            if got == 0 { break }
            filled += got
        }
        return filled
    }

    private func verifyChecksum(_ header: [UInt8]) throws {
        let recorded = try Self.number(header[148..<156], path: source.path)
        var sum: Int64 = 0
        for (index, byte) in header.enumerated() {
            sum += (148..<156).contains(index) ? 32 : Int64(byte)
        }
        guard sum == recorded else {
            throw DockerError(
                .invalidArchive,
                "\(source.path) is not a tar archive (or a gzip of one): a header's checksum does not match; is it a docker-archive?"
            )
        }
    }

    /// A numeric header field: octal text, or base-256 when the high bit of the first byte is set.
    private static func number(_ field: ArraySlice<UInt8>, path: String) throws -> Int64 {
        if let first = field.first, first & 0x80 != 0 {
            var value: Int64 = Int64(first & 0x7f)
            for byte in field.dropFirst() {
                guard value < (Int64.max >> 8) else { throw DockerError(.invalidArchive, "\(path) has a tar size field out of range") }
                value = value << 8 | Int64(byte)
            }
            return value
        }
        let digits = field.prefix { $0 != 0 && $0 != UInt8(ascii: " ") }.drop { $0 == UInt8(ascii: " ") }
        if digits.isEmpty { return 0 }
        guard let value = Int64(String(decoding: digits, as: UTF8.self), radix: 8) else {
            throw DockerError(.invalidArchive, "\(path) is not a tar archive: a header field is not an octal number")
        }
        return value
    }

    /// `prefix/name` from a ustar header.
    private static func ustarName(_ header: [UInt8]) -> String {
        let name = String(decoding: header[0..<100].prefix { $0 != 0 }, as: UTF8.self)
        let isUstar = header[257..<262].elementsEqual("ustar".utf8)
        let prefix = isUstar ? String(decoding: header[345..<500].prefix { $0 != 0 }, as: UTF8.self) : ""
        return prefix.isEmpty ? name : prefix + "/" + name
    }

    /// `LENGTH KEY=VALUE\n` records of a pax extended header.
    private static func paxRecords(_ bytes: [UInt8]) -> [String: String] {
        var records: [String: String] = [:]
        var rest = bytes[...]
        while let space = rest.firstIndex(of: UInt8(ascii: " ")),
              let length = Int(String(decoding: rest[rest.startIndex..<space], as: UTF8.self)),
              length > 0, rest.count >= length {
            let record = rest[(space + 1)..<(rest.startIndex + length)].dropLast()  // drop the "\n"
            if let equals = record.firstIndex(of: UInt8(ascii: "=")) {
                records[String(decoding: record[record.startIndex..<equals], as: UTF8.self)] =
                    String(decoding: record[(equals + 1)...], as: UTF8.self)
            }
            rest = rest[(rest.startIndex + length)...]
        }
        return records
    }
}
