import CLibGit2
import Foundation

/// A commit found by `GitMirror.resolve(ref:progress:)` or recorded by `GitMirror.snapshot`.
public struct ResolvedCommit: Sendable, Equatable {
    /// The commit id, 40 hexadecimal digits.
    public let sha: String
    /// The id of the commit's tree, 40 hexadecimal digits.
    public let treeID: String
    /// Whether this resolve had to fetch from (or clone) the source.
    public let fetched: Bool

    /// Creates a value; normally you get one from `resolve` or `snapshot`.
    public init(sha: String, treeID: String, fetched: Bool) {
        self.sha = sha
        self.treeID = treeID
        self.fetched = fetched
    }
}

/// A persistent bare mirror of one source under `mirrorsRoot`.
///
/// The mirror holds every ref of the source (`+refs/*:refs/*`) and is updated by incremental fetches
/// (libgit2 1.5 has no shallow fetch). All operations on one mirror are serialised across threads
/// and processes by an `flock(2)` on `<mirror>.lock`, and all libgit2 work runs on a thread of its
/// own, off Swift's cooperative pool.
public struct GitMirror: Sendable {
    enum Kind: Sendable {
        /// Mirrors a repository at `source` and fetches from it.
        case remote
        /// Holds snapshots of the local folder `source`; there is nothing to fetch from.
        case snapshot
    }

    /// The repository URL (https://, ssh, file://) or absolute local path this mirror copies.
    /// For a snapshot mirror, the absolute path of the folder.
    public let source: String
    /// Where the bare mirror lives: `mirrorsRoot/<readable-name>-<12 hex of a hash of source>.git`.
    public let mirrorPath: URL
    let kind: Kind

    /// Describes the mirror of `source` under `mirrorsRoot`; nothing is read or written until a
    /// method is called.
    ///
    /// - Parameter source: a URL (https://, ssh, file://) or an absolute local path to a repository.
    public init(source: String, mirrorsRoot: URL) {
        self.init(source: source, mirrorsRoot: mirrorsRoot, kind: .remote)
    }

    init(source: String, mirrorsRoot: URL, kind: Kind) {
        self.source = source
        self.kind = kind
        let key = Self.normalised(source)
        let hash = sha1Hex(of: key).prefix(12)
        // Snapshot mirrors get their own name so that snapshotting a repository's folder and
        // mirroring the same path as a source never share (and corrupt) one directory.
        let kindTag = kind == .snapshot ? "-snapshot" : ""
        mirrorPath = mirrorsRoot.standardizedFileURL
            .appendingPathComponent("\(Self.readableName(key))\(kindTag)-\(hash).git", isDirectory: true)
    }

    /// Finds `ref` in the source, fetching into the mirror only when needed, and returns its commit.
    ///
    /// A full or abbreviated commit id already in the mirror needs no network at all. A branch or
    /// tag is looked up in the source's advertised refs (`git_remote_connect` + `git_remote_ls`) and
    /// fetched (`git_remote_fetch`) only if its commit is missing locally. An unknown commit id is
    /// fetched for, then looked up again. A missing mirror is cloned into a temporary directory
    /// beside it and renamed into place when complete; a corrupt one is removed and cloned afresh.
    ///
    /// - Parameters:
    ///   - ref: a branch, tag, full or abbreviated commit id, or nil for the source's HEAD.
    ///   - progress: receives short human-readable lines ("cloning …", "fetching …").
    ///   - isCheckedOut: says whether the files of a tree (by its ID) are already written out
    ///     completely elsewhere, so that they will not be read from the mirror: the walk that
    ///     checks every file of the commit's tree is in the mirror is then skipped. By default no
    ///     tree is, and every file is checked.
    /// - Throws: `GitError` with `.unknownRef` (no such ref or commit), `.unreachableSource`
    ///   (cannot connect or read the source), `.corruptMirror` (still broken after re-creating),
    ///   `.io`, `.libgit2`; `CancellationError` when the task is cancelled.
    public func resolve(ref: String?, progress: @escaping @Sendable (String) -> Void,
                        isCheckedOut: @escaping @Sendable (_ treeID: String) -> Bool = { _ in false }) async throws -> ResolvedCommit {
        try await onGitThread { cancellation in
            try createMirrorsRoot()
            return try surfacingErrors(ref: ref) {
                try withMirrorLock(mirrorPath, cancellation: cancellation) {
                    removeStaleSiblings(of: mirrorPath)
                    return try resolveLocked(ref: ref, progress: progress, cancellation: cancellation, isCheckedOut: isCheckedOut)
                }
            }
        }
    }

    /// Initialises libgit2 now, on a thread of its own, and returns at once, so that the first
    /// `resolve` or `snapshot` need not wait for it: Debian's libgit2 (built with mbedTLS) parses
    /// the system's whole CA bundle when it initialises, 10-15 ms of CPU even for a source that is
    /// never reached over TLS. Call it as early as a run knows it will need a checkout.
    public static func prepareLibrary() {
        let thread = Thread { ensureLibGit2() }
        thread.name = "sutradhar-git-init"
        thread.start()
    }

