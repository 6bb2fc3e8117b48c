import CLibGit2
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The object files of a source repository on this machine, copied into a new mirror before its
/// first fetch, so that the fetch finds every wanted object present and only writes refs.
///
/// Why: libgit2's local transport answers a fetch by building a fresh pack out of the source
/// (`git_packbuilder_foreach`, a delta search over every object): 92 s and 438 MB for libgit2's
/// own history, where `git clone --mirror` takes 17 s. The source's packs are compressed and
/// deltified already; taking them as they are costs about as much as reading them.
///
/// Why copies rather than `objects/info/alternates` pointing at the source: the mirror must stand
/// alone. A local source is typically an agent's workspace, which can be deleted, or pruned by a
/// `git gc` that knows nothing of the mirror, at any time. So every object file is copied (or hard
/// linked, below), and the source's own alternates are followed and copied as well.
///
/// Why hard links only for packs: git writes a pack and its index once, read-only (0444), and only
/// ever replaces them by rename and unlink, never in place; a link shares an inode nobody writes to,
/// and a later repack or gc in the source only removes the source's name for it. A pack file with
/// any write bit set, every loose object, and every link that fails (another file system: `EXDEV`;
/// a file of another user under `fs.protected_hardlinks`: `EPERM`) is copied byte for byte.
///
/// Everything is written into the temporary directory of a new mirror, which `cloneMirror` renames
/// into place only after the fetch that follows has written the refs: an interrupted copy is never
/// trusted (it is removed with the temporary directory, or by the next run's stale-sibling sweep).
struct LocalObjectSource {
    /// The source's object folders: its own first, then those of its alternates.
    let objectDirectories: [String]

    /// The object folders of `source` when it is a repository on this machine (an absolute path or
    /// a `file://` URL) whose objects can simply be copied; nil otherwise, and for shallow clones
    /// and partial clones (their objects are incomplete by design: a normal fetch handles them).
    init?(source: String) {
        guard let path = Self.localPath(of: source) else { return nil }
        var handle: OpaquePointer?
        guard git_repository_open_ext(&handle, path, GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue, nil) == 0, let repo = handle else {
            git_error_clear()  // the fetch that follows reports an unreadable source with context
            return nil
        }
        defer { git_repository_free(repo) }
        guard git_repository_is_shallow(repo) == 0 else { return nil }
        var buffer = git_buf()
        defer { git_buf_dispose(&buffer) }
        guard git_repository_item_path(&buffer, repo, GIT_REPOSITORY_ITEM_OBJECTS) == 0, let objects = buffer.ptr else { return nil }
        let directories = Self.withAlternates(of: Self.trimmingSlash(String(cString: objects)))
        let isPartialClone = directories.contains { directory in
            ((try? FileManager.default.contentsOfDirectory(atPath: directory + "/pack")) ?? []).contains { $0.hasSuffix(".promisor") }
        }
        guard !isPartialClone else { return nil }
        objectDirectories = directories
    }

    static func localPath(of source: String) -> String? {
        if source.hasPrefix("/") { return source }
        if source.hasPrefix("file://") { return URL(string: source)?.path }
        return nil
    }

    private static func trimmingSlash(_ path: String) -> String {
        path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
    }

    /// `objects` and, recursively (at most five deep, as git does), the folders its
    /// `info/alternates` names; relative entries are relative to the folder that names them.
    private static func withAlternates(of objects: String) -> [String] {
        var result = [objects]
        var pending = [(objects, 0)]
        while let (directory, depth) = pending.popLast(), depth < 5 {
            guard let text = try? String(contentsOfFile: directory + "/info/alternates", encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") {
                let entry = line.trimmingCharacters(in: .whitespaces)
                guard !entry.isEmpty, !entry.hasPrefix("#") else { continue }
                let absolute = entry.hasPrefix("/") ? entry : URL(fileURLWithPath: directory).appendingPathComponent(entry).standardizedFileURL.path
                let alternate = trimmingSlash(absolute)
                guard !result.contains(alternate) else { continue }
                result.append(alternate)
                pending.append((alternate, depth + 1))
            }
        }
        return result
    }

    // MARK: - Listing

    /// Files copied together: a pack and its index (the pack first: libgit2 finds packs by their
    /// index), or one loose object.
    struct Unit {
        /// Paths relative to an objects folder, e.g. `pack/pack-….pack` or `ab/cdef…`.
        let relativePaths: [String]
        let directory: String
        let bytes: Int64
        let isPack: Bool
    }

