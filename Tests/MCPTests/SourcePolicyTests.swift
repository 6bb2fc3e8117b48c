import Foundation
import SutradharKit
import SutradharTesting
import Testing

/// Which folders a `source` from a tool call may name.
@Suite struct SourcePolicyTests {
    @Test func nothingIsAllowedByDefault() async throws {
        #expect(throws: SourceRefused.self) { try SourcePolicy(allowed: []).check("/tmp") }
    }

    @Test func foldersUnderAnAllowedPathAreAcceptedAndOthersRefused() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-policy") { base in
            let allowed = base.appendingPathComponent("trees")
            try FileManager.default.createDirectory(at: allowed.appendingPathComponent("a"), withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: base.appendingPathComponent("trees-evil"), withIntermediateDirectories: true)
            let policy = SourcePolicy(allowed: [allowed.path])
            #expect(try policy.check(allowed.appendingPathComponent("a").path) == allowed.appendingPathComponent("a").resolvingSymlinksInPath().path)
            // A sibling whose name starts with the allowed one's is not under it.
            #expect(throws: SourceRefused.self) { try policy.check(base.appendingPathComponent("trees-evil").path) }
            #expect(throws: SourceRefused.self) { try policy.check(allowed.path + "/../trees-evil") }
            #expect(throws: SourceRefused.self) { try policy.check("https://example.com/repo.git") }
            #expect(throws: SourceRefused.self) { try policy.check("git@example.com:repo.git") }
        }
    }

    @Test func aSymbolicLinkOutOfAnAllowedFolderIsRefused() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-policy") { base in
            let allowed = base.appendingPathComponent("trees")
            try FileManager.default.createDirectory(at: allowed, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(at: allowed.appendingPathComponent("escape"), withDestinationURL: URL(fileURLWithPath: "/etc"))
            #expect(throws: SourceRefused.self) { try SourcePolicy(allowed: [allowed.path]).check(allowed.appendingPathComponent("escape").path) }
        }
    }
}

/// A folder that only points at a repository elsewhere: the repository is checked, not the folder.
@Suite struct SourcePolicyRepositoryTests {
    @Test func aGitFilePointingOutOfTheAllowedFoldersIsRefused() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-policy") { base in
            let allowed = base.appendingPathComponent("trees")
            let elsewhere = base.appendingPathComponent("private/repo.git")
            try FileManager.default.createDirectory(at: allowed.appendingPathComponent("linked"), withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
            try Data("gitdir: \(elsewhere.path)\n".utf8).write(to: allowed.appendingPathComponent("linked/.git"))
            let policy = SourcePolicy(allowed: [allowed.path])
            let error = #expect(throws: SourceRefused.self) { try policy.check(allowed.appendingPathComponent("linked").path) }
            #expect(error?.message.contains("gitdir") == true, "\(String(describing: error))")

            // Relative, and pointing inside the allowed folder: fine.
            try FileManager.default.createDirectory(at: allowed.appendingPathComponent("real.git"), withIntermediateDirectories: true)
            try Data("gitdir: ../real.git\n".utf8).write(to: allowed.appendingPathComponent("linked/.git"))
            #expect(throws: Never.self) { try policy.check(allowed.appendingPathComponent("linked").path) }
        }
    }

    @Test func aCommondirOrAlternatesOutOfTheAllowedFoldersIsRefused() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-policy") { base in
            let allowed = base.appendingPathComponent("trees")
            let gitFolder = allowed.appendingPathComponent("work/.git")
            try FileManager.default.createDirectory(at: gitFolder.appendingPathComponent("objects/info"), withIntermediateDirectories: true)
            let policy = SourcePolicy(allowed: [allowed.path])
            #expect(throws: Never.self) { try policy.check(allowed.appendingPathComponent("work").path) }

            try Data("\(base.path)/private/objects\n".utf8).write(to: gitFolder.appendingPathComponent("objects/info/alternates"))
            let alternates = #expect(throws: SourceRefused.self) { try policy.check(allowed.appendingPathComponent("work").path) }
            #expect(alternates?.message.contains("alternates") == true)

            try FileManager.default.removeItem(at: gitFolder.appendingPathComponent("objects/info/alternates"))
            try Data("../../../private\n".utf8).write(to: gitFolder.appendingPathComponent("commondir"))
            let common = #expect(throws: SourceRefused.self) { try policy.check(allowed.appendingPathComponent("work").path) }
            #expect(common?.message.contains("commondir") == true)
        }
    }
}

/// Bounded windows of a stage's log.
@Suite struct StageLogWindowTests {
    @Test func aWindowIsAtMost64KiBAndSaysWhereToContinue() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-log") { base in
            let file = base.appendingPathComponent("big.log")
            try Data(String(repeating: "0123456789abcdef\n", count: 10_000).utf8).write(to: file)
            let first = StageLogWindow.read(file, offset: 0, limit: 1_000_000)
            #expect(first.text.utf8.count == StageLogWindow.maximumBytes)
            #expect(!first.complete)
            var offset = first.nextOffset
            var total = first.text.utf8.count
            while true {
                let next = StageLogWindow.read(file, offset: offset)
                total += next.text.utf8.count
                offset = next.nextOffset
                if next.complete { break }
            }
            #expect(total == 170_000)
        }
    }

    @Test func neitherEndCutsACharacter() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-log") { base in
            let file = base.appendingPathComponent("utf8.log")
            try Data("aéb€c\n".utf8).write(to: file)  // a(1) é(2) b(1) €(3) c(1) \n(1)
            let cut = StageLogWindow.read(file, offset: 0, limit: 2)
            #expect(cut.text == "a")
            #expect(cut.nextOffset == 1)
            // Starting inside é moves on to b; the limit bounds the text it answers with.
            let inside = StageLogWindow.read(file, offset: 2, limit: 4)
            #expect(inside.text == "b€")
            #expect(inside.offset == 3)
            #expect(inside.nextOffset == 7)
            #expect(StageLogWindow.tail(file, lines: 1).text == "aéb€c\n")
        }
    }
}
