import Foundation
import Testing
@testable import Pipeline

@Suite struct SourceSpecTests {
    static func source(_ lines: String) throws(DefinitionError) -> SourceSpec {
        try parse("version: 1\nname: t\nsource:\n\(lines)\nstages:\n  a:\n    nix-build: {}\n").source
    }

    @Test func relativeGitPathIsResolvedAgainstTheDefinitionsFolder() throws {
        #expect(try Self.source("  git: ../repos/./app.git").location == .git("/work/defs/repos/app.git"))
        #expect(try Self.source("  git: app").location == .git("/work/defs/pipelines/app"))
        #expect(try Self.source("  git: /srv/git/../app.git").location == .git("/srv/app.git"))
    }

    @Test(arguments: ["https://example.com/team/app.git", "ssh://git@example.com:2222/app.git",
                      "git@example.com:team/app.git", "file:///srv/app.git"])
    func gitURLIsKeptAsWritten(_ url: String) throws {
        #expect(try Self.source("  git: \"\(url)\"").location == .git(url))
    }

    @Test func tildeIsTheHomeFolder() throws {
        let home = FileManager.default.homeDirectoryForCurrentUser.path
        #expect(try Self.source("  git: ~/src/app").location == .git(home + "/src/app"))
        #expect(try Self.source("  path: ~/work").location == .path(home + "/work"))
    }

    @Test func refIsKeptWithGit() throws {
        let source = try Self.source("  git: https://example.com/app.git\n  ref: release/1.x")
        #expect(source.ref == "release/1.x")
        #expect(source.position == SourcePosition(file: "p.yaml", line: 4, column: 3))
    }

    @Test func refWithPathIsRefusedAtTheRefKey() {
        #expect(diagnostics("version: 1\nname: t\nsource:\n  path: src\n  ref: main\nstages:\n  a:\n    nix-build: {}\n") == [
            "p.yaml:5:3: 'source.ref' has no meaning with 'path' (the folder is built as it is); remove it or use 'git'",
        ])
    }

    @Test func gitAndPathTogetherAreRefusedAtPath() {
        #expect(diagnostics("version: 1\nname: t\nsource:\n  git: a.git\n  path: src\nstages:\n  a:\n    nix-build: {}\n") == [
            "p.yaml:5:3: 'source' has both 'git' and 'path'; keep one",
        ])
    }

    @Test func sourceWithNeitherGitNorPathSaysWhatEachMeans() {
        #expect(diagnostics("version: 1\nname: t\nsource: {ref: main}\nstages:\n  a:\n    nix-build: {}\n") == [
            "p.yaml:3:9: 'source' is missing 'git' (a repository URL or path) or 'path' (a folder built as it is)",
        ])
    }

    @Test func urlDetectionTellsRemotesFromPaths() {
        #expect(SourceSpec.isURL("https://x/y"))
        #expect(SourceSpec.isURL("me@host:repo.git"))
        #expect(!SourceSpec.isURL("../repo"))
        #expect(!SourceSpec.isURL("/srv/a@b:c"))
        #expect(!SourceSpec.isURL("dir/me@host:repo"))
    }
}

@Suite struct PipelineLocatorTests {
    /// ROOT/pipelines/{hello.yaml, other.yml} and ROOT/a/b/c.
    static func withRepository(_ body: (URL) throws -> Void) throws {
        try withTemporaryFolder { root in
            let pipelines = root.appendingPathComponent("pipelines")
            try FileManager.default.createDirectory(at: pipelines, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: root.appendingPathComponent("a/b/c"), withIntermediateDirectories: true)
            try "version: 1\n".write(to: pipelines.appendingPathComponent("hello.yaml"), atomically: false, encoding: .utf8)
            try "version: 1\n".write(to: pipelines.appendingPathComponent("other.yml"), atomically: false, encoding: .utf8)
            try body(root)
        }
    }

    @Test func nameIsFoundInTheNearestPipelinesFolderAbove() throws {
        try Self.withRepository { root in
            let nested = root.appendingPathComponent("a/b/c")
            #expect(PipelineLocator.locate("hello", from: nested) == root.appendingPathComponent("pipelines/hello.yaml").path)
            #expect(PipelineLocator.locate("other", from: nested) == root.appendingPathComponent("pipelines/other.yml").path)
            #expect(PipelineLocator.locate("hello", from: root) == root.appendingPathComponent("pipelines/hello.yaml").path)
        }
    }

    @Test func existingFilePathIsReturnedAsWritten() throws {
        try Self.withRepository { root in
            #expect(PipelineLocator.locate("pipelines/hello.yaml", from: root) == "pipelines/hello.yaml")
            let absolute = root.appendingPathComponent("pipelines/hello.yaml").path
            #expect(PipelineLocator.locate(absolute, from: root.appendingPathComponent("a")) == absolute)
        }
    }

    @Test func unknownNameOrMissingPathGivesNothing() throws {
        try Self.withRepository { root in
            let nested = root.appendingPathComponent("a/b")
            #expect(PipelineLocator.locate("goodbye", from: nested) == nil)
            #expect(PipelineLocator.locate("pipelines/goodbye.yaml", from: root) == nil)
            // A folder is not a definition file.
            #expect(PipelineLocator.locate("a", from: root) == nil)
        }
    }

    @Test func knownPipelinesListsTheNearestFolderSorted() throws {
        try Self.withRepository { root in
            #expect(PipelineLocator.knownPipelines(from: root.appendingPathComponent("a/b/c")) == ["hello", "other"])
        }
    }
}
