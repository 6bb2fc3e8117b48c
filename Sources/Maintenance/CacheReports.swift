import BuildCache
import Engine
import Foundation
import RunEvents

// The typed reports of `cache ls|du|verify|gc|clear`. Each is `Codable` both ways with the keys
// the CLI's `--json` has always printed; `OrderedJSONEncoder` writes them in that order, so
// `OrderedJSONEncoder().serialized(report)` is byte for byte the CLI's line.

/// One cache entry as the reports show it.
public struct CacheEntryReport: Codable, Sendable, Equatable {
    public var kind: String
    public var key: String
    public var pipeline: String
    public var sizeBytes: Int64
    /// RFC 3339 with milliseconds, UTC (`RunEvent.rfc3339`), as in the events.
    public var created: String
    /// RFC 3339 with milliseconds, UTC.
    public var lastUsed: String
    /// The entry's outputs (`out`, `image`, `tags`, `path`…), written in key order.
    public var outputs: [String: String]

    enum CodingKeys: String, CodingKey {
        case kind, key, pipeline, sizeBytes = "size_bytes", created, lastUsed = "last_used", outputs
    }

    public init(_ record: CacheRecord) {
        kind = record.kind
        key = record.key
        pipeline = record.pipeline
        sizeBytes = record.sizeBytes
        created = RunEvent.rfc3339(record.created)
        lastUsed = RunEvent.rfc3339(record.lastUsed)
        outputs = record.outputs
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind, forKey: .kind)
        try container.encode(key, forKey: .key)
        try container.encode(pipeline, forKey: .pipeline)
        try container.encode(sizeBytes, forKey: .sizeBytes)
        try container.encode(created, forKey: .created)
        try container.encode(lastUsed, forKey: .lastUsed)
        // A dictionary has no order: sorted keys keep the line the same every time.
        var outputs = container.nestedContainer(keyedBy: AnyKey.self, forKey: .outputs)
        for (name, value) in self.outputs.sorted(by: { $0.key < $1.key }) {
            try outputs.encode(value, forKey: AnyKey(name))
        }
    }
}

/// An entry that was (or, for `in_use`, would have been) evicted or dropped, and why.
public struct CacheEvictionReport: Codable, Sendable, Equatable {
    public var entry: CacheEntryReport
    public var reason: String
    /// The files removed with it.
    public var removed: [String]

    enum CodingKeys: String, CodingKey { case reason, removed }

    public init(_ eviction: Eviction) {
        entry = CacheEntryReport(eviction.record)
        reason = eviction.reason
        removed = eviction.removedPaths
    }

    public init(from decoder: any Decoder) throws {
        entry = try CacheEntryReport(from: decoder)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        reason = try container.decode(String.self, forKey: .reason)
        removed = try container.decode([String].self, forKey: .removed)
    }

    /// The entry's keys, then `reason` and `removed`, in one object.
    public func encode(to encoder: any Encoder) throws {
        try entry.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(reason, forKey: .reason)
        try container.encode(removed, forKey: .removed)
    }
}

/// `cache ls`: the entries, least recently used first.
public struct CacheListReport: Codable, Sendable, Equatable {
    public var cacheRoot: String
    public var totalBytes: Int64
    public var entries: [CacheEntryReport]

    enum CodingKeys: String, CodingKey { case cacheRoot = "cache_root", totalBytes = "total_bytes", entries }

    /// The entries of `records`, totalled.
    public init(cacheRoot: String, records: [CacheRecord]) {
        self.cacheRoot = cacheRoot
        totalBytes = records.reduce(Int64(0)) { $0 + $1.sizeBytes }
        entries = records.map(CacheEntryReport.init)
    }
}

/// `cache du`: where the space went, per kind and per pipeline.
public struct CacheUsageReport: Codable, Sendable, Equatable {
    /// One line of a breakdown; `name` is written as `kind` or `pipeline`.
    public struct Part: Sendable, Equatable {
        public var name: String
        public var bytes: Int64
        public var entries: Int
        /// What the nix-build roots keep alive in the store (`nix path-info -r`), when asked.
        public var closureBytes: Int64?
    }

    public var cacheRoot: String
    public var totalBytes: Int64
    public var kinds: [Part]
    public var pipelines: [Part]

