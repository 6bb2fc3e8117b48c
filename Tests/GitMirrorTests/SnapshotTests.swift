import Foundation
import GitMirror
import SutradharTesting
import Testing

@Suite struct SnapshotTests {
    /// Everything under `.git`: path → size and modification time, to prove nothing was written.
    private func gitDirectoryState(_ repository: GitFixtureRepository) throws -> [String: String] {
        let gitDirectory = repository.directory.appendingPathComponent(".git")
        var state: [String: String] = [:]
        for relative in try relativeFiles(in: gitDirectory) {
            let attributes = try FileManager.default.attributesOfItem(atPath: gitDirectory.appendingPathComponent(relative).path)
            state[relative] = "\(attributes[.size] ?? 0) \((attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)"
        }
        return state
    }

    @Test func snapshotTakesTheDirtyWorkingTreeAsItIsAndWritesNothingThere() async throws {
        try await GitFixtures.withTemporaryDirectory { root in
            let repository = try GitFixtureRepository(at: root.appendingPathComponent("repo"))
            try repository.write(".gitignore", "*.log\nbuild/\n")
            try repository.write("app/README.md", "committed\n")
            try repository.write("app/server.sh", "#!/bin/sh\n", executable: true)
            try repository.write("app/keep.log", "tracked although ignored\n")
            try repository.git("add", "-f", "app/keep.log")
            try repository.commit("first")
            // A dirty working tree: an edit, an untracked file, ignored files, a staged change.
            try repository.write("app/README.md", "edited, not committed\n")
            try repository.write("app/new.txt", "untracked\n")
            try repository.write("app/debug.log", "ignored\n")
            try repository.write("app/build/out.bin", "ignored folder\n")
            try repository.write("app/staged.txt", "staged\n")
            try repository.git("add", "app/staged.txt")

            let status = { try repository.git("--no-optional-locks", "status", "--porcelain", "--ignored") }
            let statusBefore = try status()
            let indexBefore = try Data(contentsOf: repository.directory.appendingPathComponent(".git/index"))
            let gitStateBefore = try gitDirectoryState(repository)

            let mirrors = root.appendingPathComponent("mirrors")
            let (mirror, commit) = try await GitMirror.snapshot(folder: repository.directory.appendingPathComponent("app"), mirrorsRoot: mirrors)

            #expect(try status() == statusBefore)
            #expect(try Data(contentsOf: repository.directory.appendingPathComponent(".git/index")) == indexBefore)
            #expect(try gitDirectoryState(repository) == gitStateBefore)
            #expect(commit.fetched == false)

            let output = root.appendingPathComponent("out")
            try await mirror.checkout(commit: commit.sha, into: output)
            #expect(try relativeFiles(in: output) == ["README.md", "keep.log", "new.txt", "server.sh", "staged.txt"])
            #expect(try contents(output.appendingPathComponent("README.md")) == "edited, not committed\n")
            #expect(try isExecutable(output.appendingPathComponent("server.sh")))
            #expect(try !isExecutable(output.appendingPathComponent("new.txt")))
        }
    }

    @Test func sameContentGivesTheSameCommit() async throws {
        try await GitFixtures.withTemporaryDirectory { root in
            let first = root.appendingPathComponent("first")
            let second = root.appendingPathComponent("elsewhere/second")
            for folder in [first, second] {
                try FileManager.default.createDirectory(at: folder.appendingPathComponent("sub"), withIntermediateDirectories: true)
                try Data("same\n".utf8).write(to: folder.appendingPathComponent("sub/file.txt"))
                try FileManager.default.createSymbolicLink(atPath: folder.appendingPathComponent("link").path, withDestinationPath: "sub/file.txt")
            }
            let mirrors = root.appendingPathComponent("mirrors")
            let a = try await GitMirror.snapshot(folder: first, mirrorsRoot: mirrors)
            let again = try await GitMirror.snapshot(folder: first, mirrorsRoot: mirrors)
            let b = try await GitMirror.snapshot(folder: second, mirrorsRoot: mirrors)
            #expect(a.commit == again.commit)
            #expect(a.commit == b.commit)
            #expect(a.mirror.mirrorPath != b.mirror.mirrorPath)
            #expect(a.mirror.mirrorPath.lastPathComponent.hasPrefix("first-"))

            let mirrorGit = ["--git-dir", a.mirror.mirrorPath.path]
            #expect(try GitFixtures.git(mirrorGit + ["rev-parse", "refs/heads/snapshot"], in: root) == a.commit.sha)
            let raw = try GitFixtures.git(mirrorGit + ["cat-file", "commit", a.commit.sha], in: root)
            #expect(raw.contains("author Sutradhar <sutradhar@localhost> 0 +0000"))
            #expect(raw.contains("committer Sutradhar <sutradhar@localhost> 0 +0000"))
            #expect(try GitFixtures.git(mirrorGit + ["ls-tree", "HEAD", "link"], in: root).hasPrefix("120000 blob"))

            try Data("changed\n".utf8).write(to: first.appendingPathComponent("sub/file.txt"))
            let changed = try await GitMirror.snapshot(folder: first, mirrorsRoot: mirrors)
            #expect(changed.commit.sha != a.commit.sha)
            #expect(try GitFixtures.git(mirrorGit + ["rev-parse", "refs/heads/snapshot"], in: root) == changed.commit.sha)
            #expect(try await changed.mirror.resolve(ref: nil, progress: { _ in }) == changed.commit)
        }
    }

    @Test func folderOutsideAnyRepositoryIsTakenWhole() async throws {
        try await GitFixtures.withTemporaryDirectory { root in
            let folder = root.appendingPathComponent("plain")
            let repository = try GitFixtureRepository(at: folder.appendingPathComponent("nested"))  // its .git is skipped
            try repository.write(".gitignore", "*.log\n")
            try repository.write("debug.log", "kept: the nested repository is not an enclosing one\n")
            try FileManager.default.createDirectory(at: folder.appendingPathComponent("empty"), withIntermediateDirectories: true)
            let (mirror, commit) = try await GitMirror.snapshot(folder: folder, mirrorsRoot: root.appendingPathComponent("mirrors"))
            let output = root.appendingPathComponent("out")
            try await mirror.checkout(commit: commit.sha, into: output)
            #expect(try relativeFiles(in: output) == ["nested/.gitignore", "nested/debug.log"])
        }
    }

    @Test func bundledExampleSnapshotsFromInsideTheProjectRepository() async throws {
        let example = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Examples/hello-server")
        try await GitFixtures.withTemporaryDirectory { root in
            let (mirror, commit) = try await GitMirror.snapshot(folder: example, mirrorsRoot: root.appendingPathComponent("mirrors"))
            let output = root.appendingPathComponent("out")
            try await mirror.checkout(commit: commit.sha, into: output)
            let files = try relativeFiles(in: output)
            #expect(files.contains("flake.nix"))
            #expect(!files.contains { $0.hasPrefix(".git/") })
            #expect(try Data(contentsOf: output.appendingPathComponent("flake.nix")) == Data(contentsOf: example.appendingPathComponent("flake.nix")))
        }
    }

    @Test func missingFolderFailsClearly() async throws {
        try await GitFixtures.withTemporaryDirectory { root in
            let missing = root.appendingPathComponent("missing")
            let error = await #expect(throws: GitError.self) {
                try await GitMirror.snapshot(folder: missing, mirrorsRoot: root.appendingPathComponent("mirrors"))
            }
            #expect(error?.code == .snapshotFailed)
            #expect(error?.message.contains(missing.path) == true)
        }
    }
}