    /// Every pack (with its index) and loose object of the object folders, each name once.
    func units() -> [Unit] {
        var seen = Set<String>()
        var packs: [Unit] = []
        var loose: [Unit] = []
        for directory in objectDirectories {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory + "/pack")) ?? []
            for name in names.sorted() where name.hasPrefix("pack-") && name.hasSuffix(".idx") {
                let base = "pack/" + name.dropLast(4)
                let files = [base + ".pack", base + ".idx"]
                guard seen.insert(files[0]).inserted else { continue }
                let sizes = files.map { fileSize(directory + "/" + $0) }
                guard sizes.allSatisfy({ $0 != nil }) else { continue }  // an index without its pack is not a pack
                packs.append(Unit(relativePaths: files, directory: directory, bytes: sizes.reduce(0) { $0 + $1! }, isPack: true))
            }
            for fanout in ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
            where fanout.count == 2 && fanout.allSatisfy(\.isHexDigit) {
                for name in (try? FileManager.default.contentsOfDirectory(atPath: directory + "/" + fanout)) ?? []
                where name.count == Int(GIT_OID_HEXSZ) - 2 && name.allSatisfy(\.isHexDigit) {
                    let relative = fanout + "/" + name
                    guard seen.insert(relative).inserted, let size = fileSize(directory + "/" + relative) else { continue }
                    loose.append(Unit(relativePaths: [relative], directory: directory, bytes: size, isPack: false))
                }
            }
        }
        // Packs first: a gc running in the source packs loose objects before deleting them, so an
        // object whose loose file vanishes is in a pack a second listing finds.
        return packs + loose
    }

    // MARK: - Copying

    /// What `copy` did, for the summary line.
    struct Summary {
        var files = 0
        var bytes: Int64 = 0
        var linkedBytes: Int64 = 0
    }

    /// Copies (or, for read-only packs, hard-links) every object file into `objects`, the objects
    /// folder of a new, still temporary mirror.
    ///
    /// A file that vanishes meanwhile (a gc or repack in the source) makes it list the folders once
    /// more and copy what is new; if files vanish again it gives up.
    ///
    /// - Throws: `GitError` `.io` when a file cannot be read or written, or the source keeps
    ///   changing; `CancellationError` when the task is cancelled (checked after every file and 1 MiB chunk).
    func copy(into objects: String, reporter: ProgressReporter, cancellation: CancellationFlag) throws -> Summary {
        let copier = FileCopier()
        var summary = Summary()
        var done = Set<String>()
        for attempt in 1...2 {
            let units = self.units().filter { !done.contains($0.relativePaths[0]) }
            let totalBytes = units.reduce(summary.bytes) { $0 + $1.bytes }
            let totalFiles = units.reduce(summary.files) { $0 + $1.relativePaths.count }
            var vanished = false
            for unit in units {
                var placed: [String] = []
                for relative in unit.relativePaths {
                    let destination = objects + "/" + relative
                    let outcome = try copier.place(unit.directory + "/" + relative, at: destination, mayLink: unit.isPack) { copied in
                        try cancellation.check()
                        reporter.report("copying objects: \(ProgressReporter.percent(summary.bytes + copied, of: totalBytes)) (\(ProgressReporter.mebibytes(summary.bytes + copied)) of \(ProgressReporter.mebibytes(totalBytes)), \(summary.files)/\(totalFiles) files)")
                    }
                    guard let outcome else {
                        vanished = true
                        break
                    }
                    placed.append(destination)
                    summary.files += 1
                    summary.bytes += outcome.bytes
                    if outcome.linked { summary.linkedBytes += outcome.bytes }
                    try cancellation.check()
                }
                if placed.count == unit.relativePaths.count {
                    done.insert(unit.relativePaths[0])
                } else {
                    placed.forEach { unlink($0) }  // half a pack is no pack
                }
            }
            guard vanished else { return summary }
            if attempt == 2 { break }
        }
        throw GitError(code: .io,
                       message: "The objects of \(objectDirectories[0]) kept changing while they were copied into a new mirror (is a git gc or repack running there?); retry when it has finished.")
    }
}

private func fileSize(_ path: String) -> Int64? {
    var info = stat()
    guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
    return Int64(info.st_size)
}

/// Copies files with one reused 1 MiB buffer.
private final class FileCopier {
    private let bufferSize = 1 << 20
    private let buffer: UnsafeMutableRawPointer

    init() { buffer = .allocate(byteCount: bufferSize, alignment: 16) }
    deinit { buffer.deallocate() }

    /// Hard-links (when `mayLink` and the file is read-only) or copies `source` to `destination`,
    /// creating the destination's folder. Returns nil when `source` no longer exists.
    /// `progress` gets the bytes copied so far of this file, after each chunk.
    func place(_ source: String, at destination: String, mayLink: Bool,
               progress: (Int64) throws -> Void) throws -> (bytes: Int64, linked: Bool)? {
        var info = stat()
        guard stat(source, &info) == 0 else {
            if errno == ENOENT { return nil }
            throw failure("read", source, errno)
        }
        let parent = (destination as NSString).deletingLastPathComponent
        if mkdir(parent, 0o755) != 0, errno != EEXIST { throw failure("create", parent, errno) }
        let isReadOnly = info.st_mode & (S_IWUSR | S_IWGRP | S_IWOTH) == 0
        if mayLink, isReadOnly, link(source, destination) == 0 {
            return (Int64(info.st_size), true)
        }
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else {
            if errno == ENOENT { return nil }
            throw failure("read", source, errno)
        }
        defer { close(input) }
        // Read-only like git's own object files: nothing in the mirror rewrites them.
        let output = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o444)
        guard output >= 0 else { throw failure("create", destination, errno) }
        defer { close(output) }
        var copied: Int64 = 0
        while true {
            let count = read(input, buffer, bufferSize)
            if count == 0 { break }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure("read", source, errno)
            }
            var written = 0
            while written < count {
                let result = write(output, buffer + written, count - written)
                if result < 0 {
                    if errno == EINTR { continue }
                    throw failure("write", destination, errno)
                }
                written += result
            }
            copied += Int64(count)
            try progress(copied)
        }
        return (copied, false)
    }

    private func failure(_ verb: String, _ path: String, _ error: Int32) -> GitError {
        GitError(code: .io,
                 message: "Cannot \(verb) \(path) while copying a source's objects into a new mirror; check that the source is readable and that there is free space for the mirror.",
                 cause: String(cString: strerror(error)))
    }
}
