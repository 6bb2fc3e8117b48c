import CLibGit2
import Foundation

/// The libgit2 work behind `GitMirror`: opening, checking, cloning and fetching the bare mirror.
/// Everything here runs on the git thread while holding the mirror lock.
extension GitMirror {
    static let remoteName = "origin"

    /// Opens the existing mirror; a mirror libgit2 cannot open (HEAD or objects folder gone,
    /// garbage in HEAD) is reported as corrupt.
    func withOpenedMirror<T>(_ body: (OpaquePointer) throws -> T) throws -> T {
        var handle: OpaquePointer?
        do {
            try check(git_repository_open_bare(&handle, mirrorPath.path), "open \(mirrorPath.path)")
        } catch let failure as LibGit2Failure {
            throw CorruptMirror(reason: "cannot open it: \(failure.detail)")
        }
        guard let repo = handle else { throw CorruptMirror(reason: "cannot open it") }
        defer { git_repository_free(repo) }
        return try body(repo)
    }

    /// Cheap checks that catch the usual damage: the origin remote is gone (config deleted or
    /// truncated) or a ref points at an object the mirror lacks (objects deleted, pack index broken).
    /// Damage inside object contents shows up later, when the commit and its trees are read.
    func validateMirror(_ repo: OpaquePointer) throws {
        if kind == .remote {
            var remote: OpaquePointer?
            guard git_remote_lookup(&remote, repo, Self.remoteName) == 0 else {
                throw CorruptMirror(reason: "its '\(Self.remoteName)' remote is missing (\(lastErrorDetail()))")
            }
            git_remote_free(remote)
        }
        try withOdb(repo) { odb in
            try withGit("list refs", create: { git_reference_iterator_new($0, repo) }, free: git_reference_iterator_free) { iterator in
                while true {
                    var reference: OpaquePointer?
                    let result = git_reference_next(&reference, iterator)
                    if result == GIT_ITEROVER.rawValue { return }
                    guard result == 0, let reference else {
                        throw CorruptMirror(reason: "its refs cannot be read: \(lastErrorDetail())")
                    }
                    defer { git_reference_free(reference) }
                    guard let target = git_reference_target(reference) else { continue }  // symbolic
                    if git_odb_exists(odb, target) == 0 {
                        let name = String(cString: git_reference_name(reference))
                        throw CorruptMirror(reason: "\(name) points to \(target.pointee.hex), which is missing")
                    }
                }
            }
        }
    }

    /// Creates a new mirror in a temporary directory beside `mirrorPath`, runs `body` in it (which
    /// fetches), and renames it into place only once a fetch has completed, so a run killed mid-clone
    /// never leaves a half mirror under the real name.
    func cloneMirror<T>(progress: (String) -> Void, cancellation: CancellationFlag,
                        _ body: (OpaquePointer) throws -> T) throws -> T {
        let temporary = temporarySibling(of: mirrorPath)
        defer { try? FileManager.default.removeItem(at: temporary) }  // nothing left after the rename
        let outcome: Result<T, any Error> = try withGit(
            "create a mirror in \(temporary.path)",
            create: { git_repository_init($0, temporary.path, 1) },
            free: git_repository_free
        ) { repo in
            do {
                try withGit("add remote \(source)",
                            create: { git_remote_create_with_fetchspec($0, repo, Self.remoteName, source, "+refs/*:refs/*") },
                            free: git_remote_free) { _ in }
            } catch let failure as LibGit2Failure {
                throw unreachable(failure, ref: nil)
            }
            return Result { try body(repo) }
        }
        // Keep a completed fetch even when the ref then turned out unknown: the next run reuses it.
        if case .success = outcome {
            try renameIntoPlace(temporary, mirrorPath)
        } else if hasFetched(temporary) {
            try? renameIntoPlace(temporary, mirrorPath)
        }
        return try outcome.get()
    }

