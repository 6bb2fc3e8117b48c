import BuildCache
import Foundation
import Maintenance
import SutradharTesting
import Testing

/// Sizing a cache root and its parts in one walk (`DiskUsage.breakdown`), and `cache du`'s
/// numbers from it.
@Suite struct DiskUsageTests {
    @Test func oneWalkSizesEachPartAndTheRestCountingAnInodeSharedByTwoPartsOnceInTheFirst() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-du") { folder in
            let root = folder.appendingPathComponent("cache").path
            try Self.file("\(root)/checkouts/tree/file", bytes: 32_768)
            try Self.file("\(root)/runs/run-1/events.jsonl", bytes: 16_384)
            try FileManager.default.linkItem(atPath: "\(root)/checkouts/tree/file", toPath: "\(root)/runs/shared")
            try FileManager.default.createSymbolicLink(atPath: "\(root)/runs/latest", withDestinationPath: "../checkouts")
            try Self.file("\(root)/git/mirrors/m.git/objects", bytes: 8_192)
            try Self.file("\(root)/index.sqlite", bytes: 4_096)
            try Self.file("\(root)/entries/nix-build/key.json", bytes: 4_096)
            let shared = try Self.blocks("\(root)/checkouts/tree/file")
            try #require(shared > 0, "the test needs files that take blocks")

            let sizes = DiskUsage.breakdown(of: root, parts: ["git/mirrors", "checkouts", "runs", "index.sqlite", "index.sqlite-wal"])
            // The shared file counts in `checkouts` (asked for before `runs`); the symbolic link
            // counts as itself, not as the folder it points to.
            #expect(sizes.parts["checkouts"] == (try Self.blocks(root, "checkouts", "checkouts/tree", "checkouts/tree/file")))
            #expect(sizes.parts["runs"] == (try Self.blocks(root, "runs", "runs/run-1", "runs/run-1/events.jsonl", "runs/latest")))
            #expect(sizes.parts["git/mirrors"] == (try Self.blocks(root, "git/mirrors", "git/mirrors/m.git", "git/mirrors/m.git/objects")))
            #expect(sizes.parts["index.sqlite"] == (try Self.blocks(root, "index.sqlite")))
            #expect(sizes.parts["index.sqlite-wal"] == 0)
            #expect(sizes.restBytes == (try Self.blocks(root, ".", "git", "entries", "entries/nix-build", "entries/nix-build/key.json")))
            // The total is what sizing the whole root says, and every part and the rest add up to it.
            #expect(sizes.totalBytes == DiskUsage.bytes(at: root))
            #expect(sizes.parts.values.reduce(0, +) + sizes.restBytes == sizes.totalBytes)
            // Sized on its own, `runs` has the shared file too; asked for first, it keeps it.
            #expect(DiskUsage.bytes(at: "\(root)/runs") == sizes.parts["runs"]! + shared)
            let runsFirst = DiskUsage.breakdown(of: root, parts: ["runs", "checkouts"])
            #expect(runsFirst.parts["runs"] == sizes.parts["runs"]! + shared)
            #expect(runsFirst.parts["checkouts"] == sizes.parts["checkouts"]! - shared)
            #expect(runsFirst.totalBytes == sizes.totalBytes)
            let absent = DiskUsage.breakdown(of: folder.appendingPathComponent("absent").path, parts: ["runs"])
            #expect(absent.totalBytes == 0 && absent.parts == ["runs": 0])
        }
    }

    @Test func cacheUsageReportsEachPartAsSizingItAloneDid() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-du") { folder in
            let root = folder.appendingPathComponent("cache")
            let tools = try CacheTools(root: root, environment: [:])
            for run in 0..<20 {
                try Self.file(root.appendingPathComponent("runs/run-\(run)/events.jsonl").path, bytes: 4_096 * (run % 3 + 1))
            }
            try Self.file(root.appendingPathComponent("checkouts/tree/file").path, bytes: 20_000)
            try Self.file(root.appendingPathComponent("git/mirrors/web.git/HEAD").path, bytes: 9_000)
            try Self.file(root.appendingPathComponent("extra/notes").path, bytes: 5_000)
            let usage = try await tools.usage(closure: false)
            let bytes = Dictionary(uniqueKeysWithValues: usage.kinds.map { ($0.name, $0.bytes) })
            // What `cache du` reported before sizing it in one walk: each part sized on its own.
            let alone = ["mirrors": DiskUsage.bytes(at: root.appendingPathComponent("git/mirrors").path),
                         "checkouts": DiskUsage.bytes(at: root.appendingPathComponent("checkouts").path),
                         "runs": DiskUsage.bytes(at: root.appendingPathComponent("runs").path),
                         "index": ["", "-wal", "-shm"].reduce(Int64(0)) {
                             $0 + DiskUsage.bytes(at: root.appendingPathComponent("index.sqlite" + $1).path)
                         }]
            for (name, size) in alone {
                #expect(bytes[name] == size, "\(name)")
                #expect(size > 0, "\(name) is empty in the fixture")
            }
            #expect(usage.totalBytes == DiskUsage.bytes(at: root.path))
            #expect(bytes["other"] == usage.totalBytes - alone.values.reduce(0, +))
            #expect(bytes["other"]! > 0)
        }
    }

    /// Writes `bytes` bytes (not zeros, so no file system keeps them sparse) at `path`.
    static func file(_ path: String, bytes: Int) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(repeating: 0x61, count: bytes).write(to: URL(fileURLWithPath: path))
    }

    /// The bytes allocated to each path (relative to `root`; not following links), added up.
    static func blocks(_ root: String, _ paths: String...) throws -> Int64 {
        try paths.reduce(0) { $0 + (try blocks("\(root)/\($1)")) }
    }

    static func blocks(_ path: String) throws -> Int64 {
        var info = stat()
        guard lstat(path, &info) == 0 else { throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: path]) }
        return Int64(info.st_blocks) * 512
    }
}
