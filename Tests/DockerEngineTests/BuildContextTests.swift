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
}

/// The glob matcher against Docker's semantics, and against patterns that made a backtracking
/// matcher run for minutes.
@Suite struct DockerIgnoreMatcherTests {
    /// (patterns, path, excluded) as moby/patternmatcher answers.
    static let table: [(String, String, Bool)] = [
        ("*", "a", true), ("*", "a/b", true), ("*.txt", "a.txt", true), ("*.txt", "d/a.txt", false),
        ("d/*.txt", "d/a.txt", true), ("d/*", "d/e/f", true), ("?.c", "a.c", true), ("?.c", "ab.c", false),
        ("a?c", "a/c", false), ("[abc].go", "b.go", true), ("[abc].go", "d.go", false), ("[a-c]x", "bx", true),
        ("[!a-c]x", "dx", true), ("[!a-c]x", "bx", false), ("[^a]x", "ax", false), ("[\\]]x", "]x", true),
        ("a[x", "a[x", true), ("\\*x", "*x", true), ("\\*x", "ax", false), ("a\\", "a\\", true),
        ("**", "a/b/c", true), ("**/x", "x", true), ("**/x", "a/b/x", true), ("**/x", "a/bx", false),
        ("a/**/b", "a/b", true), ("a/**/b", "a/x/y/b", true), ("a/**/b", "ab", false), ("a/**", "a/b/c", true),
        ("**/*.go", "q/r/s.go", true), ("**/*.go", "s.rs", false), ("/a/", "a/b", true), ("./a//b/", "a/b", true),
        ("a/../b", "b", true), ("*/b", "x/b/c", true), ("x", "y/x", false), ("é?", "éé", true),
        ("*.md\n!README.md", "README.md", false), ("*.md\n!README.md", "A.md", true),
        ("a\n!a/b\na/b/c", "a/b/c", true), ("a\n!a/b\na/b/c", "a/b/d", false), ("a\n!a/b", "a/c", true),
        ("# x\n\n  \n!", "x", false), ("*a*a*a*a*a*a*a*a*c", String(repeating: "a", count: 60) + "c", true),
    ]

    @Test func matchesDockersSemanticsTable() {
        for (patterns, path, excluded) in Self.table {
            #expect(DockerIgnore(patterns).excludes(path) == excluded, "\(patterns.debugDescription) on \(path.debugDescription)")
        }
    }

    @Test func patternsOfMoreThanSixtyFourStepsMatchAsShortOnesDo() {
        // 81 steps: past the bit-mask automaton, matched by the general one.
        let long = DockerIgnore(String(repeating: "a*", count: 40) + "c\n" + String(repeating: "?", count: 70) + "/**/z\n")
        #expect(long.excludes(String(repeating: "a", count: 40) + "c"))
        #expect(long.excludes(String(repeating: "ab", count: 45) + "c/d"), "a parent matches")
        #expect(!long.excludes(String(repeating: "a", count: 39) + "c"))
        #expect(long.excludes(String(repeating: "q", count: 70) + "/x/y/z"))
        #expect(!long.excludes(String(repeating: "q", count: 69) + "/x/y/z"))
        for (patterns, path, excluded) in Self.table where !patterns.contains("\n") {
            // The same pattern after 64 escaped `x`s of a folder, so that the long automaton runs it.
            let prefix = String(repeating: "x", count: 64)
            let padded = DockerIgnore(String(repeating: "\\x", count: 64) + "/" + patterns)
            #expect(padded.excludes(prefix + "/" + path) == excluded, "\(patterns.debugDescription) on \(path.debugDescription), long")
        }
    }

    @Test func hostilePatternsAgainstAThousandLongNamesComplete() {
        let names = (0..<1000).map { String(repeating: "a", count: 200 + $0 % 7) + "/" + String(repeating: "a", count: 200) }
        let ignore = DockerIgnore("*a*a*a*a*a*a*a*a*c\n**/**/**/**/**/**/**/**/c\n*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*/**/b\n[!x]*[!x]*[!x]*[!x]*[!x]*c\n")
        let started = ContinuousClock.now
        let excluded = names.filter(ignore.excludes)
        print("hostile .dockerignore: 4 patterns x 1,000 names of ~400 characters matched in \(ContinuousClock.now - started)")
        #expect(excluded.isEmpty, "no name ends in c or holds /b")
        #expect(ignore.excludes(String(repeating: "a", count: 200) + "c"))
    }
}

/// A walk of the context stops when its Task is cancelled (a stage timeout, Ctrl-C), at the next
/// file, instead of running on where cancellation cannot reach it.
@Suite struct BuildContextCancellationTests {
    /// A context whose walk takes minutes: 300 long names, each matched against 2,000 patterns.
    static func slowContext(in root: URL) throws -> BuildContext {
        let patterns = (0..<2000).map { "*a*a*a*a*a*a*a*a*a*a*c\($0)" }.joined(separator: "\n")
        try Data(patterns.utf8).write(to: root.appendingPathComponent(".dockerignore"))
        try Data("FROM x\n".utf8).write(to: root.appendingPathComponent("Dockerfile"))
        for index in 0..<300 {
            try Data().write(to: root.appendingPathComponent(String(repeating: "a", count: 200) + String(index)))
        }
        return try BuildContext(root: root.path, dockerfile: "Dockerfile")
    }

    static func expectCancelled(_ what: String, _ body: @escaping @Sendable () async throws -> Void) async {
        let task = Task { try await body() }
        try? await Task.sleep(for: .milliseconds(200))
        let started = ContinuousClock.now
        task.cancel()
        let result = await task.result
        print("\(what): ended \(ContinuousClock.now - started) after its cancellation")
        #expect(isCancellation(result), "\(what) ran to its end instead of stopping: \(result)")
    }

    /// A cancelled walk throws ``DockerError`` `.cancelled` (stopped between files) or
    /// `CancellationError` (stopped before NIO's pool ran the next chunk).
    static func isCancellation<T>(_ result: Result<T, any Error>) -> Bool {
        switch result {
        case .success: false
        case .failure(let error as DockerError): error.code == .cancelled
        case .failure(let error): error is CancellationError
        }
    }

    @Test func cancelledDigestStopsBeforeTheEndOfTheWalk() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-context") { root in
            let context = try Self.slowContext(in: root)
            await Self.expectCancelled("digest") { _ = try await context.digest() }
        }
    }

    @Test func cancelledTarStreamStopsBeforeTheEndOfTheWalk() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-context") { root in
            let context = try Self.slowContext(in: root)
            await Self.expectCancelled("tar stream") { for try await _ in context.chunks {} }
        }
    }

    /// The blocking overload (an async caller would otherwise get the async one).
    static func blockingDigest(_ context: BuildContext) throws -> String { try context.digest() }

    @Test func digestOfAnAlreadyCancelledTaskThrowsAtOnce() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-context") { root in
            try Data("FROM x\n".utf8).write(to: root.appendingPathComponent("Dockerfile"))
            let context = try BuildContext(root: root.path, dockerfile: "Dockerfile")
            let task = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                return try await context.digest()
            }
            #expect(Self.isCancellation(await task.result))
            #expect(try Self.blockingDigest(context).count == 64, "the same context digests outside a cancelled Task")
        }
    }
}