    enum CodingKeys: String, CodingKey { case cacheRoot = "cache_root", totalBytes = "total_bytes", kinds, pipelines }
    enum PartKeys: String, CodingKey { case kind, pipeline, bytes, entries, closureBytes = "closure_bytes" }

    public init(_ usage: CacheUsage) {
        cacheRoot = usage.root
        totalBytes = usage.totalBytes
        kinds = usage.kinds.map { Part(name: $0.name, bytes: $0.bytes, entries: $0.entries, closureBytes: $0.closureBytes) }
        pipelines = usage.pipelines.map { Part(name: $0.name, bytes: $0.bytes, entries: $0.entries, closureBytes: $0.closureBytes) }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        cacheRoot = try container.decode(String.self, forKey: .cacheRoot)
        totalBytes = try container.decode(Int64.self, forKey: .totalBytes)
        func parts(_ key: CodingKeys, name: PartKeys) throws -> [Part] {
            var list = try container.nestedUnkeyedContainer(forKey: key)
            var parts: [Part] = []
            while !list.isAtEnd {
                let part = try list.nestedContainer(keyedBy: PartKeys.self)
                parts.append(Part(name: try part.decode(String.self, forKey: name), bytes: try part.decode(Int64.self, forKey: .bytes),
                                  entries: try part.decode(Int.self, forKey: .entries),
                                  closureBytes: try part.decodeIfPresent(Int64.self, forKey: .closureBytes)))
            }
            return parts
        }
        kinds = try parts(.kinds, name: .kind)
        pipelines = try parts(.pipelines, name: .pipeline)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(cacheRoot, forKey: .cacheRoot)
        try container.encode(totalBytes, forKey: .totalBytes)
        func write(_ parts: [Part], _ key: CodingKeys, name: PartKeys) throws {
            var list = container.nestedUnkeyedContainer(forKey: key)
            for part in parts {
                var object = list.nestedContainer(keyedBy: PartKeys.self)
                try object.encode(part.name, forKey: name)
                try object.encode(part.bytes, forKey: .bytes)
                try object.encode(part.entries, forKey: .entries)
                try object.encodeIfPresent(part.closureBytes, forKey: .closureBytes)
            }
        }
        try write(kinds, .kinds, name: .kind)
        try write(pipelines, .pipelines, name: .pipeline)
    }
}

/// `cache verify`: what was checked, dropped, kept although wrong, and whether images were checked.
public struct CacheVerifyReport: Codable, Sendable, Equatable {
    public var cacheRoot: String
    public var checked: Int
    public var dropped: [CacheEvictionReport]
    /// Wrong entries a live run holds: kept.
    public var inUse: [CacheEvictionReport]
    /// Entry files that could not be read, removed.
    public var unreadable: [String]
    public var imagesChecked: Bool
    /// Why images were not checked (no daemon); absent from the JSON when they were.
    public var imagesNotChecked: String?

    enum CodingKeys: String, CodingKey {
        case cacheRoot = "cache_root", checked, dropped, inUse = "in_use", unreadable, imagesChecked = "images_checked"
        case imagesNotChecked = "images_not_checked"
    }

    public init(cacheRoot: String, _ report: VerifyReport) {
        self.cacheRoot = cacheRoot
        checked = report.checked
        dropped = report.dropped.map(CacheEvictionReport.init)
        inUse = report.inUse.map(CacheEvictionReport.init)
        unreadable = report.unreadable
        imagesChecked = report.imagesChecked
        imagesNotChecked = report.imagesNotChecked
    }
}

/// `cache gc`: what was evicted, kept, swept and removed from the daemon, the mirrors and the history.
public struct CacheGCReport: Codable, Sendable, Equatable {
    public struct RemovedImage: Codable, Sendable, Equatable {
        public var id: String
        public var untagged: [String]
    }

    public struct RemovedMirror: Codable, Sendable, Equatable {
        public var path: String
        public var source: String
    }

    public struct NixGC: Codable, Sendable, Equatable {
        public var succeeded: Bool
        public var summary: String
    }

