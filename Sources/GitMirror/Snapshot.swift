import CLibGit2
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension GitMirror {
    /// The author, committer and message of every snapshot commit: fixed, so that the same content
    /// always gives the same commit id.
    static let snapshotAuthorName = "Sutradhar"
    static let snapshotAuthorEmail = "sutradhar@localhost"
    static let snapshotMessage = "Snapshot of a local folder\n"

    /// Records the local folder `folder` as it is now as a commit in a mirror of its own.
    ///
    /// Same as `snapshot(folder:mirrorsRoot:progress:)` without progress lines.
    public static func snapshot(folder: URL, mirrorsRoot: URL) async throws -> (mirror: GitMirror, commit: ResolvedCommit) {
        try await snapshot(folder: folder, mirrorsRoot: mirrorsRoot, progress: { _ in })
    }

    /// Records the local folder `folder` as it is now as a commit in a mirror of its own.
    ///
    /// Walks the folder (never following symbolic links), skipping `.git` and, when the folder is
    /// inside a git working tree, whatever that repository ignores (`git_ignore_path_is_ignored` on
    /// the repository `git_repository_open_ext` finds; files it tracks are kept even if they match
    /// an ignore rule, and untracked files that are not ignored are included). File contents, the
    /// executable bit and symbolic links are written as blobs and trees (no filters) into the bare
    /// mirror `mirrorsRoot/<name>-snapshot-<hash of the absolute path>.git`, committed with a fixed
    /// author, committer (time 0) and message, and `refs/heads/snapshot` is pointed at the commit.
    /// Identical content therefore gives an identical commit id. Nothing is written inside the folder
    /// or its repository: no index refresh, no refs, no objects.
    ///
    /// - Returns: the snapshot mirror (whose `checkout` writes the commit out) and the commit.
    /// - Throws: `GitError` with `.snapshotFailed` (folder missing or unreadable, libgit2 failure)
    ///   or `.io`; `CancellationError` when cancelled.
    public static func snapshot(folder: URL, mirrorsRoot: URL,
                                progress: @escaping @Sendable (String) -> Void) async throws -> (mirror: GitMirror, commit: ResolvedCommit) {
        try await onGitThread { cancellation in
            let path = try realFolderPath(folder)
            let mirror = GitMirror(source: path, mirrorsRoot: mirrorsRoot, kind: .snapshot)
            try mirror.createMirrorsRoot()
            let commit = try mirror.surfacingErrors(ref: nil) {
                try withMirrorLock(mirror.mirrorPath, cancellation: cancellation) {
                    removeStaleSiblings(of: mirror.mirrorPath)
                    return try mirror.recordSnapshot(of: path, progress: progress, cancellation: cancellation)
                }
            }
            return (mirror, commit)
        }
    }

    /// The absolute path of `folder` with symbolic links resolved, so one folder has one mirror.
    private static func realFolderPath(_ folder: URL) throws -> String {
        guard let resolved = realpath(folder.path, nil) else {
            throw GitError(code: .snapshotFailed,
                           message: "Cannot snapshot \(folder.path): it does not exist or cannot be read; check the path.",
                           source: folder.path, cause: String(cString: strerror(errno)))
        }
        defer { free(resolved) }
        let path = String(cString: resolved)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw GitError(code: .snapshotFailed, message: "Cannot snapshot \(path): it is not a folder; name a folder.",
                           source: path)
        }
        return path
    }

    /// Writes the folder into the mirror and commits it (on the git thread, holding the lock).
    private func recordSnapshot(of folder: String, progress: (String) -> Void,
                                cancellation: CancellationFlag) throws -> ResolvedCommit {
        do {
            if !FileManager.default.fileExists(atPath: mirrorPath.path) {
                try createSnapshotMirror()
            }
            do {
                return try withOpenedMirror { repo in try commitFolder(folder, into: repo, cancellation: cancellation) }
            } catch let corrupt as CorruptMirror {
                // A snapshot mirror holds nothing that cannot be written again from the folder.
                progress("mirror corrupt, re-creating: \(corrupt.reason)")
                try removeTree(mirrorPath)
                try createSnapshotMirror()
                return try withOpenedMirror { repo in try commitFolder(folder, into: repo, cancellation: cancellation) }
            }
        } catch let failure as LibGit2Failure {
            throw GitError(code: .snapshotFailed,
                           message: "Cannot snapshot \(folder) into \(mirrorPath.path); check that the folder is readable and the mirrors folder writable.",
                           source: folder, cause: failure.summary)
        } catch let corrupt as CorruptMirror {
            throw GitError(code: .corruptMirror,
                           message: "The snapshot mirror \(mirrorPath.path) is unusable even after re-creating it; check the disk, remove it and retry.",
                           source: folder, cause: corrupt.reason)
        }
    }

    /// Creates an empty bare mirror beside `mirrorPath` and renames it into place.
    private func createSnapshotMirror() throws {
        let temporary = temporarySibling(of: mirrorPath)
        defer { try? FileManager.default.removeItem(at: temporary) }
        try withGit("create a snapshot mirror in \(temporary.path)",
                    create: { git_repository_init($0, temporary.path, 1) }, free: git_repository_free) { repo in
            try check(git_repository_set_head(repo, Self.snapshotRef), "point HEAD at \(Self.snapshotRef)")
        }
        try renameIntoPlace(temporary, mirrorPath)
    }

    private func commitFolder(_ folder: String, into repo: OpaquePointer, cancellation: CancellationFlag) throws -> ResolvedCommit {
        let rootTree = try withIgnoreRules(for: folder) { rules in
            let writer = SnapshotTreeWriter(repo: repo, rules: rules, cancellation: cancellation)
            return try writer.writeTree(directory: RawPath(folder), relative: RawPath(""), isRoot: true)!
        }
        var treeID = rootTree
        var commitID = git_oid()
        try withGit("look up the snapshot tree", create: { git_tree_lookup($0, repo, &treeID) }, free: git_tree_free) { tree in
            try withGit("make the snapshot signature",
                        create: { git_signature_new($0, Self.snapshotAuthorName, Self.snapshotAuthorEmail, 0, 0) },
                        free: git_signature_free) { signature in
                var parents: [OpaquePointer?] = []
                try check(git_commit_create(&commitID, repo, nil, signature, signature, nil, Self.snapshotMessage,
                                            tree, 0, &parents),
                          "create the snapshot commit")
            }
        }
        // git_commit_create would refuse to move a ref whose tip is not the new commit's parent:
        // snapshots have no parent, so the ref is forced separately.
        try withGit("update \(Self.snapshotRef)",
                    create: { git_reference_create($0, repo, Self.snapshotRef, &commitID, 1, "snapshot") },
                    free: git_reference_free) { _ in }
        return ResolvedCommit(sha: commitID.hex, treeID: rootTree.hex, fetched: false)
    }
}

