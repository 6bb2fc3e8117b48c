import Foundation
import GitMirror
import SutradharTesting
import Testing

/// Resolving a commit whose tree is already checked out does no libgit2 work beyond resolving:
/// the walk that checks each file of the tree is in the mirror is for checkouts still to come.
@Suite struct CheckedOutTreeTests {
    /// Unpacks the mirror's packs into loose objects (git CLI) and deletes the loose object of
    /// `path`'s blob in `commit`: the commit and its trees still read, one file's content is gone.
    private func deleteBlob(_ path: String, of commit: String, in mirror: GitMirror) throws {
        let packs = mirror.mirrorPath.appendingPathComponent("objects/pack")
        let aside = mirror.mirrorPath.deletingLastPathComponent().appendingPathComponent("packs-aside")
        try FileManager.default.moveItem(at: packs, to: aside)
        try FileManager.default.createDirectory(at: packs, withIntermediateDirectories: true)
        for pack in try FileManager.default.contentsOfDirectory(atPath: aside.path) where pack.hasSuffix(".pack") {
            let unpack = Process()
            unpack.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            unpack.arguments = ["git", "-c", "safe.directory=*", "unpack-objects", "-q"]
            unpack.currentDirectoryURL = mirror.mirrorPath
            unpack.standardInput = try FileHandle(forReadingFrom: aside.appendingPathComponent(pack))
            try unpack.run()
            unpack.waitUntilExit()
            try #require(unpack.terminationStatus == 0, "git unpack-objects failed")
        }
        let blob = try GitFixtures.git(["-c", "safe.directory=*", "rev-parse", "\(commit):\(path)"], in: mirror.mirrorPath)
        let loose = mirror.mirrorPath.appendingPathComponent("objects/\(blob.prefix(2))/\(blob.dropFirst(2))")
        try FileManager.default.removeItem(at: loose)
    }

    @Test func aTreeAlreadyCheckedOutIsNotWalkedWhileOthersStillAre() async throws {
        try await withSource { source, mirrors in
            let mirror = GitMirror(source: source.path, mirrorsRoot: mirrors)
            let first = try await mirror.resolve(ref: source.mainSHA, progress: { _ in })
            try deleteBlob("src/nested/deep/file.txt", of: source.mainSHA, in: mirror)

            let asked = ProgressRecorder()
            let progress = ProgressRecorder()
            let resolved = try await mirror.resolve(ref: source.mainSHA, progress: progress.callback,
                                                    isCheckedOut: { tree in asked.callback(tree); return true })
            #expect(resolved.sha == first.sha && resolved.treeID == first.treeID && !resolved.fetched,
                    "resolved from the damaged mirror as it is: \(resolved)")
            #expect(asked.all == [first.treeID], "asked about the commit's own tree")
            #expect(!progress.contains("mirror corrupt"), "the missing file was not looked for: \(progress.all)")

            // The same resolve for a checkout still to be written looks at every file, finds the
            // one missing, and repairs the mirror: the walk skipped above would have seen it.
            let repaired = ProgressRecorder()
            #expect(try await mirror.resolve(ref: source.mainSHA, progress: repaired.callback) == ResolvedCommit(
                sha: first.sha, treeID: first.treeID, fetched: true))
            #expect(repaired.all.first?.contains("file src/nested/deep/file.txt of commit") == true, "\(repaired.all)")
        }
    }
}