    // MARK: - Resolving (called on the git thread, holding the mirror lock)

    func resolveLocked(ref: String?, progress: (String) -> Void, cancellation: CancellationFlag,
                       isCheckedOut: (String) -> Bool = { _ in false }) throws -> ResolvedCommit {
        return try repairingCorruption(ref: ref, progress: progress) {
            if kind == .snapshot {
                return try withOpenedMirror { repo in try resolveInSnapshot(repo, ref: ref, isCheckedOut: isCheckedOut) }
            }
            if FileManager.default.fileExists(atPath: mirrorPath.path) {
                return try withOpenedMirror { repo in
                    try validateMirror(repo)
                    return try resolve(ref, in: repo, isNew: false, progress: progress, cancellation: cancellation,
                                       isCheckedOut: isCheckedOut)
                }
            }
            return try cloneMirror(progress: progress, cancellation: cancellation) { repo in
                try resolve(ref, in: repo, isNew: true, progress: progress, cancellation: cancellation, isCheckedOut: isCheckedOut)
            }
        }
    }

    /// Runs `body`; if it finds the mirror corrupt, removes the mirror and runs `body` once more
    /// (which then clones afresh).
    func repairingCorruption<T>(ref: String?, progress: (String) -> Void, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let corrupt as CorruptMirror {
            guard kind == .remote else {
                throw GitError(code: .corruptMirror,
                               message: "The snapshot mirror \(mirrorPath.path) is unusable (\(corrupt.reason)); take the snapshot of \(source) again.",
                               source: source, ref: ref, cause: corrupt.reason)
            }
            progress("mirror corrupt, re-creating: \(corrupt.reason)")
            try removeTree(mirrorPath)
            do {
                return try body()
            } catch let again as CorruptMirror {
                throw GitError(code: .corruptMirror,
                               message: "The mirror of \(source) at \(mirrorPath.path) is still unusable after re-creating it (\(again.reason)); check the disk, remove the folder and retry.",
                               source: source, ref: ref, cause: again.reason)
            }
        }
    }

    /// Resolves `ref` in `repo`, fetching only when the commit is not already there.
    private func resolve(_ ref: String?, in repo: OpaquePointer, isNew: Bool, progress: (String) -> Void,
                         cancellation: CancellationFlag, isCheckedOut: (String) -> Bool) throws -> ResolvedCommit {
        if !isNew, let ref, looksLikeCommitID(ref),
           let commit = try localCommit(repo, id: ref, ref: ref, fetched: false, isCheckedOut: isCheckedOut) {
            progress("using cached commit \(commit.sha.prefix(12))")
            return commit
        }
        return try withConnectedRemote(repo, ref: ref, cancellation: cancellation) { remote, callbacks in
            let heads = try advertisedRefs(remote, ref: ref)
            if let target = Self.match(ref, in: heads) {
                var fetched = false
                if !(try hasObject(repo, target.id)) {
                    try fetch(remote, callbacks: callbacks, ref: ref, isNew: isNew, progress: progress, cancellation: cancellation)
                    fetched = true
                } else {
                    progress("using cached commit \(target.id.hex.prefix(12))")
                }
                return try commitPointedTo(by: target, in: repo, ref: ref, fetched: fetched, isCheckedOut: isCheckedOut)
            }
            guard let ref, looksLikeCommitID(ref) else { throw unknownRef(ref) }
            try fetch(remote, callbacks: callbacks, ref: ref, isNew: isNew, progress: progress, cancellation: cancellation)
            guard let commit = try localCommit(repo, id: ref, ref: ref, fetched: true, isCheckedOut: isCheckedOut) else { throw unknownRef(ref) }
            return commit
        }
    }

    /// Snapshot mirrors have nothing to fetch from: only their own refs and commits resolve.
    private func resolveInSnapshot(_ repo: OpaquePointer, ref: String?, isCheckedOut: (String) -> Bool) throws -> ResolvedCommit {
        let name = (ref == nil || ref == "HEAD") ? Self.snapshotRef : ref!
        if looksLikeCommitID(name), let commit = try localCommit(repo, id: name, ref: ref, fetched: false, isCheckedOut: isCheckedOut) {
            return commit
        }
        let refName = name.hasPrefix("refs/") ? name : "refs/heads/\(name)"
        var id = git_oid()
        guard git_reference_name_to_id(&id, repo, refName) == 0 else { throw unknownRef(ref) }
        return try commitPointedTo(by: (refName, id), in: repo, ref: ref, fetched: false, isCheckedOut: isCheckedOut)
    }

