import Foundation
import GitMirror
import SutradharTesting
import Testing

@Suite struct CheckoutTests {
    @Test func checkoutWritesExactlyTheCommitsTree() async throws {
        try await withSource { source, mirrors in
            let mirror = GitMirror(source: source.path, mirrorsRoot: mirrors)
            let commit = try await mirror.resolve(ref: "feature", progress: { _ in })
            let output = mirrors.deletingLastPathComponent().appendingPathComponent("work/checkout")
            try await mirror.checkout(commit: commit.sha, into: output)

            let expected = try source.repository.git("ls-tree", "-r", "--name-only", "feature").split(separator: "\n").map(String.init).sorted()
            #expect(try relativeFiles(in: output) == expected)
            #expect(try contents(output.appendingPathComponent("src/nested/deep/file.txt")) == "deep\n")
            #expect(try contents(output.appendingPathComponent("feature.txt")) == "feature\n")
            #expect(try isExecutable(output.appendingPathComponent("bin/run.sh")))
            #expect(try !isExecutable(output.appendingPathComponent("README.md")))
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: output.appendingPathComponent("link").path) == "README.md")
            #expect(!FileManager.default.fileExists(atPath: output.appendingPathComponent(".git").path))
            // Nothing left beside the output, and the mirror's index was never written.
            #expect(try FileManager.default.contentsOfDirectory(atPath: output.deletingLastPathComponent().path) == ["checkout"])
            #expect(!FileManager.default.fileExists(atPath: mirror.mirrorPath.appendingPathComponent("index").path))
        }
    }

    @Test func checkoutOfAnAbbreviatedIDWritesThatCommit() async throws {
        try await withSource { source, mirrors in
            let mirror = GitMirror(source: source.path, mirrorsRoot: mirrors)
            _ = try await mirror.resolve(ref: "main", progress: { _ in })
            let output = mirrors.deletingLastPathComponent().appendingPathComponent("out")
            try await mirror.checkout(commit: String(source.mainSHA.prefix(8)), into: output)
            #expect(!FileManager.default.fileExists(atPath: output.appendingPathComponent("feature.txt").path))
            #expect(try contents(output.appendingPathComponent("README.md")) == "hello\n")
        }
    }

    @Test func checkoutRefusesAnExistingDirectory() async throws {
        try await withSource { source, mirrors in
            let mirror = GitMirror(source: source.path, mirrorsRoot: mirrors)
            let commit = try await mirror.resolve(ref: "main", progress: { _ in })
            let output = mirrors.deletingLastPathComponent().appendingPathComponent("exists")
            try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
            let error = await #expect(throws: GitError.self) {
                try await mirror.checkout(commit: commit.sha, into: output)
            }
            #expect(error?.code == .checkoutFailed)
            #expect(error?.message.contains(output.path) == true)
            #expect(try FileManager.default.contentsOfDirectory(atPath: output.path).isEmpty)
        }
    }

    @Test func checkoutRunsNoFiltersFromTheRepository() async throws {
        try await withSource { source, mirrors in
            // .gitattributes asks for CRLF line endings on checkout: with filters on, libgit2 would
            // convert; the checkout must write the blob's bytes unchanged.
            try source.repository.write(".gitattributes", "*.txt text eol=crlf\n")
            let sha = try source.repository.commit("attributes", files: ["lines.txt": "one\ntwo\n"])
            let mirror = GitMirror(source: source.path, mirrorsRoot: mirrors)
            _ = try await mirror.resolve(ref: sha, progress: { _ in })
            let output = mirrors.deletingLastPathComponent().appendingPathComponent("out")
            try await mirror.checkout(commit: sha, into: output)
            #expect(try Data(contentsOf: output.appendingPathComponent("lines.txt")) == Data("one\ntwo\n".utf8))
        }
    }

    @Test func gitlinksAreSkipped() async throws {
        try await withSource { source, mirrors in
            let sha = try source.repository.commitGitlink("vendor/sub", sha: source.mainSHA)
            let mirror = GitMirror(source: source.path, mirrorsRoot: mirrors)
            _ = try await mirror.resolve(ref: "main", progress: { _ in })
            let output = mirrors.deletingLastPathComponent().appendingPathComponent("out")
            try await mirror.checkout(commit: sha, into: output)
            #expect(try contents(output.appendingPathComponent("README.md")) == "hello\n")
            #expect(try relativeFiles(in: output).allSatisfy { !$0.hasPrefix("vendor/sub/") })
        }
    }

    @Test func concurrentCheckoutsOfOneMirrorAllSucceed() async throws {
        try await withSource { source, mirrors in
            let mirror = GitMirror(source: source.path, mirrorsRoot: mirrors)
            _ = try await mirror.resolve(ref: "main", progress: { _ in })
            let work = mirrors.deletingLastPathComponent().appendingPathComponent("work")
            let commits = [source.mainSHA, source.featureSHA, source.mainSHA, source.featureSHA]
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, sha) in commits.enumerated() {
                    group.addTask { try await mirror.checkout(commit: sha, into: work.appendingPathComponent("\(index)")) }
                }
                try await group.waitForAll()
            }
            for (index, sha) in commits.enumerated() {
                let hasFeature = FileManager.default.fileExists(atPath: work.appendingPathComponent("\(index)/feature.txt").path)
                #expect(hasFeature == (sha == source.featureSHA))
                #expect(try contents(work.appendingPathComponent("\(index)/README.md")) == "hello\n")
            }
        }
    }

    @Test func checkoutWaitsForAnotherProcessHoldingTheMirrorLock() async throws {
        try await withSource { source, mirrors in
            let mirror = GitMirror(source: source.path, mirrorsRoot: mirrors)
            _ = try await mirror.resolve(ref: "main", progress: { _ in })
            // flock(1) takes the same flock(2) lock from another process and holds it for a second.
            let acquired = mirrors.appendingPathComponent("acquired")
            let released = mirrors.appendingPathComponent("released")
            let holder = Process()
            holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
            holder.arguments = [mirror.mirrorPath.path + ".lock", "-c", "touch '\(acquired.path)'; sleep 1; touch '\(released.path)'"]
            try holder.run()
            defer { holder.waitUntilExit() }
            while !FileManager.default.fileExists(atPath: acquired.path) { try await Task.sleep(for: .milliseconds(10)) }

            try await mirror.checkout(commit: source.mainSHA, into: mirrors.deletingLastPathComponent().appendingPathComponent("out"))
            // "released" is written while the other process still holds the lock.
            #expect(FileManager.default.fileExists(atPath: released.path))
        }
    }

    @Test func checkoutOfAnUnknownCommitFailsClearly() async throws {
        try await withSource { source, mirrors in
            let mirror = GitMirror(source: source.path, mirrorsRoot: mirrors)
            _ = try await mirror.resolve(ref: "main", progress: { _ in })
            let missing = "0123456789abcdef0123456789abcdef01234567"
            let output = mirrors.deletingLastPathComponent().appendingPathComponent("out")
            let error = await #expect(throws: GitError.self) {
                try await mirror.checkout(commit: missing, into: output)
            }
            #expect(error?.code == .unknownRef)
            #expect(error?.message.contains(missing) == true)
            #expect(!FileManager.default.fileExists(atPath: output.path))
        }
    }
}
