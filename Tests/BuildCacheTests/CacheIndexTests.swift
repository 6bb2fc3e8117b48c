import BuildCache
import Foundation
import SutradharTesting
import Testing

/// The index, holds, gc, verify-free maintenance and crash safety of `BuildCache`, on real files
/// in temporary folders (no nix, no daemon).
@Suite struct CacheIndexTests {
    @Test func storedEntryIsIndexedWithItsSizeAndAHitUpdatesLastUsed() throws {
        try withCacheRoot { root in
            let clock = ManualClock(Date(timeIntervalSince1970: 1_800_000_000))
            let cache = try BuildCache(root: root, now: clock.now)
            let content = try makeContent(in: root, name: "product", bytes: 100_000)
            let key = CacheKey(["test", "sized"])
            try cache.store(kind: "nix-build", key: key, pipeline: "p", outputs: ["out": content.path])
            let stored = try #require(try cache.records().first)
            #expect(stored.key == key.hex && stored.kind == "nix-build" && stored.pipeline == "p")
            #expect(stored.sizeBytes >= 100_000 && stored.sizeBytes < 200_000)

            clock.advance(by: 60)
            let hit = try #require(BuildCache(root: root, now: clock.now).entry(kind: "nix-build", key: key))
            #expect(hit.outputs["out"] == content.path)
            let touched = try #require(try cache.records().first)
            #expect(abs(touched.lastUsed.timeIntervalSince(stored.lastUsed) - 60) < 0.01, "\(stored.lastUsed) then \(touched.lastUsed)")
            #expect(touched.created == stored.created)
        }
    }

    @Test func corruptIndexIsMovedAsideRebuiltFromTheEntriesAndReported() throws {
        try withCacheRoot { root in
            do {
                let cache = try BuildCache(root: root)
                try cache.store(kind: "nix-build", key: CacheKey(["a"]), pipeline: "p", outputs: ["out": "/nowhere/a"])
                try cache.store(kind: "docker-load", key: CacheKey(["b"]), pipeline: "q", outputs: ["image": "sha256:b"])
            }
            let index = root.appendingPathComponent("index.sqlite")
            try Data(repeating: 0x5a, count: 8192).write(to: index)

            let reopened = try BuildCache(root: root)
            let notice = try #require(reopened.notices.first)
            #expect(notice.contains("corrupt") && notice.contains(index.path))
            #expect(Set(try reopened.records().map(\.pipeline)) == ["p", "q"])
            let names = try FileManager.default.contentsOfDirectory(atPath: root.path)
            #expect(names.contains { $0.hasPrefix("index.sqlite.corrupt-") })
            // Recovered once: the next open finds nothing to repair.
            #expect(try BuildCache(root: root).notices.isEmpty)
        }
    }

    @Test func truncatedIndexIsRecovered() throws {
        try withCacheRoot { root in
            do {
                let cache = try BuildCache(root: root)
                for index in 0..<50 {
                    try cache.store(kind: "nix-build", key: CacheKey(["t", "\(index)"]), pipeline: "p", outputs: ["out": "/nowhere/\(index)"])
                }
            }
            let index = root.appendingPathComponent("index.sqlite")
            let handle = try FileHandle(forWritingTo: index)
            try handle.truncate(atOffset: 1500)
            try handle.close()
            let reopened = try BuildCache(root: root)
            #expect(try reopened.records().count == 50)
        }
    }

    @Test func malformedOrTornEntryFilesAreNeverTrusted() throws {
        try withCacheRoot { root in
            let cache = try BuildCache(root: root)
            let key = CacheKey(["torn"])
            let folder = root.appendingPathComponent("entries/nix-build")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let file = folder.appendingPathComponent("\(key.hex).json")
            try Data("{\"key\":\"\(key.hex)\",\"kind\":\"nix-bu".utf8).write(to: file)
            // A temporary file as a writer killed mid-write leaves it.
            let temporary = folder.appendingPathComponent(".\(key.hex).json.99999.1.tmp")
            try Data("{".utf8).write(to: temporary)

            #expect(cache.entry(kind: "nix-build", key: key) == nil)
            #expect(!FileManager.default.fileExists(atPath: file.path))
            cache.releaseHolds()
            waitUntilNothingIsLocked(in: root.appendingPathComponent("locks"))
            let report = try cache.collectGarbage(GCPolicy())
            #expect(report.orphans.contains(temporary.path))
            #expect(!FileManager.default.fileExists(atPath: temporary.path))
        }
    }

