import Crypto
import DockerEngine
import Foundation

/// One way two builds of the same output differ, named down to the file: for an image tarball,
/// the layer (by position, so that two layers named by different digests are still paired) and
/// the file inside it.
public struct OutputDifference: Sendable, Equatable, CustomStringConvertible {
    /// Where: `layer 1 of 1 (layer/layer.tar): etc/built-at`, `config abc….json`, `bin/tool`.
    public let location: String
    /// The file inside the layer (or the output) that differs, without the layer; empty when
    /// the difference is not one file's (the layers' count, the config file).
    public let file: String
    /// How: `contents differ (sha256:… vs sha256:…)`, `only in the first build`, `mtime 1 vs 2`.
    public let detail: String

    public init(location: String, file: String, detail: String) {
        self.location = location
        self.file = file
        self.detail = detail
    }

    /// `LOCATION: DETAIL`.
    public var description: String { "\(location): \(detail)" }
}

/// Compares two builds of one output, file by file: image tarballs (docker-archives, plain or
/// gzipped) layer by layer, paired by their position in `manifest.json`; other files by their
/// SHA-256; folders by walking both. Everything streams: memory grows with the number of files,
/// never with their size.
public enum OutputComparison {
    /// The most differences listed; the count beyond is still reported.
    public static let differenceLimit = 200

    /// The differences between `first` and `second` (files or folders), empty when none is found.
    /// - Throws: `DockerError` when an archive cannot be read, `ReproduceError` when a path cannot.
    public static func compare(_ first: String, _ second: String) async throws -> (differences: [OutputDifference], total: Int) {
        let firstIsFolder = isFolder(first)
        let secondIsFolder = isFolder(second)
        var all: [OutputDifference]
        if firstIsFolder && secondIsFolder {
            all = try await compareFolders(first, second)
        } else if !firstIsFolder && !secondIsFolder {
            all = try await compareFiles(first, second, location: "")
        } else {
            all = [OutputDifference(location: "(output)", file: "", detail: "a folder in one build, a file in the other")]
        }
        let total = all.count
        if all.count > differenceLimit { all = Array(all.prefix(differenceLimit)) }
        return (all, total)
    }

    /// Two files: as image archives when both are tars, else by their digest.
    private static func compareFiles(_ first: String, _ second: String, location: String) async throws -> [OutputDifference] {
        if looksLikeTar(first), looksLikeTar(second) {
            let firstListing = try await ImageArchive.listing(ofArchiveAt: first)
            let secondListing = try await ImageArchive.listing(ofArchiveAt: second)
            return ArchiveComparison.compare(firstListing, secondListing)
        }
        let (firstDigest, secondDigest) = (try digest(of: first), try digest(of: second))
        guard firstDigest != secondDigest else { return [] }
        let name = location.isEmpty ? (first as NSString).lastPathComponent : location
        return [OutputDifference(location: name, file: name, detail: "contents differ (\(firstDigest) vs \(secondDigest))")]
    }

    /// Two folders, walked in sorted order; tarballs inside them are compared as archives.
    private static func compareFolders(_ first: String, _ second: String) async throws -> [OutputDifference] {
        let firstFiles = try relativePaths(under: first)
        let secondFiles = try relativePaths(under: second)
        var differences: [OutputDifference] = []
        for path in firstFiles.union(secondFiles).sorted() {
            guard firstFiles.contains(path) else {
                differences.append(OutputDifference(location: path, file: path, detail: "only in the second build"))
                continue
            }
            guard secondFiles.contains(path) else {
                differences.append(OutputDifference(location: path, file: path, detail: "only in the first build"))
                continue
            }
            let a = first + "/" + path, b = second + "/" + path
            // Links first (never followed: a link to a folder is compared as a link).
            let targetA = try? FileManager.default.destinationOfSymbolicLink(atPath: a)
            let targetB = try? FileManager.default.destinationOfSymbolicLink(atPath: b)
            if targetA != nil || targetB != nil {
                if targetA != targetB {
                    differences.append(OutputDifference(location: path, file: path,
                                                        detail: "link to \(targetA ?? "(not a link)") vs \(targetB ?? "(not a link)")"))
                }
                continue
            }
            if isFolder(a) || isFolder(b) { continue }
            let inner = try await compareFiles(a, b, location: path)
            differences += inner.map { difference in
                difference.location == path ? difference
                    : OutputDifference(location: "\(path): \(difference.location)", file: difference.file, detail: difference.detail)
            }
        }
        return differences
    }

    private static func relativePaths(under root: String) throws -> Set<String> {
        guard let walker = FileManager.default.enumerator(atPath: root) else {
            throw ReproduceError("cannot read the folder \(root)")
        }
        var paths: Set<String> = []
        while let path = walker.nextObject() as? String { paths.insert(path) }
        return paths
    }

