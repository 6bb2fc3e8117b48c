import Foundation

/// What the last garbage collection of a cache did, kept in `CACHE/last-gc.json` so a later
/// reader (the dashboard's cache page, `CacheInsights`) can say what was evicted and why after
/// the process that collected is gone. Written atomically by `collectGarbage` each time it runs
/// (`cache gc`, and a pipeline's `cache:` limits after its runs), so it is always one whole gc.
public struct LastGC: Codable, Sendable, Equatable {
    /// One entry the gc removed.
    public struct Evicted: Codable, Sendable, Equatable {
        public var kind: String
        public var key: String
        public var pipeline: String
        public var sizeBytes: Int64
        /// When the entry was last used before it was evicted, RFC 3339 UTC.
        public var lastUsed: String
        /// `max-age` or `max-size`.
        public var reason: String

        enum CodingKeys: String, CodingKey {
            case kind, key, pipeline, sizeBytes = "size_bytes", lastUsed = "last_used", reason
        }
    }

    /// When the gc ran, RFC 3339 UTC.
    public var ranAt: String
    /// The pipeline the gc was limited to (a pipeline's `cache:` limits), nil for a cache-wide gc.
    public var pipeline: String?
    /// The policy's limits: total bytes, seconds unused, entries always kept.
    public var maxSize: Int64?
    public var maxAgeSeconds: Int64?
    public var keepLast: Int?
    /// What was removed, least recently used first.
    public var evicted: [Evicted]
    /// Entries that were due but a live run held, so kept.
    public var keptInUse: Int
    public var remainingBytes: Int64
    public var remainingEntries: Int

    enum CodingKeys: String, CodingKey {
        case ranAt = "ran_at", pipeline, maxSize = "max_size", maxAgeSeconds = "max_age_seconds", keepLast = "keep_last"
        case evicted, keptInUse = "kept_in_use", remainingBytes = "remaining_bytes", remainingEntries = "remaining_entries"
    }

    /// The record of `report`, a gc run by `policy` (limited to `pipeline`) at `now`.
    public init(_ report: GCReport, policy: GCPolicy, pipeline: String?, now: Date) {
        ranAt = Self.timestamp(now)
        self.pipeline = pipeline
        maxSize = policy.maxSize
        maxAgeSeconds = policy.maxAge.map { $0.components.seconds }
        keepLast = policy.keepLast
        evicted = report.evicted.map {
            Evicted(kind: $0.record.kind, key: $0.record.key, pipeline: $0.record.pipeline, sizeBytes: $0.record.sizeBytes,
                    lastUsed: Self.timestamp($0.record.lastUsed), reason: $0.reason)
        }
        keptInUse = report.inUse.count
        remainingBytes = report.remainingBytes
        remainingEntries = report.remainingEntries
    }

    /// The bytes the evicted entries took.
    public var evictedBytes: Int64 { evicted.reduce(0) { $0 + $1.sizeBytes } }

    /// `2026-12-02T00:22:17Z`: second precision is enough for "when did gc last run".
    /// (Foundation's `ISO8601FormatStyle`: `ISO8601DateFormatter` opened an ICU formatter per
    /// call, a tenth of a 10,000-entry gc's time.)
    static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle())
    }
}

extension BuildCache {
    /// Where `collectGarbage` keeps its `LastGC` record.
    public var lastGCFile: URL { root.appendingPathComponent("last-gc.json") }

    /// What the last gc of this cache did, or nil if none has run since the record was
    /// introduced (or the file cannot be read: it is informative, never needed for a run).
    public func lastGC() -> LastGC? {
        guard let data = try? Data(contentsOf: lastGCFile) else { return nil }
        return try? JSONDecoder().decode(LastGC.self, from: data)
    }

    /// Writes `record` atomically. A gc that cannot write it has still collected: the failure
    /// is swallowed, and the next gc tries again.
    func saveLastGC(_ record: LastGC) {
        guard let data = try? JSONEncoder().encode(record) else { return }
        try? AtomicFile.write(data, to: lastGCFile)
    }
}