    @Test func gcEvictsLeastRecentlyUsedUnderTheLimitButNeverWhatALiveRunHolds() throws {
        try withCacheRoot { root in
            // The entries were last used an hour ago, a second apart, oldest first.
            let clock = ManualClock(Date().addingTimeInterval(-3600))
            let writer = try BuildCache(root: root, now: clock.now)
            var keys: [CacheKey] = []
            for index in 0..<4 {
                let key = CacheKey(["lru", "\(index)"])
                let content = try makeContent(in: root, name: "content-\(index)", bytes: 64 * 1024)
                try writer.store(kind: "nix-build", key: key, pipeline: "p", outputs: ["out": content.path])
                try symlink(root.appendingPathComponent("nix/roots/p-image-\(key.short)"), to: content)
                keys.append(key)
                clock.advance(by: 1)
            }
            // Attestations of two results: each goes with its entry, and stays while it is kept.
            let attestations = keys[0...1].map { writer.attestationFolder(kind: "nix-build", key: $0.hex) }
            for folder in attestations {
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                try Data("{}".utf8).write(to: folder.appendingPathComponent("provenance.json"))
            }
            writer.releaseHolds()
            waitUntilNothingIsLocked(in: root.appendingPathComponent("locks"))
            // Another "run" (its own holds) uses the oldest entry.
            let run = try BuildCache(root: root)
            #expect(run.entry(kind: "nix-build", key: keys[0]) != nil)
            // Using it made it the most recent: make keys[1] the one in use instead, stale.
            let limit = try #require(try run.records().first).sizeBytes
            let gc = try BuildCache(root: root)
            let report = try gc.collectGarbage(GCPolicy(maxSize: limit))

            #expect(report.inUse.isEmpty)  // the held entry is the most recent: within the limit
            #expect(Set(report.evicted.map(\.record.key)) == Set(keys[1...3].map(\.hex)))
            #expect(report.remainingBytes <= limit)
            #expect(try gc.records().map(\.key) == [keys[0].hex])
            for key in keys[1...3] {
                #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent("nix/roots/p-image-\(key.short)").path))
            }
            #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("nix/roots/p-image-\(keys[0].short)").path))
            #expect(FileManager.default.fileExists(atPath: attestations[0].appendingPathComponent("provenance.json").path))
            #expect(!FileManager.default.fileExists(atPath: attestations[1].path))
            #expect(report.evicted.contains { $0.removedPaths.contains(attestations[1].path) })

            // Now it must go (limit 0), but the run still holds it: kept, and said so.
            let again = try gc.collectGarbage(GCPolicy(maxSize: 0))
            #expect(again.evicted.isEmpty)
            #expect(again.inUse.map(\.key) == [keys[0].hex])
            #expect(run.entry(kind: "nix-build", key: keys[0]) != nil)
            // Once the run ends, it can be evicted.
            run.releaseHolds()
            waitUntilNothingIsLocked(in: root.appendingPathComponent("locks"))
            #expect(try gc.collectGarbage(GCPolicy(maxSize: 0)).evicted.map(\.record.key) == [keys[0].hex])
            #expect(!FileManager.default.fileExists(atPath: attestations[0].path))
        }
    }

    @Test func maxAgeEvictsOnlyEntriesUnusedForLongerAndKeepLastProtectsTheNewest() throws {
        try withCacheRoot { root in
            let cache = try BuildCache(root: root)
            for index in 0..<3 {
                try cache.store(kind: "docker-load", key: CacheKey(["age", "\(index)"]), pipeline: "p", outputs: ["image": "sha256:\(index)"])
            }
            cache.releaseHolds()
            waitUntilNothingIsLocked(in: root.appendingPathComponent("locks"))
            let future = Date().addingTimeInterval(3600)
            let kept = try cache.collectGarbage(GCPolicy(maxAge: .seconds(7200)), now: future)
            #expect(kept.evicted.isEmpty)
            let report = try cache.collectGarbage(GCPolicy(maxAge: .seconds(60), keepLast: 1), now: future)
            #expect(report.evicted.count == 2)
            #expect(report.evicted.allSatisfy { $0.reason == "max-age" })
            #expect(try cache.records().map(\.key) == [CacheKey(["age", "2"]).hex])
        }
    }

