import Foundation
@testable import GitMirror
import Synchronization
import SutradharTesting
import Testing

/// A source on this machine: the first mirror copies its object files, later fetches pack only
/// what the mirror lacks, and progress is reported without flooding the log.
@Suite struct LocalSourceTests {
    /// `refname objectname` of every branch and tag, sorted.
    private func refs(in directory: URL) throws -> [String] {
        try GitFixtures.git(["for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/tags"], in: directory)
            .split(separator: "\n").map(String.init).sorted()
    }

    private func packs(in mirror: GitMirror) throws -> [URL] {
        let folder = mirror.mirrorPath.appendingPathComponent("objects/pack")
        return try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { $0.hasSuffix(".pack") }.map { folder.appendingPathComponent($0) }
    }

    private func linkCount(_ file: URL) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: file.path)[.referenceCount] as? NSNumber)?.intValue ?? 0
    }

    /// Packs the fixture's history (so the source has a pack as well as loose objects) and adds
    /// two loose commits and an annotated tag on top.
    private func packAndAddLooseCommits(to source: SourceFixture) throws -> String {
        try source.repository.git("gc", "--quiet")
        try source.repository.commit("loose one", files: ["loose/one.txt": "one\n"])
        let head = try source.repository.commit("loose two", files: ["loose/two.txt": "two\n"])
        try source.repository.tag("v3", annotated: true)
        return head
    }

    @Test func firstMirrorHasEveryRefAndCommitAndStillWorksOnceTheSourceIsGone() async throws {
        try await withSource { source, mirrors in
            let head = try packAndAddLooseCommits(to: source)
            let mirror = GitMirror(source: source.path, mirrorsRoot: mirrors)
            let progress = ProgressRecorder()
            let resolved = try await mirror.resolve(ref: "main", progress: progress.callback)
            #expect(resolved.sha == head)
            #expect(resolved.fetched)
            #expect(progress.contains("copying the objects of \(source.path)"))
            #expect(progress.contains("copied "))

            #expect(try refs(in: mirror.mirrorPath) == refs(in: source.repository.directory))
            let allCommits = ["rev-list", "--all", "--objects"]
            #expect(try GitFixtures.git(allCommits, in: mirror.mirrorPath) == source.repository.git("rev-list", "--all", "--objects"))
            try GitFixtures.git(["fsck", "--full", "--strict"], in: mirror.mirrorPath)
            // Self-contained: no alternates pointing back at the source.
            #expect(!FileManager.default.fileExists(atPath: mirror.mirrorPath.appendingPathComponent("objects/info/alternates").path))

            try FileManager.default.removeItem(at: source.repository.directory)
            let again = GitMirror(source: source.path, mirrorsRoot: mirrors)
            #expect(try await again.resolve(ref: source.featureSHA, progress: { _ in }).fetched == false)
            let output = mirrors.deletingLastPathComponent().appendingPathComponent("out")
            try await again.checkout(commit: head, into: output)
            #expect(try contents(output.appendingPathComponent("loose/two.txt")) == "two\n")
            #expect(try contents(output.appendingPathComponent("src/nested/deep/file.txt")) == "deep\n")
        }
    }

    @Test func readOnlyPacksAreHardLinkedWritableOnesCopiedAndARepackOfTheSourceLeavesTheMirrorWhole() async throws {
        try await withSource { source, mirrors in
            _ = try packAndAddLooseCommits(to: source)
            let sourcePacks = source.repository.directory.appendingPathComponent(".git/objects/pack")
            let readOnly = try #require(try FileManager.default.contentsOfDirectory(atPath: sourcePacks.path).first { $0.hasSuffix(".pack") })
            // A second pack, made writable: it must be copied, not shared.
            try source.repository.commit("packed later", files: ["later.txt": "later\n"])
            try source.repository.git("repack", "--quiet", "-d")
            let writable = try #require(try FileManager.default.contentsOfDirectory(atPath: sourcePacks.path).first { $0.hasSuffix(".pack") && $0 != readOnly })
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: sourcePacks.appendingPathComponent(writable).path)

            let mirror = GitMirror(source: source.path, mirrorsRoot: mirrors)
            _ = try await mirror.resolve(ref: "main", progress: { _ in })
            let mirrorPacks = mirror.mirrorPath.appendingPathComponent("objects/pack")
            #expect(try linkCount(mirrorPacks.appendingPathComponent(readOnly)) == 2)
            #expect(try linkCount(mirrorPacks.appendingPathComponent(writable)) == 1)

            // Whatever happens to the source's packs afterwards, the mirror keeps its objects.
            try source.repository.git("repack", "--quiet", "-a", "-d", "-f")
            try source.repository.git("prune", "--expire=now")
            try GitFixtures.git(["fsck", "--full"], in: mirror.mirrorPath)
        }
    }

    @Test func sourceThatGainsCommitsTagsAndBranchesHasThemFetchedAsOneSmallPack() async throws {
        try await withSource { source, mirrors in
            let mirror = GitMirror(source: source.path, mirrorsRoot: mirrors)
            _ = try await mirror.resolve(ref: "main", progress: { _ in })
            let packsBefore = try packs(in: mirror).count

            let next = try source.repository.commit("next", files: ["next.txt": "next\n"])
            try source.repository.branch("topic")
            try source.repository.tag("v4", annotated: true)
            try source.repository.git("branch", "-D", "feature")
            let progress = ProgressRecorder()
            let resolved = try await mirror.resolve(ref: "main", progress: progress.callback)
            #expect(resolved.sha == next)
            #expect(resolved.fetched)
            #expect(try refs(in: mirror.mirrorPath) == refs(in: source.repository.directory))
            try GitFixtures.git(["fsck", "--full"], in: mirror.mirrorPath)
            // Only what was new: the commit, its root tree and the new file, and the tag. The
            // old tags' trees (libgit2's local transport repacks them on every fetch) are not in it.
            #expect(progress.contains("packed the 4 objects the mirror lacked"))
            #expect(try packs(in: mirror).count == packsBefore + 1)

            let unchanged = ProgressRecorder()
            #expect(try await mirror.resolve(ref: "topic", progress: unchanged.callback).fetched == false)
        }
    }

    @Test func detachedHeadOfAWorkspaceIsFetchedWithoutRecreatingTheMirror() async throws {
        try await withSource { source, mirrors in
            let mirror = GitMirror(source: source.path, mirrorsRoot: mirrors)
            _ = try await mirror.resolve(ref: "main", progress: { _ in })
            try source.repository.git("switch", "--quiet", "--detach")
            let detached = try source.repository.commit("on no branch", files: ["detached.txt": "detached\n"])

            let progress = ProgressRecorder()
            let resolved = try await mirror.resolve(ref: nil, progress: progress.callback)
            #expect(resolved.sha == detached)
            #expect(resolved.fetched)
            #expect(!progress.contains("mirror corrupt"))
        }
    }

    @Test func objectsOfTheSourcesAlternatesAreCopiedToo() async throws {
        try await withSource { source, mirrors in
            let root = mirrors.deletingLastPathComponent()
            let shared = root.appendingPathComponent("shared")
            try GitFixtures.git(["clone", "--quiet", "--shared", source.path, shared.path], in: root)
            try Data("own\n".utf8).write(to: shared.appendingPathComponent("own.txt"))
            try GitFixtures.git(["add", "own.txt"], in: shared)
            try GitFixtures.git(["commit", "--quiet", "-m", "own"], in: shared)
            let head = try GitFixtures.git(["rev-parse", "HEAD"], in: shared)

            let mirror = GitMirror(source: shared.path, mirrorsRoot: mirrors)
            #expect(try await mirror.resolve(ref: head, progress: { _ in }).sha == head)
            try FileManager.default.removeItem(at: source.repository.directory)
            try GitFixtures.git(["fsck", "--full"], in: mirror.mirrorPath)
            let output = root.appendingPathComponent("out")
            try await mirror.checkout(commit: head, into: output)
            #expect(try contents(output.appendingPathComponent("README.md")) == "hello\n")
        }
    }

    @Test func copyInterruptedHalfwayLeavesNothingTrustedAndTheNextRunMirrorsAfresh() async throws {
        try await withSource { source, mirrors in
            _ = try packAndAddLooseCommits(to: source)
            let mirror = GitMirror(source: source.path, mirrorsRoot: mirrors)
            let canceller = Canceller()
            let task = Task {
                try await mirror.resolve(ref: "main", progress: { line in
                    // Cancelled as the copy starts: it stops after its first file.
                    if line.hasPrefix("copying the objects") { canceller.cancel() }
                })
            }
            canceller.set(task)
            await #expect(throws: CancellationError.self) { try await task.value }
            #expect(!FileManager.default.fileExists(atPath: mirror.mirrorPath.path))
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: mirrors.path).filter { $0.contains(".tmp-") }
            #expect(leftovers.isEmpty)

            let resolved = try await mirror.resolve(ref: "main", progress: { _ in })
            #expect(resolved.fetched)
            #expect(try refs(in: mirror.mirrorPath) == refs(in: source.repository.directory))
            try GitFixtures.git(["fsck", "--full"], in: mirror.mirrorPath)
        }
    }

    @Test func progressLinesComeAtMostOncePerIntervalAndSummariesAlways() {
        let start = ContinuousClock.now
        var now = start
        var lines: [String] = []
        let reporter = ProgressReporter(interval: .milliseconds(250), now: { now }, emit: { lines.append($0) })
        var built = 0
        for millisecond in stride(from: 0, through: 1000, by: 10) {
            now = start.advanced(by: .milliseconds(millisecond))
            reporter.report({ built += 1; return "at \(millisecond)" }())
        }
        reporter.finish("done")
        #expect(lines == ["at 250", "at 500", "at 750", "at 1000", "done"])
        #expect(built == 4)  // lines that are not due are never even built
        #expect(ProgressReporter.lastLine(ofSideband: "Counting objects 10\rCounting objects 20\r") == "Counting objects 20")
    }
}

/// Cancels a task from inside its own progress callback, which may run before the task is known.
private final class Canceller: Sendable {
    private let state = Mutex<(task: Task<ResolvedCommit, any Error>?, requested: Bool)>((nil, false))

    func set(_ task: Task<ResolvedCommit, any Error>) {
        let cancelNow = state.withLock { state -> Bool in
            state.task = task
            return state.requested
        }
        if cancelNow { task.cancel() }
    }

    /// Cancels the task, first waiting (up to 5 s) until `set` has made it known.
    func cancel() {
        for _ in 0..<5000 {
            let task = state.withLock { state -> Task<ResolvedCommit, any Error>? in
                state.requested = true
                return state.task
            }
            if let task { return task.cancel() }
            usleep(1000)
        }
    }
}
