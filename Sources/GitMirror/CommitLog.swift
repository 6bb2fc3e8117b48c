import CLibGit2
import Foundation

/// One commit as `GitMirror.commits(from:to:limit:)` lists it.
public struct CommitSummary: Sendable, Equatable {
    /// The commit id, 40 hexadecimal digits.
    public let sha: String
    /// The first paragraph of the message, on one line (`git log --format=%s`).
    public let subject: String
    /// The author's name.
    public let author: String
    /// When it was committed (the committer time).
    public let time: Date

    /// Creates a value; normally you get one from `commits(from:to:limit:)`.
    public init(sha: String, subject: String, author: String, time: Date) {
        self.sha = sha
        self.subject = subject
        self.author = author
        self.time = time
    }
}

/// The commits of a range, newest first, as `git log FROM..TO` shows them.
public struct CommitLog: Sendable, Equatable {
    /// At most `limit` commits, newest first.
    public let commits: [CommitSummary]
    /// How many commits the range holds (more than `commits.count` when the limit cut it).
    public let total: Int

    /// Creates a value; normally you get one from `commits(from:to:limit:)`.
    public init(commits: [CommitSummary], total: Int) {
        self.commits = commits
        self.total = total
    }
}

extension GitMirror {
    /// The commits reachable from `to` but not from `from` (`git log from..to`), newest first,
    /// read from the mirror only: nothing is fetched, so resolve `to` first.
    ///
    /// Walks with `git_revwalk_push` / `git_revwalk_hide` (topological, then time order) and reads
    /// each commit's summary, author and time (`git_commit_summary`, `git_commit_author`,
    /// `git_commit_time`) for the first `limit`; the rest are only counted. After a force push,
    /// where `from` is no longer an ancestor of `to`, this is what `to` has that `from` had not.
    ///
    /// - Parameters:
    ///   - from: a commit id, branch or tag; nil lists everything reachable from `to`.
    ///   - to: a commit id, branch or tag.
    ///   - limit: how many commits to describe (all are counted).
    /// - Throws: `GitError` `.unknownRef` when the mirror does not exist yet or lacks `from` or
    ///   `to`, `.corruptMirror` when it cannot be read, `.libgit2` when the walk fails;
    ///   `CancellationError` when the task is cancelled.
    public func commits(from: String?, to: String, limit: Int = 50) async throws -> CommitLog {
        guard FileManager.default.fileExists(atPath: mirrorPath.path) else {
            throw GitError(code: .unknownRef,
                           message: "There is no mirror of \(source) at \(mirrorPath.path) yet, so its commits cannot be listed; run the pipeline once first.",
                           source: source, ref: to)
        }
        return try await onGitThread { cancellation in
            try surfacingErrors(ref: to) {
                try withMirrorLock(mirrorPath, cancellation: cancellation) {
                    try withOpenedMirror { repo in
                        try walk(repo, from: from, to: to, limit: max(0, limit), cancellation: cancellation)
                    }
                }
            }
        }
    }

    private func walk(_ repo: OpaquePointer, from: String?, to: String, limit: Int,
                      cancellation: CancellationFlag) throws -> CommitLog {
        var end = try commitID(to, in: repo)
        var start = try from.map { try commitID($0, in: repo) }
        return try withGit("start a revision walk", create: { git_revwalk_new($0, repo) }, free: git_revwalk_free) { walk in
            try check(git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL.rawValue | GIT_SORT_TIME.rawValue), "sort the revision walk")
            try check(git_revwalk_push(walk, &end), "walk from \(to)")
            if start != nil {
                try check(git_revwalk_hide(walk, &start!), "hide the history of \(from ?? "")")
            }
            var commits: [CommitSummary] = []
            var total = 0
            var id = git_oid()
            while true {
                let result = git_revwalk_next(&id, walk)
                if result == GIT_ITEROVER.rawValue { break }
                try check(result, "walk the history of \(to)")
                total += 1
                // Counting is cheap, but a walk over a long history should still stop on Ctrl-C.
                if total % 1024 == 0 { try cancellation.check() }
                guard commits.count < limit else { continue }
                commits.append(try withGit("read commit \(id.hex)", create: { git_commit_lookup($0, repo, &id) },
                                           free: git_commit_free) { commit in
                    let author = git_commit_author(commit).flatMap { $0.pointee.name.map { String(cString: $0) } } ?? ""
                    let subject = git_commit_summary(commit).map { String(cString: $0) } ?? ""
                    return CommitSummary(sha: id.hex, subject: subject, author: author,
                                         time: Date(timeIntervalSince1970: TimeInterval(git_commit_time(commit))))
                })
            }
            return CommitLog(commits: commits, total: total)
        }
    }

    /// The commit `spec` (an id, a prefix of one, a branch or a tag) names in the mirror.
    private func commitID(_ spec: String, in repo: OpaquePointer) throws -> git_oid {
        var object: OpaquePointer?
        guard git_revparse_single(&object, repo, spec) == 0, let object else {
            throw GitError(code: .unknownRef,
                           message: "'\(spec)' is not in the mirror of \(source); fetch it first (a run of the pipeline does).",
                           source: source, ref: spec, cause: lastErrorDetail())
        }
        defer { git_object_free(object) }
        var commit: OpaquePointer?
        guard git_object_peel(&commit, object, GIT_OBJECT_COMMIT) == 0, let commit else {
            throw GitError(code: .unknownRef, message: "'\(spec)' in the mirror of \(source) is not a commit; name a commit.",
                           source: source, ref: spec, cause: lastErrorDetail())
        }
        defer { git_object_free(commit) }
        return git_object_id(commit).pointee
    }
}

