import DockerEngine
import Foundation
import NIOCore
import SutradharTesting
import Testing

/// `.dockerignore` matching, with the examples of Docker's documentation.
@Suite struct DockerIgnoreTests {
    @Test func documentedWildcardExamplesExcludeWhatTheDocsSay() {
        let ignore = DockerIgnore("# comment\n*/temp*\n*/*/temp*\ntemp?\n")
        #expect(ignore.excludes("somedir/temporary.txt"))
        #expect(ignore.excludes("somedir/temp"))
        #expect(ignore.excludes("somedir/subdir/temporary.txt"))
        #expect(ignore.excludes("tempa"))
        #expect(ignore.excludes("tempb"))
        #expect(!ignore.excludes("temporary.txt"), "*/temp* needs a folder before it")
        #expect(!ignore.excludes("tempab"), "? is one character")
        #expect(!ignore.excludes("# comment"))
    }

    @Test func doubleStarMatchesAnyNumberOfFoldersIncludingNone() {
        let ignore = DockerIgnore("**/*.go\n")
        #expect(ignore.excludes("main.go"))
        #expect(ignore.excludes("a/b/c/main.go"))
        #expect(!ignore.excludes("a/b/main.rs"))
    }

    @Test func lastMatchingPatternWinsAsInTheDocumentedMarkdownExamples() {
        let first = DockerIgnore("*.md\n!README.md\n")
        #expect(first.excludes("CHANGES.md"))
        #expect(!first.excludes("README.md"))

        let second = DockerIgnore("*.md\n!README*.md\nREADME-secret.md\n")
        #expect(second.excludes("CHANGES.md"))
        #expect(!second.excludes("README-public.md"))
        #expect(second.excludes("README-secret.md"))

        let third = DockerIgnore("*.md\nREADME-secret.md\n!README*.md\n")
        #expect(!third.excludes("README-secret.md"))
        #expect(!third.excludes("README.md"))
        #expect(third.excludes("NOTES.md"))
    }

    @Test func leadingAndTrailingSlashesAreIgnoredAndFoldersExcludeTheirContent() {
        let ignore = DockerIgnore("/build/\n  node_modules  \n")
        #expect(ignore.excludes("build"))
        #expect(ignore.excludes("build/out/app.o"))
        #expect(ignore.excludes("node_modules/left-pad/index.js"))
        #expect(!ignore.excludes("src/build.swift"))
        #expect(!ignore.excludes("src/build/x"), "a pattern is anchored at the context's root")
    }

    @Test func anExceptionReincludesAFileInsideAnExcludedFolder() {
        let ignore = DockerIgnore("docs\n!docs/keep.txt\n")
        #expect(ignore.excludes("docs/other.txt"))
        #expect(!ignore.excludes("docs/keep.txt"))
        #expect(ignore.hasExceptions)
    }
}

/// The build context's tar, checked with GNU tar (an implementation independent of the writer).
@Suite struct BuildContextTarTests {
    /// Writes the context's tar to `archive` and returns `tar -tvf`'s listing.
    func archive(_ context: BuildContext, to archive: URL) async throws -> [String] {
        var data = Data()
        for try await chunk in context.chunks {
            #expect(chunk.readableBytes <= (1 << 20) + (16 << 10), "chunks stay bounded: 1 MiB plus at most one entry's headers")
            data.append(contentsOf: chunk.readableBytesView)
        }
        #expect(data.count % 512 == 0)
        try data.write(to: archive)
        return try DockerTestSupport.run("/usr/bin/tar", ["-tf", archive.path]).split(whereSeparator: \.isNewline).map(String.init)
    }

    @Test func contextRoundTripsThroughTarWithLongNamesLinksAndIgnoredFiles() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-context") { root in
            let context = root.appendingPathComponent("ctx")
            let longName = String(repeating: "d", count: 60) + "/" + String(repeating: "f", count: 80) + ".txt"
            let files = [
                "Dockerfile": "FROM x\n", ".dockerignore": "secret.txt\nDockerfile\nlogs\n!logs/keep.log\n",
                "app/main.sh": "echo hi\n", longName: "long\n", "secret.txt": "TOPSECRET\n",
                "logs/a.log": "a\n", "logs/keep.log": "keep\n", "big.bin": String(repeating: "x", count: 3 << 20),
            ]
            for (path, contents) in files {
                let url = context.appendingPathComponent(path)
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data(contents.utf8).write(to: url)
            }
            try Data("OUTSIDE\n".utf8).write(to: root.appendingPathComponent("outside.txt"))
            try FileManager.default.createSymbolicLink(atPath: context.path + "/leak", withDestinationPath: root.path + "/outside.txt")

            let build = try BuildContext(root: context.path, dockerfile: "Dockerfile")
            let listing = try await archive(build, to: root.appendingPathComponent("ctx.tar"))
            #expect(listing.contains("Dockerfile"), "the Dockerfile is sent even though .dockerignore names it")
            #expect(listing.contains(".dockerignore"))
            #expect(listing.contains("app/main.sh"))
            #expect(listing.contains(longName), "a name over 100 bytes survives (pax)")
            #expect(listing.contains("logs/keep.log"))
            #expect(!listing.contains("logs/a.log"))
            #expect(!listing.contains("secret.txt"))
            #expect(listing.contains("leak"))

            let out = root.appendingPathComponent("out")
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            try DockerTestSupport.run("/usr/bin/tar", ["-xf", root.appendingPathComponent("ctx.tar").path, "-C", out.path])
            #expect(try String(contentsOf: out.appendingPathComponent(longName), encoding: .utf8) == "long\n")
            #expect(try Data(contentsOf: out.appendingPathComponent("big.bin")).count == 3 << 20)
            // The link is stored as a link to its target, never as the content outside the folder.
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: out.path + "/leak") == root.path + "/outside.txt")
            let tarBytes = try Data(contentsOf: root.appendingPathComponent("ctx.tar"))
            #expect(tarBytes.range(of: Data("OUTSIDE".utf8)) == nil, "the linked file's content is not in the archive")
            #expect(tarBytes.range(of: Data("TOPSECRET".utf8)) == nil)
        }
    }

    @Test func sameFilesGiveTheSameDigestAndAChangedFileAnother() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-context") { root in
            try Data("FROM x\n".utf8).write(to: root.appendingPathComponent("Dockerfile"))
            try Data("one\n".utf8).write(to: root.appendingPathComponent("a.txt"))
            let first = try BuildContext(root: root.path, dockerfile: "Dockerfile").digest()
            #expect(try BuildContext(root: root.path, dockerfile: "Dockerfile").digest() == first)
            try Data("two\n".utf8).write(to: root.appendingPathComponent("a.txt"))
            #expect(try BuildContext(root: root.path, dockerfile: "Dockerfile").digest() != first)
        }
    }

    @Test func fromLinesGiveBaseImagesWithArgsExpandedAndStageAliasesSkipped() {
        let file = Dockerfile("ARG BASE=busybox:1\nFROM ${BASE} AS build\nRUN x\nFROM --platform=linux/amd64 build\nFROM scratch\nFROM app:ci\n",
                              buildArgs: ["BASE": "mine:2"])
        #expect(file.baseImages == ["mine:2", "app:ci"])
        let rewritten = Dockerfile(file.replacingBases(["app:ci"], with: "sha256:abc"))
        #expect(rewritten.froms.last?.image == "sha256:abc")
        #expect(Dockerfile("ARG UNSET\nFROM $UNSET\n").baseImages.isEmpty)
    }
}