    /// Whether a fetch completed in the repository at `path` (it then has at least one ref).
    private func hasFetched(_ path: URL) -> Bool {
        (try? withBareRepository(at: path.path) { repo in
            var names = git_strarray()
            guard git_reference_list(&names, repo) == 0 else { return false }
            return !consume(&names).isEmpty
        }) ?? false
    }

    /// Connects to the source for fetching and hands `body` the connected remote and the callbacks
    /// to reuse for the fetch.
    func withConnectedRemote<T>(_ repo: OpaquePointer, ref: String?, cancellation: CancellationFlag,
                                _ body: (OpaquePointer, RemoteCallbackState) throws -> T) throws -> T {
        let state = RemoteCallbackState(cancellation: cancellation)
        return try withExtendedLifetime(state) {
            try withGit("look up the remote", create: { git_remote_lookup($0, repo, Self.remoteName) }, free: git_remote_free) { remote in
                var callbacks = state.callbacks()
                var proxy = git_proxy_options()
                git_proxy_options_init(&proxy, UInt32(GIT_PROXY_OPTIONS_VERSION))
                proxy.type = GIT_PROXY_AUTO
                do {
                    try check(git_remote_connect(remote, GIT_DIRECTION_FETCH, &callbacks, &proxy, nil), "connect to \(source)")
                } catch let failure as LibGit2Failure {
                    try cancellation.check()
                    throw unreachable(failure, ref: ref)
                }
                defer { git_remote_disconnect(remote) }
                return try body(remote, state)
            }
        }
    }

    /// The refs the source advertises, with annotated tags as their tag objects.
    func advertisedRefs(_ remote: OpaquePointer, ref: String?) throws -> [(name: String, id: git_oid)] {
        var heads: UnsafeMutablePointer<UnsafePointer<git_remote_head>?>?
        var count = 0
        do {
            try check(git_remote_ls(&heads, &count, remote), "list the refs of \(source)")
        } catch let failure as LibGit2Failure {
            throw unreachable(failure, ref: ref)
        }
        guard let heads else { return [] }
        return (0..<count).compactMap { index in
            heads[index].map { (name: String(cString: $0.pointee.name), id: $0.pointee.oid) }
        }
    }

    /// Fetches every ref of the source into the mirror (`+refs/*:refs/*`, pruning deleted ones).
    ///
    /// Into a new mirror of a repository on this machine, the source's object files are copied
    /// first (`LocalObjectSource`), after the refs were listed at connect time (git writes objects
    /// before the refs that name them): the fetch then finds every wanted object present, builds
    /// no pack and only writes the refs. Progress goes to `progress` at most every 250 ms.
    func fetch(_ remote: OpaquePointer, callbacks state: RemoteCallbackState, ref: String?, isNew: Bool,
               progress: (String) -> Void, cancellation: CancellationFlag) throws {
        progress(isNew ? "cloning \(source)" : "fetching \(source)")
        try withoutActuallyEscaping(progress) { progress in
            let reporter = ProgressReporter(emit: progress)
            state.reporter = reporter
            defer { state.reporter = nil }
            let local = LocalObjectSource(source: source)
            if isNew, let local {
                try copyObjects(of: local, into: remote, reporter: reporter, cancellation: cancellation)
            }
            try fetchReporting(remote, callbacks: state, ref: ref, isNew: isNew, local: isNew ? nil : local,
                               reporter: reporter, cancellation: cancellation)
        }
    }

    /// Copies the object files of a local source into the new mirror `remote` belongs to.
    private func copyObjects(of local: LocalObjectSource, into remote: OpaquePointer, reporter: ProgressReporter,
                             cancellation: CancellationFlag) throws {
        guard let owner = git_remote_owner(remote), let gitDirectory = git_repository_path(owner) else { return }
        let objects = URL(fileURLWithPath: String(cString: gitDirectory)).appendingPathComponent("objects").path
        reporter.finish("copying the objects of \(source) (a repository on this machine) instead of fetching them")
        let copied = try local.copy(into: objects, reporter: reporter, cancellation: cancellation)
        let linked = copied.linkedBytes > 0 ? ", \(ProgressReporter.mebibytes(copied.linkedBytes)) of it as hard links to read-only packs" : ""
        reporter.finish("copied \(copied.files) object files, \(ProgressReporter.mebibytes(copied.bytes))\(linked), in \(reporter.elapsed)")
    }