extension GitMirror {
    /// The subjects (`git log --format=%s`) of the commits `shas` names that are in this mirror,
    /// by the id as given; ids the mirror lacks (or a mirror that does not exist yet) are left
    /// out, never an error: this is for showing, and an unknown commit just shows its id.
    ///
    /// Reads the objects only: nothing is fetched, and the mirror's lock is not taken. Git
    /// objects are immutable and a fetch only adds new packs beside the old ones (libgit2 renames
    /// a pack into place once it is complete), so a read is safe while another process fetches,
    /// and a page never waits behind a slow fetch. It runs on the caller's thread: a few object
    /// reads from local disk are not worth a thread hop (callers should cache the answers).
    ///
    /// - Parameter shas: full or abbreviated (at least 4 hexadecimal digits) commit ids;
    ///   anything else is left out.
    public func subjects(of shas: [String]) -> [String: String] {
        let wanted = Set(shas.filter(looksLikeCommitID))
        guard !wanted.isEmpty, FileManager.default.fileExists(atPath: mirrorPath.path) else { return [:] }
        ensureLibGit2()
        return (try? withOpenedMirror { repo in
            var found: [String: String] = [:]
            for sha in wanted {
                var id = git_oid()
                guard git_oid_fromstrn(&id, sha, sha.utf8.count) == 0 else { continue }
                var commit: OpaquePointer?
                guard git_commit_lookup_prefix(&commit, repo, &id, sha.utf8.count) == 0, let commit else { continue }
                defer { git_commit_free(commit) }
                found[sha] = git_commit_summary(commit).map { Self.shown(subject: $0) } ?? ""
            }
            return found
        }) ?? [:]
    }

    /// The longest subject shown, in characters: a commit (hostile or careless) may carry a
    /// 20 MB first line, and every page listing it would carry it too.
    public static let maximumSubjectCharacters = 200

    /// A subject as shown: at most `maximumSubjectCharacters`, ending in `…` when cut; never
    /// more than 4 bytes a character are read from the C string.
    static func shown(subject: UnsafePointer<CChar>) -> String {
        let limit = maximumSubjectCharacters * 4
        let length = strnlen(subject, limit + 1)
        let text = subject.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: min(length, limit)), as: UTF8.self)
        }
        return text.count > maximumSubjectCharacters || length > limit ? String(text.prefix(maximumSubjectCharacters - 1)) + "…" : text
    }

    /// The subjects of `shas` from whichever mirror of `source` under `mirrorsRoot` holds them
    /// (the fetching mirror or the snapshot mirror, see `mirrorPaths(of:mirrorsRoot:)`), as
    /// `subjects(of:)` reads them: no fetch, no lock, unknown ids left out.
    public static func subjects(of shas: [String], source: String, mirrorsRoot: URL) -> [String: String] {
        var found: [String: String] = [:]
        var remaining = shas
        for kind in [Kind.remote, .snapshot] where !remaining.isEmpty {
            var candidates = [source]
            // The snapshot mirror is named after the folder's real path (see `mirrorPaths`).
            if kind == .snapshot, !source.contains("://"), let real = realpath(source, nil) {
                candidates.insert(String(cString: real), at: 0)
                free(real)
            }
            for candidate in candidates where !remaining.isEmpty {
                let answers = GitMirror(source: candidate, mirrorsRoot: mirrorsRoot, kind: kind).subjects(of: remaining)
                found.merge(answers) { first, _ in first }
                remaining.removeAll { answers[$0] != nil }
            }
        }
        return found
    }
}