    @Test func pipelineScopedGCTouchesOnlyThatPipeline() throws {
        try withCacheRoot { root in
            let cache = try BuildCache(root: root)
            let content = try makeContent(in: root, name: "shared", bytes: 8192)
            try cache.store(kind: "nix-build", key: CacheKey(["mine"]), pipeline: "mine", outputs: ["out": content.path])
            try cache.store(kind: "nix-build", key: CacheKey(["theirs"]), pipeline: "theirs", outputs: ["out": content.path])
            cache.releaseHolds()
            waitUntilNothingIsLocked(in: root.appendingPathComponent("locks"))
            let report = try cache.collectGarbage(GCPolicy(maxSize: 0), pipeline: "mine")
            #expect(report.inUse.isEmpty, "held: \(report.inUse.map(\.pipeline))")
            #expect(report.evicted.map(\.record.pipeline) == ["mine"])
            #expect(try cache.records().map(\.pipeline) == ["theirs"])
        }
    }

    @Test func evictingACheckoutRemovesItsFolderAndOrphanedCheckoutsGoWhenNoRunIsLive() throws {
        try withCacheRoot { root in
            let cache = try BuildCache(root: root)
            let tree = String(repeating: "ab", count: 20)
            let folder = cache.checkoutFolder(tree: tree)
            try FileManager.default.createDirectory(at: folder.appendingPathComponent("src"), withIntermediateDirectories: true)
            try Data(count: 10_000).write(to: folder.appendingPathComponent("src/file"))
            try cache.recordCheckout(tree: tree, commit: String(repeating: "c", count: 40), source: "/src", pipeline: "p")
            let record = try #require(try cache.records().first)
            #expect(record.kind == BuildCache.checkoutKind && record.sizeBytes >= 10_000)

            let orphan = cache.checkoutFolder(tree: String(repeating: "ef", count: 20))
            try FileManager.default.createDirectory(at: orphan, withIntermediateDirectories: true)
            let run = try BuildCache(root: root)
            run.holdRunLock()
            let whileLive = try BuildCache(root: root).collectGarbage(GCPolicy())
            #expect(whileLive.orphanSweepSkipped)
            #expect(FileManager.default.fileExists(atPath: orphan.path))
            run.releaseHolds()

            cache.releaseHolds()
            waitUntilNothingIsLocked(in: root.appendingPathComponent("locks"))
            let report = try cache.collectGarbage(GCPolicy(maxSize: 0))
            #expect(report.evicted.first?.removedPaths.contains(folder.path) == true)
            #expect(!FileManager.default.fileExists(atPath: folder.path))
            #expect(report.orphans.contains(orphan.path))
            #expect(!FileManager.default.fileExists(atPath: orphan.path))
        }
    }

    @Test func clearIsRefusedWhileARunIsLiveAndOtherwiseKeepsTheRootAndHistory() throws {
        try withCacheRoot { root in
            let cache = try BuildCache(root: root)
            try cache.store(kind: "docker-load", key: CacheKey(["c"]), pipeline: "p", outputs: ["image": "sha256:c"])
            try FileManager.default.createDirectory(at: cache.folder(.mirrors).appendingPathComponent("x.git"), withIntermediateDirectories: true)
            try Data("history".utf8).write(to: cache.folder(.runs).appendingPathComponent("history.sqlite"))
            let run = try BuildCache(root: root)
            run.holdRunLock()
            #expect { try cache.clear() } throws: { ($0 as? CacheError)?.code == .busy }
            run.releaseHolds()
            cache.releaseHolds()
            waitUntilNothingIsLocked(in: root.appendingPathComponent("locks"))

            let report = try cache.clear()
            #expect(report.entries == 1)
            #expect(try cache.records().isEmpty)
            #expect(FileManager.default.fileExists(atPath: root.path))
            #expect(try FileManager.default.contentsOfDirectory(atPath: cache.folder(.mirrors).path).isEmpty)
            #expect(FileManager.default.fileExists(atPath: cache.folder(.runs).appendingPathComponent("history.sqlite").path))
            #expect(try BuildCache(root: root).entry(kind: "docker-load", key: CacheKey(["c"])) == nil)
        }
    }

    @Test func fileErrorsAreDescribedInAFewWordsNotAsFoundationDumps() {
        let denied = NSError(domain: NSCocoaErrorDomain, code: NSFileWriteNoPermissionError,
                             userInfo: [NSUnderlyingErrorKey: NSError(domain: NSPOSIXErrorDomain, code: Int(EACCES))])
        #expect(CacheError.describe(denied) == "Permission denied")
        #expect(CacheError.describe(NSError(domain: NSCocoaErrorDomain, code: NSFileWriteNoPermissionError)) == "Permission denied")
        #expect(CacheError.describe(NSError(domain: NSCocoaErrorDomain, code: NSFileWriteOutOfSpaceError)) == "No space left on device")
        #expect(CacheError.describe(POSIXError(.EROFS)) == "Read-only file system")
    }

