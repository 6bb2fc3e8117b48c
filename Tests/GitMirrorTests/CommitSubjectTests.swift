import Foundation
import GitMirror
import SutradharTesting
import Testing

/// `GitMirror.subjects(of:)`: commit subjects read from a mirror without fetching.
@Suite struct CommitSubjectTests {
    @Test func subjectsAreReadFromTheMirrorByFullOrShortIDAndUnknownOnesAreLeftOut() async throws {
        try await withSource { source, mirrors in
            let mirror = GitMirror(source: source.path, mirrorsRoot: mirrors)
            // No mirror yet: nothing is known, and nothing is cloned to find out.
            #expect(mirror.subjects(of: [source.mainSHA]).isEmpty)
            #expect(!FileManager.default.fileExists(atPath: mirror.mirrorPath.path))
            _ = try await mirror.resolve(ref: "feature", progress: { _ in })
            // A commit made after the fetch is not in the mirror: it is left out, not fetched for.
            let later = try source.repository.commit("later <b>x</b>", files: ["later.txt": "later\n"])
            let short = String(source.featureSHA.prefix(7))
            let subjects = mirror.subjects(of: [source.mainSHA, short, later, "not-a-sha", String(repeating: "0", count: 40)])
            #expect(subjects == [source.mainSHA: "first", short: "feature"])
            #expect(GitMirror.subjects(of: [source.mainSHA, later], source: source.path, mirrorsRoot: mirrors) == [source.mainSHA: "first"])
            _ = try await mirror.resolve(ref: later, progress: { _ in })
            #expect(mirror.subjects(of: [later]) == [later: "later <b>x</b>"])
        }
    }

    @Test func aHugeSubjectIsCutForDisplay() async throws {
        try await withSource { source, mirrors in
            let huge = String(repeating: "é", count: 50_000)  // 100 KB: one argument of git commit -m holds at most 128 KiB
            let sha = try source.repository.commit(huge, files: ["huge.txt": "huge\n"])
            let mirror = GitMirror(source: source.path, mirrorsRoot: mirrors)
            _ = try await mirror.resolve(ref: sha, progress: { _ in })
            let shown = try #require(mirror.subjects(of: [sha])[sha])
            #expect(shown.count == GitMirror.maximumSubjectCharacters)
            #expect(shown.hasSuffix("…") && shown.hasPrefix("éé"))
        }
    }

    @Test func subjectsAreFoundInTheSnapshotMirrorOfAFolder() async throws {
        try await withSource { source, mirrors in
            try source.repository.write("README.md", "changed\n")
            let snapshot = try await GitMirror.snapshot(folder: source.repository.directory, mirrorsRoot: mirrors)
            let subjects = GitMirror.subjects(of: [snapshot.commit.sha], source: source.path, mirrorsRoot: mirrors)
            #expect(subjects[snapshot.commit.sha] != nil)
        }
    }
}
