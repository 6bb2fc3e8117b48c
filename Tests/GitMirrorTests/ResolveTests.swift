import Foundation
import GitMirror
import SutradharTesting
import Testing

@Suite struct ResolveTests {
    @Test func resolvesBranchesTagsAndHeadFromOneClone() async throws {
        try await withSource { source, mirrors in
            let mirror = GitMirror(source: source.path, mirrorsRoot: mirrors)
            let progress = ProgressRecorder()

            let main = try await mirror.resolve(ref: "main", progress: progress.callback)
            #expect(main == ResolvedCommit(sha: source.mainSHA, treeID: try source.tree(of: "main"), fetched: true))
            // A repository on this machine: its object files are copied rather than fetched.
            #expect(progress.all.prefix(2) == ["cloning \(source.path)",
                                               "copying the objects of \(source.path) (a repository on this machine) instead of fetching them"])
            #expect(progress.all.dropFirst(2).map { $0.prefix(21) } == ["copied 14 object file"])

            // The clone brought every ref, so none of these needs the network beyond listing refs.
            let feature = try await mirror.resolve(ref: "feature", progress: progress.callback)
            #expect(feature == ResolvedCommit(sha: source.featureSHA, treeID: try source.tree(of: "feature"), fetched: false))
            #expect(try await mirror.resolve(ref: "v1", progress: { _ in }).sha == source.mainSHA)
            #expect(try await mirror.resolve(ref: "v2", progress: { _ in }).sha == source.featureSHA)  // annotated, peeled
            #expect(try await mirror.resolve(ref: "refs/heads/feature", progress: { _ in }).sha == source.featureSHA)
            #expect(try await mirror.resolve(ref: nil, progress: { _ in }).sha == source.mainSHA)

