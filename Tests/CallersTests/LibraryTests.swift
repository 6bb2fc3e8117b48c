import Engine
import FileWatching
import Foundation
import GitMirror
import SutradharTesting
import Testing

/// The library pieces behind the callers, tested directly with real repositories and real
/// inotify: the mirror's commit log and the debounced file watcher.
@Suite struct LibraryTests {
    @Test func commitLogListsTheCommitsSinceAnotherNewestFirst() async throws {
        try await GitFixtures.withTemporaryDirectory { folder in
            let repository = try GitFixtureRepository(at: folder.appendingPathComponent("repo"))
            let first = try repository.commit("first", files: ["a": "1"])
            try repository.commit("second", files: ["a": "2"])
            try repository.commit("third: a subject\n\nand a body that is not part of it", files: ["a": "3"])
            let mirror = GitMirror(source: repository.directory.path, mirrorsRoot: folder.appendingPathComponent("mirrors"))
            let head = try await mirror.resolve(ref: "main", progress: { _ in }).sha

            let log = try await mirror.commits(from: first, to: head)
            let limited = try await mirror.commits(from: nil, to: head, limit: 1)
            let none = try await mirror.commits(from: head, to: head)

            #expect(log.total == 2)
            #expect(log.commits.map(\.subject) == ["third: a subject", "second"])
            #expect(log.commits.first?.sha == head)
            #expect(log.commits.allSatisfy { $0.author == "Fixture Author" })
            #expect(limited.total == 3 && limited.commits.count == 1)
            #expect(none.total == 0 && none.commits.isEmpty)
            await #expect(throws: GitError.self) {
                try await mirror.commits(from: String(repeating: "0", count: 40), to: head)
            }
        }
    }

    @Test func commitLogOfAMissingMirrorSaysToRunFirst() async throws {
        try await GitFixtures.withTemporaryDirectory { folder in
            let mirror = GitMirror(source: "/nowhere/repo", mirrorsRoot: folder)
            let error = await #expect(throws: GitError.self) { try await mirror.commits(from: nil, to: "main") }
            #expect(error?.code == .unknownRef)
            #expect(error?.message.contains("run the pipeline once first") == true)
        }
    }

    @Test func watcherDebouncesABurstIntoOneBatchAndSeesNewFolders() async throws {
        try await GitFixtures.withTemporaryDirectory { folder in
            try FileManager.default.createDirectory(at: folder.appendingPathComponent(".git"), withIntermediateDirectories: true)
            // A debounce well above the burst's gaps, so a loaded machine still sees one burst as one batch.
            // The reader tells the writer when it has the batch with the burst's last write: the later
            // write then lands in a batch of its own without guessing how long the debounce takes.
            let (burstSeen, burstSeenContinuation) = AsyncStream<Void>.makeStream()
            let batches = try await FileWatcher.withChanges(under: folder, debounce: .seconds(1)) { changes in
                try await withThrowingTaskGroup(of: [FileChanges]?.self) { group in
                    group.addTask {
                        var seen: [FileChanges] = []
                        for await batch in changes {
                            seen.append(batch)
                            if batch.paths.contains("new/deeper/last.txt") { burstSeenContinuation.yield() }
                            if batch.paths.contains("top.txt") { break }
                        }
                        return seen
                    }
                    group.addTask {
                        // A burst of writes 50 ms apart (well inside the debounce: they shape the burst,
                        // they do not wait for anything), in a folder made after the watch began.
                        let sub = folder.appendingPathComponent("new/deeper")
                        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
                        try await Task.sleep(for: .milliseconds(50))
                        for index in 0..<5 {
                            try Data("\(index)".utf8).write(to: sub.appendingPathComponent("file.txt"))
                            try await Task.sleep(for: .milliseconds(50))
                        }
                        try Data("last".utf8).write(to: sub.appendingPathComponent("last.txt"))
                        // git's own writes are not changes.
                        try Data("x".utf8).write(to: folder.appendingPathComponent(".git/index"))
                        for await _ in burstSeen { break }
                        try Data("later".utf8).write(to: folder.appendingPathComponent("top.txt"))
                        return nil
                    }
                    group.addTask {
                        // Not a wait but a bound, generous for a loaded machine: if the reader misses a
                        // batch, the empty answer fails the test instead of hanging it.
                        try await Task.sleep(for: .seconds(60))
                        return []
                    }
                    var first: [FileChanges] = []
                    while let next = try await group.next() {
                        if let next { first = next; break }
                    }
                    group.cancelAll()
                    burstSeenContinuation.finish()
                    return first
                }
            }
            // The burst comes before the later write, in as few batches as the machine's load allows
            // (on an idle machine one; a loaded CI machine may split it at a slow step).
            #expect(batches.count >= 2, "\(batches.map(\.paths))")
            #expect(batches.dropLast().flatMap(\.paths).contains("new/deeper/file.txt"), "\(batches.map(\.paths))")
            #expect(batches.dropLast().flatMap(\.paths).contains("new/deeper/last.txt"), "\(batches.map(\.paths))")
            #expect(batches.allSatisfy { !$0.paths.contains { $0.hasPrefix(".git") } }, "\(batches.map(\.paths))")
            #expect(batches.last?.paths == ["top.txt"], "\(batches.map(\.paths))")
        }
    }

    @Test func watchingAMissingFolderFailsWithAClearError() async throws {
        let error = await #expect(throws: CallerError.self) {
            try await FileWatcher.withChanges(under: URL(fileURLWithPath: "/nonexistent/sutradhar-watch"), debounce: .milliseconds(10)) { _ in }
        }
        #expect(error?.code == .watchFailed)
        #expect(error?.description.contains("/nonexistent/sutradhar-watch") == true)
    }
}
