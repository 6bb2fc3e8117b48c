import BuildCache
import Foundation
import SutradharTesting
import Testing

/// `collectGarbage` keeps what it did in `last-gc.json`, so a later reader can say what the last
/// gc evicted and why.
@Suite struct LastGCTests {
    @Test func gcRecordsWhatItEvictedAndWhyAndTheNextGCReplacesTheRecordWhole() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-lastgc") { root in
            let clock = ManualClock(Date(timeIntervalSince1970: 1_799_990_000))
            let cache = try BuildCache(root: root, now: clock.now)
            #expect(cache.lastGC() == nil)
            try cache.store(kind: "nix-build", key: CacheKey(["old"]), pipeline: "web", outputs: ["out": "/nowhere/old"], size: 600)
            clock.advance(by: 60)
            try cache.store(kind: "nix-build", key: CacheKey(["new"]), pipeline: "web", outputs: ["out": "/nowhere/new"], size: 300)
            cache.releaseHolds()
            CacheHolds.waitUntilReleased(cacheRoot: root)

            let report = try cache.collectGarbage(GCPolicy(maxSize: 500), now: Date(timeIntervalSince1970: 1_800_000_000))

            #expect(report.evicted.count == 1)
            let record = try #require(cache.lastGC())
            #expect(record.ranAt == "2027-01-15T08:00:00Z")
            #expect(record.pipeline == nil && record.maxSize == 500 && record.maxAgeSeconds == nil)
            #expect(record.evicted.map(\.key) == [CacheKey(["old"]).hex] && record.evicted.map(\.reason) == ["max-size"])
            #expect(record.evicted.first?.sizeBytes == 600 && record.remainingBytes == 300 && record.remainingEntries == 1)
            // Another process (a new BuildCache) reads the same record.
            #expect(try BuildCache(root: root).lastGC() == record)

            _ = try cache.collectGarbage(GCPolicy(maxAge: .seconds(86_400)), pipeline: "web", now: Date(timeIntervalSince1970: 1_800_000_060))
            let next = try #require(cache.lastGC())
            #expect(next.ranAt == "2027-01-15T08:01:00Z" && next.pipeline == "web" && next.maxAgeSeconds == 86_400)
            #expect(next.evicted.isEmpty && next.remainingEntries == 1)
            // Written atomically: no temporary file is left beside it.
            let names = try FileManager.default.contentsOfDirectory(atPath: root.path)
            #expect(names.filter { $0.hasPrefix(".last-gc.json") }.isEmpty, "\(names)")
        }
    }
}