    /// Fetches with `git_remote_fetch`; from a repository on this machine (`local`), first packs
    /// what the mirror lacks itself (`packMissingObjects`), so the fetch only updates refs.
    private func fetchReporting(_ remote: OpaquePointer, callbacks state: RemoteCallbackState, ref: String?, isNew: Bool,
                                local: LocalObjectSource?, reporter: ProgressReporter, cancellation: CancellationFlag) throws {
        var options = git_fetch_options()
        git_fetch_options_init(&options, UInt32(GIT_FETCH_OPTIONS_VERSION))
        options.callbacks = state.callbacks()
        options.prune = GIT_FETCH_PRUNE
        options.update_fetchhead = 0
        options.proxy_opts.type = GIT_PROXY_AUTO
        do {
            if let local, let path = LocalObjectSource.localPath(of: source), let mirror = git_remote_owner(remote) {
                let packed = try local.packMissingObjects(from: path, into: mirror, callbacks: state)
                if packed > 0 {
                    reporter.finish("packed the \(packed) objects the mirror lacked, straight from \(source), in \(reporter.elapsed)")
                }
            }
            try check(git_remote_fetch(remote, nil, &options, "sutradhar fetch"), "fetch from \(source)")
            if let stats = git_remote_stats(remote)?.pointee, stats.received_objects > 0 {
                reporter.finish("fetched \(stats.received_objects) objects, \(ProgressReporter.mebibytes(stats.received_bytes)), in \(reporter.elapsed)")
            }
        } catch let failure as LibGit2Failure {
            try cancellation.check()
            let network = [GIT_ERROR_NET, GIT_ERROR_SSL, GIT_ERROR_SSH, GIT_ERROR_HTTP, GIT_ERROR_CALLBACK]
                .map { Int32(bitPattern: $0.rawValue) }
            if network.contains(failure.errorClass) { throw unreachable(failure, ref: ref) }
            // A fetch into an existing mirror that fails locally (bad pack, refs that cannot be
            // written) is treated as damage to the mirror: it is re-created once.
            if !isNew { throw CorruptMirror(reason: "fetching into it failed: \(failure.detail)") }
            throw GitError(code: .libgit2,
                           message: "Fetching from \(source) into a new mirror failed; check the source repository and the free space under \(mirrorPath.deletingLastPathComponent().path).",
                           source: source, ref: ref, cause: failure.summary)
        }
    }

    func hasObject(_ repo: OpaquePointer, _ id: git_oid) throws -> Bool {
        try withOdb(repo) { odb in
            var id = id
            return git_odb_exists(odb, &id) != 0
        }
    }

    /// The commit whose id is or starts with `id`, or nil when the mirror has no such object.
    ///
    /// Existence is asked of the object database's indexes first: an object that is listed there
    /// but cannot be read means damage, not absence (libgit2's prefix lookup reports both as "not
    /// found").
    func localCommit(_ repo: OpaquePointer, id: String, ref: String?, fetched: Bool,
                     isCheckedOut: (String) -> Bool = { _ in false }) throws -> ResolvedCommit? {
        var prefix = git_oid()
        guard git_oid_fromstrn(&prefix, id, id.utf8.count) == 0 else { return nil }
        var fullID = git_oid()
        let result = try withOdb(repo) { git_odb_exists_prefix(&fullID, $0, &prefix, id.utf8.count) }
        if result == GIT_ENOTFOUND.rawValue { return nil }
        if result == GIT_EAMBIGUOUS.rawValue {
            throw GitError(code: .unknownRef,
                           message: "'\(id)' matches more than one object in the mirror of \(source); give more digits of the commit id.",
                           source: source, ref: ref)
        }
        guard result == 0 else {
            throw CorruptMirror(reason: "looking up \(id) failed: \(lastErrorDetail())")
        }
        return try commitPointedTo(by: (id, fullID), in: repo, ref: ref, fetched: fetched, isCheckedOut: isCheckedOut)
    }