/// A path as raw bytes: Linux file names need not be UTF-8, and git stores them as bytes.
struct RawPath {
    var bytes: [UInt8]

    init(_ text: String) { bytes = Array(text.utf8) }
    init(bytes: [UInt8]) { self.bytes = bytes }

    func appending(_ name: [UInt8]) -> RawPath {
        RawPath(bytes: bytes.isEmpty ? name : bytes + [UInt8(ascii: "/")] + name)
    }

    var isEmpty: Bool { bytes.isEmpty }
    var display: String { String(decoding: bytes, as: UTF8.self) }

    func withCString<T>(_ body: (UnsafePointer<CChar>) throws -> T) rethrows -> T {
        try (bytes + [0]).withUnsafeBufferPointer { buffer in
            try buffer.withMemoryRebound(to: CChar.self) { try body($0.baseAddress!) }
        }
    }
}

/// The ignore rules of the git working tree that encloses a snapshot folder, if any.
struct IgnoreRules {
    let repo: OpaquePointer
    let index: OpaquePointer
    /// The folder's path inside the working tree ("" when it is the working tree's root).
    let prefix: RawPath

    private func repoPath(_ relative: RawPath) -> RawPath {
        prefix.isEmpty ? relative : (relative.isEmpty ? prefix : prefix.appending(relative.bytes))
    }

