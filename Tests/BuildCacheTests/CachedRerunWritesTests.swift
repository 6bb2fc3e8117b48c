import BuildCache
import Foundation
import SutradharTesting
import Testing

/// What a cached rerun writes: nothing a result did not change, and no fsync for what it does
/// write (last-used times, the run's record), while nothing half-written is ever trusted.
@Suite struct CachedRerunWritesTests {
    @Test func closingTheIndexKeepsItsLogForTheNextOpenInsteadOfCheckpointing() throws {
        try withCacheRoot { root in
            let key = CacheKey(["kept", "in", "the", "log"])
            do {
                let cache = try BuildCache(root: root)
                try cache.store(kind: "nix-build", key: key, pipeline: "p", outputs: ["out": "/nowhere"])
            }
            // A checkpoint when the last connection closed would have fsynced the log and the
            // database, then deleted the log (and the next run would create and fsync it again).
            let log = root.appendingPathComponent("index.sqlite-wal")
            let size = try FileManager.default.attributesOfItem(atPath: log.path)[.size] as? Int ?? 0
            #expect(size > 0, "the log was checkpointed and removed at close")
            // What the log holds is what the next open reads.
            #expect(try BuildCache(root: root).records().map(\.key) == [key.hex])
        }
    }

    @Test func aCheckoutIsDoneOnlyWithBothItsFolderAndItsEntry() throws {
        try withCacheRoot { root in
            let cache = try BuildCache(root: root)
            let tree = String(repeating: "ab", count: 20)
            #expect(!cache.hasCheckout(tree: tree))
            let folder = cache.checkoutFolder(tree: tree)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try Data("x\n".utf8).write(to: folder.appendingPathComponent("file"))
            // As a run killed between renaming the folder into place and recording it leaves it.
            #expect(!cache.hasCheckout(tree: tree))
            try cache.recordCheckout(tree: tree, commit: String(repeating: "c", count: 40), source: "/src", pipeline: "p")
            #expect(cache.hasCheckout(tree: tree))
            try FileManager.default.removeItem(at: folder)
            #expect(!cache.hasCheckout(tree: tree), "an entry whose folder is gone (gc) is not a checkout")
        }
    }

    @Test(.requiresNix, .requiresDocker) func aCachedRerunNeitherRetagsTheImageNorRewritesItsEntry() async throws {
        try NixFixtures.requireNix()
        let host = try requireDockerHost()
        let workspace = try CacheWorkspace.make()
        defer { workspace.remove(dockerHost: host) }
        let pipeline = try workspace.pipeline("quiet-rerun", docker: true)

        let first = try await workspace.run(pipeline, ["--docker-host", host])
        #expect(first.exitCode == 0, first.diagnosis)
        #expect(first.cached("load") == false, first.diagnosis)
        let entries = workspace.entryFiles(kind: "docker-load")
        #expect(entries.count == 1)
        let entry = workspace.cache.appendingPathComponent("entries/docker-load/\(entries.first ?? "")")
        let written = try inode(of: entry)

        let second = try await workspace.run(pipeline, ["--docker-host", host])
        #expect(second.exitCode == 0, second.diagnosis)
        #expect(second.cached("load") == true, second.diagnosis)
        let log = loadLog(of: second)
        #expect(!log.contains { $0.hasPrefix("tagged ") }, "the tag already named the image: \(log)")
        #expect(log.contains("\(workspace.imageTag) already names it"), "\(log)")
        #expect(try inode(of: entry) == written, "the unchanged entry was written again")
        #expect(try docker(["image", "inspect", "--format", "{{.Id}}", workspace.imageTag], host: host)
                == (second.stage("load")?["outputs"] as? [String: Any])?["image"] as? String)
    }

    private func loadLog(of result: SutradharCLI.Result) -> [String] {
        result.events.filter { $0["event"] as? String == "log" && $0["stage"] as? String == "load" }
            .compactMap { $0["line"] as? String }
    }

    private func inode(of file: URL) throws -> UInt64 {
        try #require(FileManager.default.attributesOfItem(atPath: file.path)[.systemFileNumber] as? UInt64)
    }
}