    /// The commit an advertised or local ref points to (peeling annotated tags).
    func commitPointedTo(by target: (name: String, id: git_oid), in repo: OpaquePointer,
                         ref: String?, fetched: Bool, isCheckedOut: (String) -> Bool = { _ in false }) throws -> ResolvedCommit {
        var id = target.id
        var object: OpaquePointer?
        guard git_object_lookup(&object, repo, &id, GIT_OBJECT_ANY) == 0, let object else {
            throw CorruptMirror(reason: "\(target.name) (\(target.id.hex)) cannot be read: \(lastErrorDetail())")
        }
        defer { git_object_free(object) }
        return try peelToCommit(object, in: repo, ref: ref, fetched: fetched, isCheckedOut: isCheckedOut)
    }

    /// Peels `object` to a commit and reads the commit's whole tree structure, so a mirror whose
    /// objects are damaged is caught here rather than halfway through a checkout. A tree that
    /// `isCheckedOut` says is already written out completely is not walked: no checkout will read
    /// its files from the mirror, so their damage could not matter to this run.
    private func peelToCommit(_ object: OpaquePointer, in repo: OpaquePointer, ref: String?, fetched: Bool,
                              isCheckedOut: (String) -> Bool) throws -> ResolvedCommit {
        var peeled: OpaquePointer?
        let result = git_object_peel(&peeled, object, GIT_OBJECT_COMMIT)
        if result == GIT_EPEEL.rawValue || result == GIT_EINVALIDSPEC.rawValue {
            throw GitError(code: .unknownRef,
                           message: "'\(ref ?? "HEAD")' in \(source) is not a commit (it names a \(objectTypeName(object))); name a branch, tag or commit.",
                           source: source, ref: ref)
        }
        guard result == 0, let commit = peeled else {
            throw CorruptMirror(reason: "\(git_object_id(object).pointee.hex) cannot be read: \(lastErrorDetail())")
        }
        defer { git_object_free(commit) }
        let sha = git_object_id(commit).pointee.hex
        guard let treeID = git_commit_tree_id(commit)?.pointee else {
            throw CorruptMirror(reason: "commit \(sha) has no tree")
        }
        if !isCheckedOut(treeID.hex) {
            try verifyTree(treeID, in: repo, commit: sha)
        }
        return ResolvedCommit(sha: sha, treeID: treeID.hex, fetched: fetched)
    }

    /// Reads every tree under `treeID` and checks that every blob it names exists.
    private func verifyTree(_ treeID: git_oid, in repo: OpaquePointer, commit: String) throws {
        var treeID = treeID
        var tree: OpaquePointer?
        guard git_tree_lookup(&tree, repo, &treeID) == 0, let tree else {
            throw CorruptMirror(reason: "the tree of commit \(commit) cannot be read: \(lastErrorDetail())")
        }
        defer { git_tree_free(tree) }
        try withOdb(repo) { odb in
            let walk = TreeWalkState(odb: odb)
            let result = withExtendedLifetime(walk) {
                git_tree_walk(tree, GIT_TREEWALK_PRE, { root, entry, payload in
                    guard let entry, let payload else { return 0 }
                    let walk = Unmanaged<TreeWalkState>.fromOpaque(payload).takeUnretainedValue()
                    guard git_tree_entry_type(entry) == GIT_OBJECT_BLOB,
                          git_odb_exists(walk.odb, git_tree_entry_id(entry)) == 0 else { return 0 }
                    walk.missing = (root.map { String(cString: $0) } ?? "") + String(cString: git_tree_entry_name(entry))
                    return -1
                }, Unmanaged.passUnretained(walk).toOpaque())
            }
            if let missing = walk.missing {
                throw CorruptMirror(reason: "file \(missing) of commit \(commit) is missing from it")
            }
            if result < 0 {
                throw CorruptMirror(reason: "the trees of commit \(commit) cannot be read: \(lastErrorDetail())")
            }
        }
    }