    @Test(.requiresRoot) func aFullDiskFailsTheStoreWithAClearErrorAndLeavesNoPartialEntry() throws {
        try withCacheRoot { root in
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            try mountTmpfs(at: root, size: "1m")
            defer { _ = try? runTool("/bin/umount", ["-l", root.path]) }
            let cache = try BuildCache(root: root)
            let key = CacheKey(["full"])
            let filler = root.appendingPathComponent("filler")
            _ = try? runTool("/bin/dd", ["if=/dev/zero", "of=\(filler.path)", "bs=4k"])

            #expect {
                try cache.store(kind: "nix-build", key: key, pipeline: "p", outputs: ["out": "/nowhere", "padding": String(repeating: "x", count: 8192)])
            } throws: { error in
                guard let error = error as? CacheError else { return false }
                return error.code == .diskFull && error.message.contains(root.path)
            }
            let folder = root.appendingPathComponent("entries/nix-build")
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).isEmpty)
            #expect(cache.entry(kind: "nix-build", key: key) == nil)

            try FileManager.default.removeItem(at: filler)
            try cache.store(kind: "nix-build", key: key, pipeline: "p", outputs: ["out": "/nowhere"])
            #expect(cache.entry(kind: "nix-build", key: key)?.outputs["out"] == "/nowhere")
        }
    }

    @Test func severalProcessesWriteTheIndexAtOnce() async throws {
        // Each `sutradhar cache ls` opens the index (WAL, busy timeout) while this process writes.
        try await withCacheRootAsync { root in
            let cache = try BuildCache(root: root)
            let listers = try (0..<4).map { _ in
                try SutradharCLI.start(["cache", "ls", "--json", "--cache-dir", root.path])
            }
            for index in 0..<40 {
                try cache.store(kind: "docker-load", key: CacheKey(["many", "\(index)"]), pipeline: "p", outputs: ["image": "sha256:\(index)"])
            }
            for lister in listers {
                let result = await lister.finish(timeout: .seconds(60))
                #expect(result.exitCode == 0, "\(result.stderr)")
                #expect(result.stdout.contains("\"entries\""))
            }
            #expect(try cache.records().count == 40)
        }
    }
}

// MARK: Helpers

/// Runs `body` with a fresh cache root in a temporary folder, removed afterwards.
func withCacheRoot(_ body: (URL) throws -> Void) throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sutradhar-cache-test-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: folder) }
    try body(folder.appendingPathComponent("cache"))
}

/// `withCacheRoot` for async bodies.
func withCacheRootAsync(_ body: (URL) async throws -> Void) async throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sutradhar-cache-test-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: folder) }
    try await body(folder.appendingPathComponent("cache"))
}

/// A file of `bytes` bytes beside the cache root, standing in for a store path.
/// Waits (up to 2 s each) until every lock file under `folder` can be taken exclusively.
/// Call it after releasing holds, before a gc that expects them free: other tests in this
/// process spawn children all the time, and a child shares this process's open lock files from
/// its fork until its exec closes them (O_CLOEXEC), so a just-released lock can stay taken for
/// that moment.
func waitUntilNothingIsLocked(in folder: URL) {
    guard let files = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: [.isRegularFileKey]) else { return }
    for case let file as URL in files where (try? file.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
        let deadline = ContinuousClock.now + .seconds(2)
        while ContinuousClock.now < deadline {
            let descriptor = open(file.path, O_RDWR | O_CLOEXEC)
            guard descriptor >= 0 else { break }
            let free = flock(descriptor, LOCK_EX | LOCK_NB) == 0
            close(descriptor)
            if free { break }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }
}

func makeContent(in root: URL, name: String, bytes: Int) throws -> URL {
    let url = root.deletingLastPathComponent().appendingPathComponent("content/\(name)")
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try Data((0..<bytes).map { UInt8(truncatingIfNeeded: $0 &* 31) }).write(to: url)
    return url
}

func symlink(_ link: URL, to target: URL) throws {
    try FileManager.default.createDirectory(at: link.deletingLastPathComponent(), withIntermediateDirectories: true)
    try FileManager.default.createSymbolicLink(at: link, withDestinationURL: target)
}
