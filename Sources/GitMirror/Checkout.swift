import CLibGit2
import Foundation

extension GitMirror {
    /// Writes exactly `commit`'s tree into `directory`, which must not exist yet.
    ///
    /// Same as `checkout(commit:into:progress:)` without progress lines.
    public func checkout(commit: String, into directory: URL) async throws {
        try await checkout(commit: commit, into: directory, progress: { _ in })
    }

    /// Writes exactly `commit`'s tree into `directory`, which must not exist yet.
    ///
    /// The files are written with `git_checkout_index` (FORCE, filters disabled) from an in-memory
    /// index of the commit's tree into a temporary directory beside `directory`, which is renamed
    /// into place when complete. Nothing from the checked-out repository runs: libgit2 runs no
    /// hooks, `disable_filters` skips every filter (CRLF, ident, `.gitattributes` smudge), and
    /// gitlinks (submodules) are skipped.
    /// Checkouts of one mirror are serialised across threads and processes by the mirror's lock.
    /// A mirror found corrupt is re-created by a fresh clone (saying so through `progress`).
    ///
    /// - Parameters:
    ///   - commit: a full or abbreviated commit id already in the mirror (from `resolve`).
    ///   - directory: where the files go; its parent is created if needed.
    /// - Throws: `GitError` with `.checkoutFailed` (directory exists, write failed), `.unknownRef`
    ///   (commit not in the mirror), `.corruptMirror`, `.io`; `CancellationError` when cancelled.
    public func checkout(commit: String, into directory: URL,
                         progress: @escaping @Sendable (String) -> Void) async throws {
        let target = directory.standardizedFileURL
        try await onGitThread { cancellation in
            guard !FileManager.default.fileExists(atPath: target.path) else {
                throw GitError(code: .checkoutFailed,
                               message: "Cannot check out \(commit) of \(source) into \(target.path): it already exists; remove it or choose a new directory.",
                               source: source, ref: commit)
            }
            do {
                try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            } catch {
                throw GitError(code: .io, message: "Cannot create \(target.deletingLastPathComponent().path) for a checkout; check its permissions.",
                               source: source, ref: commit, cause: "\(error)")
            }
            try createMirrorsRoot()
            try surfacingErrors(ref: commit) {
                try withMirrorLock(mirrorPath, cancellation: cancellation) {
                    removeStaleSiblings(of: target)
                    try repairingCorruption(ref: commit, progress: progress) {
                        if kind == .remote, !FileManager.default.fileExists(atPath: mirrorPath.path) {
                            _ = try resolveLocked(ref: commit, progress: progress, cancellation: cancellation)
                        }
                        try withOpenedMirror { repo in
                            try validateMirror(repo)
                            try writeTree(of: commit, in: repo, to: target)
                        }
                    }
                }
            }
        }
    }

    /// Checks `commit`'s tree out into a temporary sibling of `target`, then renames it into place.
    private func writeTree(of commit: String, in repo: OpaquePointer, to target: URL) throws {
        guard let resolved = try localCommit(repo, id: commit, ref: commit, fetched: false),
              var treeID = git_oid(hex: resolved.treeID) else {
            throw GitError(code: .unknownRef,
                           message: "Commit \(commit) is not in the mirror of \(source); resolve it first (resolve fetches it), or check the id.",
                           source: source, ref: commit)
        }
        var tree: OpaquePointer?
        guard git_tree_lookup(&tree, repo, &treeID) == 0, let tree else {
            throw CorruptMirror(reason: "the tree of \(resolved.sha) cannot be read: \(lastErrorDetail())")
        }
        defer { git_tree_free(tree) }

        let temporary = temporarySibling(of: target)
        defer { try? FileManager.default.removeItem(at: temporary) }  // nothing left after the rename
        do {
            try FileManager.default.createDirectory(at: temporary, withIntermediateDirectories: false)
        } catch {
            throw GitError(code: .io, message: "Cannot create \(temporary.path) for a checkout; check the permissions of its folder.",
                           source: source, ref: commit, cause: "\(error)")
        }
        try withGit("create an index in memory", create: git_index_new, free: git_index_free) { files in
            try withGit("create an empty index", create: git_index_new, free: git_index_free) { emptyIndex in
                try checkout(tree, files: files, baseline: emptyIndex, in: repo, into: temporary, commit: resolved.sha, target: target)
            }
        }
        do {
            try renameIntoPlace(temporary, target)
        } catch let error as GitError {
            throw GitError(code: .checkoutFailed,
                           message: "Checked out \(resolved.sha) of \(source) but cannot move it to \(target.path) (did something else create it meanwhile?); remove it and retry.",
                           source: source, ref: commit, cause: error.cause)
        }
    }

    /// Writes `tree` into `directory` through an in-memory index that lists the tree's files minus
    /// its gitlinks.
    ///
    /// Why an in-memory index rather than `git_checkout_tree`: checking a gitlink out asks libgit2's
    /// submodule code, which fails on a bare repository ("cannot get submodules without a working
    /// tree"), and dropping gitlinks from the list skips them. DONT_UPDATE_INDEX (implying
    /// DONT_WRITE_INDEX) keeps libgit2 from recording the files in the bare mirror's own index
    /// file, which the mirror does not need. The empty baseline makes every file "added", so all of
    /// them are written whatever the mirror's HEAD is. The mirror lock still serialises checkouts,
    /// as libgit2 reads the mirror's index and config while it works.
    private func checkout(_ tree: OpaquePointer, files: OpaquePointer, baseline: OpaquePointer, in repo: OpaquePointer,
                          into directory: URL, commit sha: String, target: URL) throws {
        do {
            try check(git_index_read_tree(files, tree), "list the files of \(sha)")
        } catch let failure as LibGit2Failure {
            throw CorruptMirror(reason: "the trees of \(sha) cannot be read: \(failure.detail)")
        }
        let gitlinks = (0..<git_index_entrycount(files)).compactMap { position -> String? in
            guard let entry = git_index_get_byindex(files, position), entry.pointee.mode == GIT_FILEMODE_COMMIT.rawValue else { return nil }
            return String(cString: entry.pointee.path)
        }
        for path in gitlinks {
            try check(git_index_remove(files, path, 0), "skip the gitlink \(path)")
        }
        var options = git_checkout_options()
        git_checkout_options_init(&options, UInt32(GIT_CHECKOUT_OPTIONS_VERSION))
        options.checkout_strategy = GIT_CHECKOUT_FORCE.rawValue | GIT_CHECKOUT_DONT_UPDATE_INDEX.rawValue
        options.disable_filters = 1
        options.baseline_index = baseline
        let result = directory.path.withCString { path in
            options.target_directory = path
            return git_checkout_index(repo, files, &options)
        }
        guard result < 0 else { return }
        let errorClass = git_error_last()?.pointee.klass ?? 0
        let detail = lastErrorDetail()
        let damage = [GIT_ERROR_ODB, GIT_ERROR_ZLIB, GIT_ERROR_OBJECT, GIT_ERROR_INDEXER].map { Int32(bitPattern: $0.rawValue) }
        if damage.contains(errorClass) {
            throw CorruptMirror(reason: "checking out \(sha) failed: \(detail)")
        }
        throw GitError(code: .checkoutFailed,
                       message: "Cannot write commit \(sha) of \(source) into \(target.path); check the free space and permissions there.",
                       source: source, ref: sha, cause: detail)
    }
}
