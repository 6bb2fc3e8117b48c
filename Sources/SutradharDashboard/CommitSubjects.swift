import Foundation
import Synchronization
import SutradharKit

/// The subjects of the commits runs built, read from the cache's git mirrors
/// (`GitMirror.subjects(of:source:mirrorsRoot:)`) and kept by (source, commit): a commit's
/// subject never changes, so an answer is good for as long as the server runs. Bounded: when
/// `capacity` subjects are kept, the oldest half is forgotten. A commit not (yet) in a mirror is
/// not remembered, so it is looked for again on the next page and shows once a run fetched it.
final class CommitSubjects: Sendable {
    /// How many subjects are kept at most (a few hundred bytes each).
    let capacity: Int
    private let mirrorsRoot: URL
    private let state = Mutex<(subjects: [Key: String], order: [Key])>(([:], []))

    private struct Key: Hashable {
        let source: String
        let sha: String
    }

    init(mirrorsRoot: URL, capacity: Int = 2048) {
        self.mirrorsRoot = mirrorsRoot
        self.capacity = max(2, capacity)
    }

    /// The subjects of these runs' commits, by commit id; runs whose commit is unknown or not in
    /// a mirror are left out.
    func subjects(for runs: [RunRecord]) -> [String: String] {
        var found: [String: String] = [:]
        var missing: [String: [String]] = [:]
        state.withLock { state in
            for run in runs where !run.commitSHA.isEmpty {
                if let subject = state.subjects[Key(source: run.source, sha: run.commitSHA)] {
                    found[run.commitSHA] = subject
                } else {
                    missing[run.source, default: []].append(run.commitSHA)
                }
            }
        }
        for (source, shas) in missing {
            // Read outside the lock: one slow disk must not hold up every other page.
            let answers = GitMirror.subjects(of: shas, source: source, mirrorsRoot: mirrorsRoot)
            found.merge(answers) { first, _ in first }
            remember(answers, source: source)
        }
        return found
    }

    /// The subject of one commit of `source`, or nil when it is not in a mirror.
    func subject(source: String, sha: String) -> String? {
        guard !sha.isEmpty else { return nil }
        if let known = state.withLock({ $0.subjects[Key(source: source, sha: sha)] }) { return known }
        let answers = GitMirror.subjects(of: [sha], source: source, mirrorsRoot: mirrorsRoot)
        remember(answers, source: source)
        return answers[sha]
    }

    /// How many subjects are kept now.
    var count: Int { state.withLock { $0.subjects.count } }

    private func remember(_ answers: [String: String], source: String) {
        guard !answers.isEmpty else { return }
        state.withLock { state in
            for (sha, subject) in answers {
                let key = Key(source: source, sha: sha)
                if state.subjects.updateValue(subject, forKey: key) == nil { state.order.append(key) }
            }
            if state.subjects.count > capacity {
                let dropped = state.order.prefix(state.order.count - capacity / 2)
                for key in dropped { state.subjects[key] = nil }
                state.order.removeFirst(dropped.count)
            }
        }
    }
}
