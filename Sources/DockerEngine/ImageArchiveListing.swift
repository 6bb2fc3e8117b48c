import Crypto
import Foundation

/// One entry of a tar (a layer's file, folder or link) as its header describes it, with the
/// SHA-256 of a regular file's contents: what two builds of a layer are compared by.
public struct TarMember: Sendable, Equatable {
    /// What kind of entry it is.
    public enum Kind: String, Sendable {
        case file, folder, symlink, hardlink, other
    }

    /// The path inside the tar, without a leading `./`.
    public let path: String
    public let kind: Kind
    /// Permission bits (`0o755`).
    public let mode: Int64
    public let uid: Int64
    public let gid: Int64
    /// Modification time as written (seconds since 1970, a fraction when pax gave one).
    public let mtime: String
    /// Bytes of contents (0 for anything but a file).
    public let size: Int64
    /// A link's target, else empty.
    public let linkTarget: String
    /// `sha256:…` of a file's contents; empty for anything else.
    public let digest: String

    /// Creates a member (tests build synthetic listings with it).
    public init(path: String, kind: Kind, mode: Int64 = 0o644, uid: Int64 = 0, gid: Int64 = 0, mtime: String = "0",
                size: Int64 = 0, linkTarget: String = "", digest: String = "") {
        self.path = path
        self.kind = kind
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.mtime = mtime
        self.size = size
        self.linkTarget = linkTarget
        self.digest = digest
    }
}

/// One top-level entry of a docker-archive: its digest, and for a layer tar, its members in
/// the order the layer holds them.
public struct ArchiveEntryListing: Sendable {
    /// The entry's path in the archive, without a leading `./`.
    public let name: String
    /// `sha256:…` of the entry's bytes (for a layer: its diff ID).
    public let digest: String
    /// The layer's members in tar order, when the entry is a tar that could be read; nil otherwise.
    public let members: [TarMember]?
}

/// A docker-archive listed for comparison: every top-level entry with its digest, layers read
/// member by member, and the manifest's images (whose `layers` give the bottom-first order).
public struct ImageArchiveListing: Sendable {
    /// The top-level entries in archive order.
    public let entries: [ArchiveEntryListing]
    /// The images `manifest.json` names (empty when the archive has no manifest: a plain tar).
    public let images: [ImageArchiveInfo]

    /// The entry named `name` (normalised as the manifest's names are), if any.
    public func entry(named name: String) -> ArchiveEntryListing? {
        entries.first { $0.name == name }
    }
}

extension ImageArchive {
    /// The most members kept across all layers of one listing: far more than any image has,
    /// and a bound on memory (a member costs its path and a digest, ~200 bytes).
    public static let listingMemberLimit = 2_000_000

    /// Lists the archive at `path` (a tar, plain or gzipped) for comparison: each top-level
    /// entry's digest, and for each entry whose name ends in `.tar` the members of that tar,
    /// each file hashed as it streams past. Memory grows with the number of members, never with
    /// the archive's size. Reads on a thread of its own; cancelling the calling task stops it.
    /// - Throws: ``DockerError`` `.invalidArchive` if the file is not a (gzipped) tar, has a
    ///   malformed header, or holds more than ``listingMemberLimit`` members; `.cancelled`.
    public static func listing(ofArchiveAt path: String) async throws -> ImageArchiveListing {
        try await runOffCooperativePool(name: "sutradhar-archive-listing") { control in
            try listingBlocking(path, control: control)
        }
    }

    static func listingBlocking(_ path: String, control: ScanControl = ScanControl()) throws -> ImageArchiveListing {
        let file = try ArchiveFile(path: path, control: control)
        defer { file.close() }
        let source: any ArchiveByteSource = try file.startsWithGzipMagic() ? try GzipSource(file, control: control) : file
        let tar = TarReader(source: source, control: control)
        var entries: [ArchiveEntryListing] = []
        var manifestBytes: [UInt8]?
        var membersKept = 0
        while let entry = try tar.nextEntry() {
            guard entry.isRegularFile else {
                try tar.skipContents(of: entry)
                continue
            }
            let name = normalizedName(entry.name)
            if name == "manifest.json", entry.size <= manifestLimit {
                var bytes: [UInt8] = []
                let digest = try tar.withContents(of: entry) { contents in
                    var buffer = [UInt8](repeating: 0, count: 64 << 10)
                    while true {
                        let got = try buffer.withUnsafeMutableBytes { try contents.read(into: $0) }
                        if got == 0 { break }
                        bytes.append(contentsOf: buffer[0..<got])
                    }
                    return contents
                }.digest
                manifestBytes = bytes
                entries.append(ArchiveEntryListing(name: name, digest: digest, members: nil))
                continue
            }
            var members: [TarMember]?
            let contents = try tar.withContents(of: entry) { contents in
                if name.hasSuffix(".tar") {
                    // A layer that is not a tar after all is still compared by its digest.
                    members = try? listMembers(of: contents, control: control, kept: &membersKept)
                }
                return contents
            }
            entries.append(ArchiveEntryListing(name: name, digest: contents.digest, members: members))
        }
        let images = try manifestBytes.map { bytes in
            try manifestImages(bytes, path: path) { name in entries.first { $0.name == name }?.digest }
        } ?? []
        return ImageArchiveListing(entries: entries, images: images)
    }

    /// The members of the tar `contents` holds, files hashed as they pass.
    private static func listMembers(of contents: EntryContents, control: ScanControl, kept: inout Int) throws -> [TarMember] {
        let layer = TarReader(source: contents, control: control)
        var members: [TarMember] = []
        while let entry = try layer.nextEntry() {
            kept += 1
            guard kept <= listingMemberLimit else {
                throw DockerError(.invalidArchive, "\(contents.path) holds more than \(listingMemberLimit) members in all; no image has that many")
            }
            let kind: TarMember.Kind
            switch entry.type {
            case UInt8(ascii: "5"): kind = .folder
            case UInt8(ascii: "2"): kind = .symlink
            case UInt8(ascii: "1"): kind = .hardlink
            default: kind = entry.isRegularFile ? .file : .other
            }
            var digest = ""
            if kind == .file {
                var hasher = SHA256()
                try layer.readContents(of: entry) { hasher.update(bufferPointer: $0) }
                digest = "sha256:" + hasher.finalize().map { String(format: "%02x", $0) }.joined()
            } else {
                try layer.skipContents(of: entry)
            }
            members.append(TarMember(path: normalizedName(entry.name), kind: kind, mode: entry.mode, uid: entry.uid,
                                     gid: entry.gid, mtime: entry.mtime, size: entry.size, linkTarget: entry.linkName,
                                     digest: digest))
        }
        return members
    }
}