    func withOdb<T>(_ repo: OpaquePointer, _ body: (OpaquePointer) throws -> T) throws -> T {
        do {
            return try withGit("open the object database", create: { git_repository_odb($0, repo) }, free: git_odb_free, body)
        } catch let failure as LibGit2Failure {
            throw CorruptMirror(reason: "its object database cannot be opened: \(failure.detail)")
        }
    }
}

/// libgit2's message for the last failure on this thread (use right after a failed call).
func lastErrorDetail() -> String {
    guard let last = git_error_last(), let text = last.pointee.message else { return "no detail from libgit2" }
    return String(cString: text).trimmingCharacters(in: .whitespacesAndNewlines)
}

private func objectTypeName(_ object: OpaquePointer) -> String {
    git_object_type2string(git_object_type(object)).map { String(cString: $0) } ?? "non-commit object"
}

private final class TreeWalkState {
    let odb: OpaquePointer
    var missing: String?
    init(odb: OpaquePointer) { self.odb = odb }
}

/// What the remote callbacks need, passed to libgit2 as the callbacks' payload.
final class RemoteCallbackState {
    let cancellation: CancellationFlag
    /// How often libgit2 asked for a credential: it asks again after a rejected one, and answering
    /// the same way forever would loop.
    var credentialRequests = 0

    /// Where transfer progress goes while a fetch runs (set by `fetch`, nil otherwise).
    var reporter: ProgressReporter?

    init(cancellation: CancellationFlag) { self.cancellation = cancellation }

    /// Callbacks whose payload is this object; the caller keeps it alive while libgit2 may call them.
    func callbacks() -> git_remote_callbacks {
        var callbacks = git_remote_callbacks()
        git_remote_init_callbacks(&callbacks, UInt32(GIT_REMOTE_CALLBACKS_VERSION))
        callbacks.payload = Unmanaged.passUnretained(self).toOpaque()
        callbacks.credentials = { out, _, username, allowedTypes, payload in
            guard let payload else { return GIT_PASSTHROUGH.rawValue }
            let state = Unmanaged<RemoteCallbackState>.fromOpaque(payload).takeUnretainedValue()
            state.credentialRequests += 1
            // One try with the ssh agent, when there is one; otherwise (and on any second request)
            // no credential, so libgit2 fails with "authentication required" instead of retrying.
            if state.credentialRequests == 1, let username,
               allowedTypes & GIT_CREDENTIAL_SSH_KEY.rawValue != 0,
               ProcessInfo.processInfo.environment["SSH_AUTH_SOCK"] != nil {
                return git_credential_ssh_key_from_agent(out, username)
            }
            return GIT_PASSTHROUGH.rawValue
        }
        // Returning non-zero from a progress callback makes libgit2 stop the transfer.
        callbacks.transfer_progress = { stats, payload in
            guard let payload else { return 0 }
            let state = Unmanaged<RemoteCallbackState>.fromOpaque(payload).takeUnretainedValue()
            if let stats, let reporter = state.reporter { reporter.transfer(stats.pointee) }
            return state.cancellation.isCancelled ? -1 : 0
        }
        callbacks.sideband_progress = { text, length, payload in
            guard let payload else { return 0 }
            let state = Unmanaged<RemoteCallbackState>.fromOpaque(payload).takeUnretainedValue()
            if let text, length > 0, let reporter = state.reporter {
                reporter.sideband(text, length: Int(length))
            }
            return state.cancellation.isCancelled ? -1 : 0
        }
        return callbacks
    }
}