    public var cacheRoot: String
    public var evicted: [CacheEvictionReport]
    public var evictedBytes: Int64
    /// Entries beyond the limits that a live run holds: kept.
    public var inUse: [CacheEntryReport]
    /// Checkouts and GC roots no entry named, removed.
    public var orphans: [String]
    /// Whether the orphan sweep was skipped because a run was live.
    public var orphanSweepSkipped: Bool
    public var remainingBytes: Int64
    public var remainingEntries: Int
    public var removedImages: [RemovedImage]
    public var imageNotes: [String]
    public var imagesNotRemoved: String?
    public var removedMirrors: [RemovedMirror]
    public var busyMirrors: [String]
    public var mirrorsNotCollected: String?
    /// Runs pruned from the history (only with a max age).
    public var prunedRuns: Int?
    public var historyNotPruned: String?
    /// `nix store gc`, when asked for.
    public var nixGC: NixGC?

    enum CodingKeys: String, CodingKey {
        case cacheRoot = "cache_root", evicted, evictedBytes = "evicted_bytes", inUse = "in_use", orphans
        case orphanSweepSkipped = "orphan_sweep_skipped", remainingBytes = "remaining_bytes", remainingEntries = "remaining_entries"
        case removedImages = "removed_images", imageNotes = "image_notes", imagesNotRemoved = "images_not_removed"
        case removedMirrors = "removed_mirrors", busyMirrors = "busy_mirrors", mirrorsNotCollected = "mirrors_not_collected"
        case prunedRuns = "pruned_runs", historyNotPruned = "history_not_pruned", nixGC = "nix_gc"
    }

    public init(cacheRoot: String, report: GCReport, cleanup: GCCleanup, nixGC: NixStoreGC?,
                prunedRuns: Int?, historyNotPruned: String?) {
        self.cacheRoot = cacheRoot
        evicted = report.evicted.map(CacheEvictionReport.init)
        evictedBytes = report.evicted.reduce(Int64(0)) { $0 + $1.record.sizeBytes }
        inUse = report.inUse.map(CacheEntryReport.init)
        orphans = report.orphans
        orphanSweepSkipped = report.orphanSweepSkipped
        remainingBytes = report.remainingBytes
        remainingEntries = report.remainingEntries
        removedImages = cleanup.removedImages.map { RemovedImage(id: $0.id, untagged: $0.untagged) }
        imageNotes = cleanup.imageNotes
        imagesNotRemoved = cleanup.imagesNotRemoved
        removedMirrors = cleanup.removedMirrors.map { RemovedMirror(path: $0.path, source: $0.source) }
        busyMirrors = cleanup.busyMirrors
        mirrorsNotCollected = cleanup.mirrorsNotCollected
        self.prunedRuns = prunedRuns
        self.historyNotPruned = historyNotPruned
        self.nixGC = nixGC.map { NixGC(succeeded: $0.succeeded, summary: $0.summary) }
    }

    /// Every key, absent values as `null` (the CLI always printed them).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(cacheRoot, forKey: .cacheRoot)
        try container.encode(evicted, forKey: .evicted)
        try container.encode(evictedBytes, forKey: .evictedBytes)
        try container.encode(inUse, forKey: .inUse)
        try container.encode(orphans, forKey: .orphans)
        try container.encode(orphanSweepSkipped, forKey: .orphanSweepSkipped)
        try container.encode(remainingBytes, forKey: .remainingBytes)
        try container.encode(remainingEntries, forKey: .remainingEntries)
        try container.encode(removedImages, forKey: .removedImages)
        try container.encode(imageNotes, forKey: .imageNotes)
        try container.encode(imagesNotRemoved, forKey: .imagesNotRemoved)
        try container.encode(removedMirrors, forKey: .removedMirrors)
        try container.encode(busyMirrors, forKey: .busyMirrors)
        try container.encode(mirrorsNotCollected, forKey: .mirrorsNotCollected)
        try container.encode(prunedRuns, forKey: .prunedRuns)
        try container.encode(historyNotPruned, forKey: .historyNotPruned)
        try container.encode(nixGC, forKey: .nixGC)
    }
}

/// `cache clear`: what was removed.
public struct CacheClearReport: Codable, Sendable, Equatable {
    public var cacheRoot: String
    public var entries: Int
    public var bytes: Int64
    public var removed: [String]

    enum CodingKeys: String, CodingKey { case cacheRoot = "cache_root", entries, bytes, removed }

    public init(cacheRoot: String, _ report: ClearReport) {
        self.cacheRoot = cacheRoot
        entries = report.entries
        bytes = report.bytes
        removed = report.removedPaths
    }
}

/// A coding key made at run time (dictionary keys written in a chosen order).
struct AnyKey: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { return nil }
}