    private static func isFolder(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// A tar (a ustar magic at byte 257) or a gzip (which may hold one; the listing finds out).
    static func looksLikeTar(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        guard let head = try? handle.read(upToCount: 263), head.count >= 2 else { return false }
        if head[head.startIndex] == 0x1f, head[head.startIndex + 1] == 0x8b { return true }
        return head.count >= 262 && head[(head.startIndex + 257)..<(head.startIndex + 262)].elementsEqual("ustar".utf8)
    }

    /// `sha256:…` of a file, read 1 MiB at a time.
    static func digest(of path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ReproduceError("cannot open \(path) to compare it") }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return "sha256:" + hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}

/// The comparison of two listed docker-archives: layers paired by position in the manifest
/// (a layer folder is named by its digest, so a changed layer has another name in each build),
/// then member by member inside each differing layer.
public enum ArchiveComparison {
    /// The differences between two listings, layers first, bottom layer first.
    public static func compare(_ first: ImageArchiveListing, _ second: ImageArchiveListing) -> [OutputDifference] {
        var differences: [OutputDifference] = []
        var paired: Set<String> = ["manifest.json"]
        let firstImages = first.images, secondImages = second.images
        if firstImages.isEmpty && secondImages.isEmpty {
            // A plain tar: its entries are the files.
            return compareMembers(first.entries.map(member), second.entries.map(member), layer: "")
        }
        if firstImages.count != secondImages.count {
            differences.append(OutputDifference(location: "manifest.json", file: "",
                                                detail: "\(firstImages.count) images vs \(secondImages.count)"))
        }
        for (index, (a, b)) in zip(firstImages, secondImages).enumerated() {
            let image = firstImages.count > 1 ? "image \(index + 1): " : ""
            paired.formUnion([a.configPath, b.configPath])
            if a.layers.count != b.layers.count {
                differences.append(OutputDifference(location: "\(image)manifest.json", file: "",
                                                    detail: "\(a.layers.count) layers vs \(b.layers.count)"))
            }
            var layersDiffer = false
            for (position, (layerA, layerB)) in zip(a.layers, b.layers).enumerated() {
                paired.formUnion([layerA, layerB])
                let entryA = first.entry(named: layerA), entryB = second.entry(named: layerB)
                guard entryA?.digest != entryB?.digest else { continue }
                layersDiffer = true
                let where_ = "\(image)layer \(position + 1) of \(a.layers.count) (\(layerA == layerB ? layerA : "\(layerA) vs \(layerB)"))"
                if let membersA = entryA?.members, let membersB = entryB?.members {
                    let inner = compareMembers(membersA, membersB, layer: where_)
                    differences += inner.isEmpty
                        ? [OutputDifference(location: where_, file: "", detail: "the layer tars differ outside their members (padding, end blocks)")]
                        : inner
                } else {
                    differences.append(OutputDifference(location: where_, file: "",
                                                        detail: "digest \(entryA?.digest ?? "(missing)") vs \(entryB?.digest ?? "(missing)")"))
                }
            }
            let configA = first.entry(named: a.configPath)?.digest, configB = second.entry(named: b.configPath)?.digest
            if configA != configB {
                // The config lists the layers' diff IDs, so it differs whenever a layer does: say so.
                let why = layersDiffer ? " (it records the layers' digests, so it follows them)" : ""
                differences.append(OutputDifference(location: "\(image)config \(a.configPath)", file: a.configPath,
                                                    detail: "contents differ\(why)"))
            }
        }
        // Anything else at the top of the archive, by name.
        let restA = first.entries.filter { !paired.contains($0.name) }
        let restB = second.entries.filter { !paired.contains($0.name) }
        differences += compareMembers(restA.map(member), restB.map(member), layer: "")
        return differences
    }

    private static func member(_ entry: ArchiveEntryListing) -> TarMember {
        TarMember(path: entry.name, kind: .file, digest: entry.digest)
    }

    /// Members compared by path (contents, then metadata), then, when every path matches, by order.
    static func compareMembers(_ first: [TarMember], _ second: [TarMember], layer: String) -> [OutputDifference] {
        func at(_ path: String) -> String { layer.isEmpty ? path : "\(layer): \(path)" }
        var differences: [OutputDifference] = []
        let byPathA = Dictionary(first.map { ($0.path, $0) }, uniquingKeysWith: { _, last in last })
        let byPathB = Dictionary(second.map { ($0.path, $0) }, uniquingKeysWith: { _, last in last })
        for a in first {
            guard let b = byPathB[a.path] else {
                differences.append(OutputDifference(location: at(a.path), file: a.path, detail: "only in the first build"))
                continue
            }
            var changes: [String] = []
            if a.kind != b.kind { changes.append("a \(a.kind.rawValue) vs a \(b.kind.rawValue)") }
            if a.digest != b.digest { changes.append("contents differ (\(a.digest) vs \(b.digest))") }
            if a.linkTarget != b.linkTarget { changes.append("link to \(a.linkTarget) vs \(b.linkTarget)") }
            if a.mode != b.mode { changes.append("mode \(String(a.mode, radix: 8)) vs \(String(b.mode, radix: 8))") }
            if a.uid != b.uid || a.gid != b.gid { changes.append("owner \(a.uid):\(a.gid) vs \(b.uid):\(b.gid)") }
            if a.mtime != b.mtime { changes.append("mtime \(a.mtime) vs \(b.mtime)") }
            if !changes.isEmpty {
                differences.append(OutputDifference(location: at(a.path), file: a.path, detail: changes.joined(separator: "; ")))
            }
        }
        for b in second where byPathA[b.path] == nil {
            differences.append(OutputDifference(location: at(b.path), file: b.path, detail: "only in the second build"))
        }
        if differences.isEmpty, first.count == second.count,
           let index = first.indices.first(where: { first[$0].path != second[$0].path }) {
            differences.append(OutputDifference(
                location: at(first[index].path), file: first[index].path,
                detail: "the same files in another order: entry \(index + 1) is \(first[index].path) in the first build, "
                    + "\(second[index].path) in the second"))
        }
        return differences
    }
}

/// A comparison or report that could not be made, with what to do.
public struct ReproduceError: Error, Sendable, CustomStringConvertible {
    /// What failed and what to do.
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
