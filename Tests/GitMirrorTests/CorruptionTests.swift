import Foundation
import GitMirror
import SutradharTesting
import Testing

@Suite struct CorruptionTests {
    /// Overwrites every pack file of the mirror with garbage of the same size, keeping the pack
    /// indexes: the mirror still opens and its refs look fine, but no object can be read.
    private func garbleObjects(of mirror: GitMirror) throws -> Int {
        let objects = mirror.mirrorPath.appendingPathComponent("objects")
        var garbled = 0
        for relative in try relativeFiles(in: objects) where !relative.hasSuffix(".idx") && !relative.hasPrefix("info/") {
            let file = objects.appendingPathComponent(relative)
            let size = try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int ?? 0
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file.path)
            try Data(repeating: 0x5A, count: max(size, 64)).write(to: file)
            garbled += 1
        }
        return garbled
    }

    @Test func garbledObjectsAreDetectedAndTheMirrorRecreated() async throws {
        try await withSource { source, mirrors in
            let mirror = GitMirror(source: source.path, mirrorsRoot: mirrors)
            _ = try await mirror.resolve(ref: "main", progress: { _ in })
            #expect(try garbleObjects(of: mirror) > 0)

            let progress = ProgressRecorder()
            let resolved = try await mirror.resolve(ref: "main", progress: progress.callback)
            #expect(resolved.sha == source.mainSHA)
            #expect(resolved.fetched)
            // The first mirror of a local source holds copies of its loose objects, whose damage
            // shows only when they are read (after "using cached commit"), not when listed.
            #expect(progress.contains("mirror corrupt, re-creating: "))
            #expect(progress.contains("cloning \(source.path)"))

            let output = mirrors.deletingLastPathComponent().appendingPathComponent("out")
            try await mirror.checkout(commit: resolved.sha, into: output)
            #expect(try contents(output.appendingPathComponent("README.md")) == "hello\n")
        }
    }

    @Test(arguments: ["HEAD", "config"])
    func deletedFileIsDetectedAndTheMirrorRecreated(file: String) async throws {
        try await withSource { source, mirrors in
            let mirror = GitMirror(source: source.path, mirrorsRoot: mirrors)
            _ = try await mirror.resolve(ref: "main", progress: { _ in })
            try FileManager.default.removeItem(at: mirror.mirrorPath.appendingPathComponent(file))

            let progress = ProgressRecorder()
            #expect(try await mirror.resolve(ref: "feature", progress: progress.callback).sha == source.featureSHA)
            #expect(progress.all.first?.hasPrefix("mirror corrupt, re-creating: ") == true)
            #expect(FileManager.default.fileExists(atPath: mirror.mirrorPath.appendingPathComponent(file).path))
        }
    }

    @Test func checkoutRepairsACorruptMirror() async throws {
        try await withSource { source, mirrors in
            let mirror = GitMirror(source: source.path, mirrorsRoot: mirrors)
            let commit = try await mirror.resolve(ref: "feature", progress: { _ in })
            #expect(try garbleObjects(of: mirror) > 0)

            let progress = ProgressRecorder()
            let output = mirrors.deletingLastPathComponent().appendingPathComponent("out")
            try await mirror.checkout(commit: commit.sha, into: output, progress: progress.callback)
            #expect(progress.contains("mirror corrupt, re-creating"))
            #expect(try contents(output.appendingPathComponent("feature.txt")) == "feature\n")
        }
    }
}