    /// The advertised ref `ref` names, in git's own order of precedence (`git rev-parse`).
    static func match(_ ref: String?, in heads: [(name: String, id: git_oid)]) -> (name: String, id: git_oid)? {
        guard let ref, ref != "HEAD" else { return heads.first { $0.name == "HEAD" } }
        let candidates = ref.hasPrefix("refs/")
            ? [ref]
            : ["refs/\(ref)", "refs/tags/\(ref)", "refs/heads/\(ref)", "refs/remotes/\(ref)", "refs/remotes/\(ref)/HEAD"]
        for candidate in candidates {
            if let head = heads.first(where: { $0.name == candidate }) { return head }
        }
        return nil
    }

    // MARK: - Errors with context

    /// Turns the module's internal failures into `GitError`s with context: nothing else leaves a
    /// public method. Most are translated where they happen; this catches the rest.
    func surfacingErrors<T>(ref: String?, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let failure as LibGit2Failure {
            throw GitError(code: .libgit2,
                           message: "libgit2 could not \(failure.operation) for \(source); retry, and if it keeps failing remove \(mirrorPath.path) so it is made afresh.",
                           source: source, ref: ref, cause: failure.detail)
        } catch let corrupt as CorruptMirror {
            throw GitError(code: .corruptMirror,
                           message: "The mirror \(mirrorPath.path) of \(source) is unusable (\(corrupt.reason)); remove it and retry.",
                           source: source, ref: ref, cause: corrupt.reason)
        }
    }

    func unknownRef(_ ref: String?) -> GitError {
        guard let ref else {
            return GitError(code: .unknownRef,
                            message: "The source \(source) has no HEAD commit (it is empty, or its HEAD names a missing branch); push a commit or name a branch.",
                            source: source, ref: nil)
        }
        if kind == .snapshot {
            return GitError(code: .unknownRef,
                            message: "'\(ref)' is not in the snapshot mirror of \(source); snapshot the folder again and use the commit it returns.",
                            source: source, ref: ref)
        }
        let what = looksLikeCommitID(ref)
            ? "No branch, tag or commit '\(ref)' in \(source) (the mirror was fetched and still lacks it); check the commit id, or push the branch that contains it."
            : "No branch or tag '\(ref)' in \(source); check the name, or push it to the source."
        return GitError(code: .unknownRef, message: what, source: source, ref: ref)
    }

    func unreachable(_ failure: LibGit2Failure, ref: String?) -> GitError {
        // libgit2 takes a local path that does not exist for a URL and complains about its
        // "protocol", which would send the reader looking in the wrong place.
        let missingPath = source.hasPrefix("/") && !FileManager.default.fileExists(atPath: source)
        return GitError(code: .unreachableSource,
                        message: missingPath
                            ? "The source \(source) does not exist; check the path."
                            : "Cannot read the source \(source); check that the path or URL is right, that the repository exists and is readable, and for ssh or https that credentials are available.",
                        source: source, ref: ref, cause: missingPath ? "no such file or directory" : failure.summary)
    }

    // MARK: - Naming

    static let snapshotRef = "refs/heads/snapshot"

    /// The folders the mirrors of `source` take under `mirrorsRoot`: the fetching mirror and the
    /// snapshot mirror of the same path (symbolic links resolved, as `snapshot` does), so that gc
    /// can tell which mirrors a pipeline's source still uses. Nothing is read or written.
    public static func mirrorPaths(of source: String, mirrorsRoot: URL) -> [URL] {
        var paths = [GitMirror(source: source, mirrorsRoot: mirrorsRoot).mirrorPath]
        if !source.contains("://"), let real = realpath(source, nil) {
            defer { free(real) }
            paths.append(GitMirror(source: String(cString: real), mirrorsRoot: mirrorsRoot, kind: .snapshot).mirrorPath)
        }
        paths.append(GitMirror(source: source, mirrorsRoot: mirrorsRoot, kind: .snapshot).mirrorPath)
        return paths
    }

    /// The form of `source` that is hashed: trailing slashes do not make a different mirror.
    static func normalised(_ source: String) -> String {
        var text = source
        while text.count > 1, text.hasSuffix("/") { text.removeLast() }
        return text
    }

    /// The last path component of `source` without `.git`, restricted to safe file-name characters.
    static func readableName(_ source: String) -> String {
        let last = source.split(whereSeparator: { $0 == "/" || $0 == ":" }).last.map(String.init) ?? ""
        let base = last.hasSuffix(".git") ? String(last.dropLast(4)) : last
        let safe = base.map { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) ? $0 : "_" }
        let trimmed = String(String(safe).drop { $0 == "." }.prefix(40))
        return trimmed.isEmpty ? "repo" : trimmed
    }

    func createMirrorsRoot() throws {
        let root = mirrorPath.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        } catch {
            throw GitError(code: .io, message: "Cannot create the mirrors folder \(root.path); check its permissions.",
                           source: source, cause: "\(error)")
        }
    }
}