            try source.repository.switchTo("feature")  // the remote HEAD follows
            #expect(try await mirror.resolve(ref: nil, progress: { _ in }).sha == source.featureSHA)
        }
    }

    @Test func presentCommitIDsResolveWithoutFetching() async throws {
        try await withSource { source, mirrors in
            let mirror = GitMirror(source: source.path, mirrorsRoot: mirrors)
            _ = try await mirror.resolve(ref: "main", progress: { _ in })

            let progress = ProgressRecorder()
            let full = try await mirror.resolve(ref: source.featureSHA, progress: progress.callback)
            #expect(full.sha == source.featureSHA)
            #expect(full.fetched == false)
            let abbreviated = try await mirror.resolve(ref: String(source.mainSHA.prefix(7)), progress: progress.callback)
            #expect(abbreviated.sha == source.mainSHA)
            #expect(abbreviated.fetched == false)
            #expect(progress.all.allSatisfy { $0.hasPrefix("using cached commit") })
            #expect(progress.all.count == 2)

            // Not even the source is needed for a commit the mirror already has.
            try FileManager.default.removeItem(at: source.repository.directory)
            #expect(try await mirror.resolve(ref: source.mainSHA, progress: { _ in }).sha == source.mainSHA)
        }
    }

    @Test func newCommitIsFetchedIntoTheExistingMirror() async throws {
        try await withSource { source, mirrors in
            let mirror = GitMirror(source: source.path, mirrorsRoot: mirrors)
            _ = try await mirror.resolve(ref: "main", progress: { _ in })
            let marker = mirror.mirrorPath.appendingPathComponent("sutradhar-test-marker")
            try Data("kept".utf8).write(to: marker)
            let inodeBefore = try inode(mirror.mirrorPath)

            let second = try source.repository.commit("second", files: ["second.txt": "2\n"])
            let progress = ProgressRecorder()
            let resolved = try await mirror.resolve(ref: "main", progress: progress.callback)
            #expect(resolved.sha == second)
            #expect(resolved.fetched)
            #expect(progress.all.first == "fetching \(source.path)")
            // The commit, its root tree and second.txt, packed straight from the source's folder.
            #expect(progress.all.dropFirst().map { $0.prefix(53) } == ["packed the 3 objects the mirror lacked, straight from"])
            #expect(FileManager.default.fileExists(atPath: marker.path))
            #expect(try inode(mirror.mirrorPath) == inodeBefore)

            #expect(try await mirror.resolve(ref: "main", progress: { _ in }).fetched == false)
        }
    }

    @Test func missingCommitIDIsFetchedForThenFound() async throws {
        try await withSource { source, mirrors in
            let mirror = GitMirror(source: source.path, mirrorsRoot: mirrors)
            _ = try await mirror.resolve(ref: "main", progress: { _ in })
            try source.repository.branch("later")
            try source.repository.switchTo("later")
            let later = try source.repository.commit("later", files: ["later.txt": "later\n"])

            let progress = ProgressRecorder()
            let resolved = try await mirror.resolve(ref: String(later.prefix(10)), progress: progress.callback)
            #expect(resolved.sha == later)
            #expect(resolved.fetched)
            #expect(progress.contains("fetching"))
        }
    }

    @Test func unknownBranchFailsNamingRefAndSource() async throws {
        try await withSource { source, mirrors in
            let mirror = GitMirror(source: source.path, mirrorsRoot: mirrors)
            let error = await #expect(throws: GitError.self) {
                try await mirror.resolve(ref: "no-such-branch", progress: { _ in })
            }
            #expect(error?.code == .unknownRef)
            #expect(error?.ref == "no-such-branch")
            #expect(error?.message.contains("no-such-branch") == true)
            #expect(error?.message.contains(source.path) == true)
            #expect(error?.message.contains("check the name") == true)
        }
    }

    @Test func unknownCommitFailsNamingRefAndSource() async throws {
        try await withSource { source, mirrors in
            let mirror = GitMirror(source: source.path, mirrorsRoot: mirrors)
            _ = try await mirror.resolve(ref: "main", progress: { _ in })
            let missing = "0123456789abcdef0123456789abcdef01234567"
            let error = await #expect(throws: GitError.self) {
                try await mirror.resolve(ref: missing, progress: { _ in })
            }
            #expect(error?.code == .unknownRef)
            #expect(error?.message.contains(missing) == true)
            #expect(error?.message.contains(source.path) == true)
        }
    }

    @Test(arguments: ["path", "file-url", "unknown-scheme"])
    func unreachableSourceFailsNamingItAndLeavesNoMirror(kind: String) async throws {
        try await GitFixtures.withTemporaryDirectory { root in
            let missing = root.appendingPathComponent("no-such-repository").path
            let source = switch kind {
            case "path": missing
            case "file-url": "file://\(missing)"
            default: "nosuchscheme://example.invalid/repository.git"
            }
            let mirrors = root.appendingPathComponent("mirrors")
            let mirror = GitMirror(source: source, mirrorsRoot: mirrors)
            let error = await #expect(throws: GitError.self) {
                try await mirror.resolve(ref: "main", progress: { _ in })
            }
            #expect(error?.code == .unreachableSource)
            #expect(error?.source == source)
            #expect(error?.message.contains(source) == true)
            #expect(!FileManager.default.fileExists(atPath: mirror.mirrorPath.path))
            // Only the lock file remains: no half-made mirror or temporary directory.
            let left = try FileManager.default.contentsOfDirectory(atPath: mirrors.path)
            #expect(left == [mirror.mirrorPath.lastPathComponent + ".lock"])
        }
    }

    @Test func fileURLAndPlainPathBothWork() async throws {
        try await withSource { source, mirrors in
            let byPath = GitMirror(source: source.path, mirrorsRoot: mirrors)
            let byURL = GitMirror(source: source.repository.fileURL, mirrorsRoot: mirrors)
            #expect(byPath.mirrorPath != byURL.mirrorPath)
            let viaPath = try await byPath.resolve(ref: "feature", progress: { _ in })
            let viaURL = try await byURL.resolve(ref: "feature", progress: { _ in })
            #expect(viaPath.sha == source.featureSHA)
            #expect(viaURL.sha == source.featureSHA)
        }
    }

    @Test func mirrorPathIsReadableAndStable() {
        let root = URL(fileURLWithPath: "/var/cache/mirrors")
        let mirror = GitMirror(source: "https://example.com/org/hello-server.git", mirrorsRoot: root)
        let name = mirror.mirrorPath.lastPathComponent
        #expect(mirror.mirrorPath.deletingLastPathComponent().path == root.path)
        #expect(name.hasPrefix("hello-server-"))
        #expect(name.hasSuffix(".git"))
        #expect(name.count == "hello-server-".count + 12 + ".git".count)
        #expect(GitMirror(source: "https://example.com/org/hello-server.git/", mirrorsRoot: root).mirrorPath == mirror.mirrorPath)
        #expect(GitMirror(source: "https://example.com/other/hello-server.git", mirrorsRoot: root).mirrorPath != mirror.mirrorPath)
    }

    @Test func leftoverTemporaryCloneIsRemovedNotTrusted() async throws {
        try await withSource { source, mirrors in
            let mirror = GitMirror(source: source.path, mirrorsRoot: mirrors)
            // What a kill -9 during a clone leaves behind: a half-written directory beside the mirror.
            let leftover = mirrors.appendingPathComponent(".\(mirror.mirrorPath.lastPathComponent).tmp-killed")
            try FileManager.default.createDirectory(at: leftover.appendingPathComponent("objects"), withIntermediateDirectories: true)
            try Data("ref: refs/heads/main\n".utf8).write(to: leftover.appendingPathComponent("HEAD"))

            let resolved = try await mirror.resolve(ref: "main", progress: { _ in })
            #expect(resolved.sha == source.mainSHA)
            #expect(resolved.fetched)
            #expect(!FileManager.default.fileExists(atPath: leftover.path))
        }
    }

    @Test func emptySourceHasNoHead() async throws {
        try await GitFixtures.withTemporaryDirectory { root in
            let empty = try GitFixtureRepository(at: root.appendingPathComponent("empty"))
            let mirror = GitMirror(source: empty.directory.path, mirrorsRoot: root.appendingPathComponent("mirrors"))
            let error = await #expect(throws: GitError.self) {
                try await mirror.resolve(ref: nil, progress: { _ in })
            }
            #expect(error?.code == .unknownRef)
            #expect(error?.message.contains(empty.directory.path) == true)
        }
    }
}