    func isIgnored(_ relative: RawPath) throws -> Bool {
        var ignored: Int32 = 0
        try repoPath(relative).withCString { path in
            try check(git_ignore_path_is_ignored(&ignored, repo, path), "check the ignore rules for \(relative.display)")
        }
        return ignored != 0
    }

    /// Whether the enclosing repository tracks the file (tracked files are kept even if ignored).
    func tracksFile(_ relative: RawPath) -> Bool {
        repoPath(relative).withCString { git_index_get_bypath(index, $0, 0) != nil }
    }

    /// Whether the enclosing repository tracks anything under the directory.
    func tracksAnything(under relative: RawPath) -> Bool {
        var position = 0
        let directory = RawPath(bytes: repoPath(relative).bytes + [UInt8(ascii: "/")])
        return directory.withCString { git_index_find_prefix(&position, index, $0) == 0 }
    }
}

/// Opens the repository whose working tree encloses `folder` (read-only: its ignore rules and
/// index are read, nothing is written) and hands its rules to `body`; nil when there is none, when
/// it is bare, or when the folder itself is ignored (asking for an ignored folder by name means
/// wanting its contents, which the rules would otherwise drop entirely).
func withIgnoreRules<T>(for folder: String, _ body: (IgnoreRules?) throws -> T) throws -> T {
    var found: OpaquePointer?
    let result = git_repository_open_ext(&found, folder, 0, nil)
    if result == GIT_ENOTFOUND.rawValue { return try body(nil) }
    try check(result, "find the repository enclosing \(folder)")
    guard let repo = found else { return try body(nil) }
    defer { git_repository_free(repo) }
    guard git_repository_is_bare(repo) == 0, let workdirPointer = git_repository_workdir(repo),
          let realWorkdir = realpath(workdirPointer, nil) else { return try body(nil) }
    let workdir = String(cString: realWorkdir)
    free(realWorkdir)
    guard folder == workdir || folder.hasPrefix(workdir + "/") else { return try body(nil) }
    let prefix = RawPath(String(folder.dropFirst(workdir.count).drop { $0 == "/" }))
    return try withGit("read the index of \(workdir)", create: { git_repository_index($0, repo) }, free: git_index_free) { index in
        let rules = IgnoreRules(repo: repo, index: index, prefix: prefix)
        if !prefix.isEmpty, try rules.isIgnored(RawPath("")) { return try body(nil) }
        return try body(rules)
    }
}

/// Writes a folder's files as blobs and trees into a repository, bottom-up.
struct SnapshotTreeWriter {
    let repo: OpaquePointer
    let rules: IgnoreRules?
    let cancellation: CancellationFlag

    /// The tree of `directory`, or nil when nothing in it is kept (git stores no empty folders),
    /// except for the root, which is always written.
    func writeTree(directory: RawPath, relative: RawPath, isRoot: Bool) throws -> git_oid? {
        try cancellation.check()
        let names = try entryNames(directory)
        return try withGit("make a tree builder", create: { git_treebuilder_new($0, repo, nil) }, free: git_treebuilder_free) { builder in
            for name in names where name != Array(".git".utf8) {
                let full = directory.appending(name)
                let relativePath = relative.appending(name)
                var info = stat()
                guard full.withCString({ lstat($0, &info) }) == 0 else {
                    throw unreadable(full, String(cString: strerror(errno)))
                }
                let kind = info.st_mode & S_IFMT
                let entry: (id: git_oid, mode: git_filemode_t)?
                switch kind {
                case S_IFDIR:
                    if let rules, try rules.isIgnored(relativePath), !rules.tracksAnything(under: relativePath) { continue }
                    entry = try writeTree(directory: full, relative: relativePath, isRoot: false).map { ($0, GIT_FILEMODE_TREE) }
                case S_IFREG, S_IFLNK:
                    if let rules, try rules.isIgnored(relativePath), !rules.tracksFile(relativePath) { continue }
                    if kind == S_IFLNK {
                        entry = (try writeSymlinkBlob(full), GIT_FILEMODE_LINK)
                    } else {
                        // git records only the owner's execute bit.
                        let mode = info.st_mode & S_IXUSR != 0 ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB
                        entry = (try writeFileBlob(full), mode)
                    }
                default:
                    continue  // sockets, fifos, devices: git cannot store them
                }
                guard var entry else { continue }
                try RawPath(bytes: name).withCString { cName in
                    try check(git_treebuilder_insert(nil, builder, cName, &entry.id, entry.mode), "add \(relativePath.display) to a tree")
                }
            }
            if git_treebuilder_entrycount(builder) == 0, !isRoot { return nil }
            var id = git_oid()
            try check(git_treebuilder_write(&id, builder), "write the tree of \(relative.display)")
            return id
        }
    }

    /// The names in `directory` as raw bytes, without "." and "..".
    private func entryNames(_ directory: RawPath) throws -> [[UInt8]] {
        guard let stream = directory.withCString({ opendir($0) }) else {
            throw unreadable(directory, String(cString: strerror(errno)))
        }
        defer { closedir(stream) }
        var names: [[UInt8]] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            if name == [UInt8(ascii: ".")] || name == [UInt8(ascii: "."), UInt8(ascii: ".")] { continue }
            names.append(name)
        }
        return names
    }

    /// Streams a file into a blob. A stream with no hint path runs no filters, so the blob holds
    /// the bytes exactly as they are on disk.
    private func writeFileBlob(_ path: RawPath) throws -> git_oid {
        let fd = path.withCString { open($0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { throw unreadable(path, String(cString: strerror(errno))) }
        defer { close(fd) }
        var stream: UnsafeMutablePointer<git_writestream>?
        try check(git_blob_create_from_stream(&stream, repo, nil), "start a blob for \(path.display)")
        guard let stream else { throw unreadable(path, "libgit2 returned no blob stream") }
        var committed = false
        defer { if !committed { stream.pointee.free(stream) } }
        var buffer = [CChar](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count == 0 { break }
            if count < 0 {
                if errno == EINTR { continue }
                throw unreadable(path, String(cString: strerror(errno)))
            }
            try buffer.withUnsafeBufferPointer { chunk in
                try check(stream.pointee.write(stream, chunk.baseAddress, count), "write \(path.display) into a blob")
            }
        }
        var id = git_oid()
        committed = true  // commit frees the stream, whether it succeeds or not
        try check(git_blob_create_from_stream_commit(&id, stream), "store \(path.display) as a blob")
        return id
    }

    /// A symbolic link's blob holds its target path, as git stores it.
    private func writeSymlinkBlob(_ path: RawPath) throws -> git_oid {
        var target = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = path.withCString { cPath in
            target.withUnsafeMutableBytes { readlink(cPath, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
        }
        guard length >= 0 else { throw unreadable(path, String(cString: strerror(errno))) }
        var id = git_oid()
        try check(git_blob_create_from_buffer(&id, repo, target, length), "store the link \(path.display)")
        return id
    }

    private func unreadable(_ path: RawPath, _ reason: String) -> GitError {
        GitError(code: .snapshotFailed,
                 message: "Cannot read \(path.display) while taking a snapshot; check its permissions, or add it to .gitignore.",
                 cause: reason)
    }
}
