import Foundation

/// What `reconcile()` changed to make the index match the entry files.
public struct ReconcileReport: Sendable {
    /// Entries found on disk that the index lacked (now indexed).
    public var indexed: Int = 0
    /// Index rows whose entry file is gone (now forgotten).
    public var forgotten: Int = 0
    /// Entry files that could not be read or decoded (now removed), by path.
    public var unreadable: [String] = []
}

/// Limits for `collectGarbage`: an entry is evicted if it is older than `maxAge` (by last use)
/// or while the entries in scope take more than `maxSize`, least recently used first; the
/// `keepLast` most recently used entries in scope are never evicted.
public struct GCPolicy: Sendable, Hashable {
    /// Total bytes the entries in scope may take; 0 evicts every entry, sized or not.
    public var maxSize: Int64?
    /// How long an entry may go unused.
    public var maxAge: Duration?
    /// How many of the most recently used entries are always kept.
    public var keepLast: Int?

    /// Creates a policy; no limit evicts nothing.
    public init(maxSize: Int64? = nil, maxAge: Duration? = nil, keepLast: Int? = nil) {
        self.maxSize = maxSize
        self.maxAge = maxAge
        self.keepLast = keepLast
    }

    /// Whether the policy evicts anything at all.
    public var hasLimit: Bool { maxSize != nil || maxAge != nil }
}

/// One entry gc (or verify) removed.
public struct Eviction: Sendable {
    /// The entry as the index had it.
    public let record: CacheRecord
    /// Why it was removed (`max-age`, `max-size`, or what verify found).
    public let reason: String
    /// The paths removed with it (entry file, GC roots, attestations, checkout folder).
    public let removedPaths: [String]

    /// Creates the record of an eviction.
    public init(record: CacheRecord, reason: String, removedPaths: [String]) {
        self.record = record
        self.reason = reason
        self.removedPaths = removedPaths
    }
}

/// What `collectGarbage` did.
public struct GCReport: Sendable {
    /// Entries removed, least recently used first.
    public var evicted: [Eviction] = []
    /// Entries that were due but are held by a live run, so kept.
    public var inUse: [CacheRecord] = []
    /// Orphans removed: checkouts and GC roots no entry names, temporary files of dead writers.
    public var orphans: [String] = []
    /// Set when orphans were not looked for because a run was live (they may be its work in progress).
    public var orphanSweepSkipped = false
    /// Bytes the entries in scope take after gc.
    public var remainingBytes: Int64 = 0
    /// Entries in scope after gc.
    public var remainingEntries = 0
    /// What the index repair found first.
    public var reconciled = ReconcileReport()
}

/// What removing one entry came to.
public enum EvictionOutcome: Sendable {
    /// Removed, with these paths.
    case evicted([String])
    /// A live run holds it: untouched.
    case inUse
}

/// What `clear()` removed.
public struct ClearReport: Sendable {
    /// Entries forgotten.
    public let entries: Int
    /// Bytes the removed files took.
    public let bytes: Int64
    /// The top-level paths removed.
    public let removedPaths: [String]
}

extension BuildCache {
    /// Every indexed entry, least recently used first.
    /// - Throws: `CacheError` if the index cannot be read.
    public func records() throws(CacheError) -> [CacheRecord] {
        do {
            return try index.all()
        } catch {
            throw CacheError.from(error, doing: "read the cache index \(index.url.path)", root: root)
        }
    }

    /// Makes the index match the entry files, the truth: indexes entries it lacks (sized from
    /// their file or by walking their content; last used = the file's modification time),
    /// forgets rows whose file is gone, and removes entry files that cannot be decoded.
    /// - Throws: `CacheError` if the index cannot be written.
    @discardableResult
    public func reconcile() throws(CacheError) -> ReconcileReport {
        var report = ReconcileReport()
        let onDisk = entryFiles()
        let indexed = Set(try records().map { "\($0.kind)/\($0.key)" })
        var missing: [CacheRecord] = []
        for (kind, key, url) in onDisk where !indexed.contains("\(kind)/\(key)") {
            guard let data = try? Data(contentsOf: url) else { continue }  // removed meanwhile
            guard let entry = CacheEntry.decode(data), entry.kind == kind, entry.key == key else {
                try? FileManager.default.removeItem(at: url)
                report.unreadable.append(url.path)
                continue
            }
            let modified = (try? url.resourceValues(forKeys: [.contentModificationDateKey]))?.contentModificationDate
            missing.append(entry.record(sizeBytes: entry.size ?? Self.measure(entry.outputs), lastUsed: modified ?? entry.created))
        }
        let present = Set(onDisk.map { "\($0.kind)/\($0.key)" })
        // A row whose file was not listed may belong to an entry stored since the listing (a
        // concurrent run): only rows whose file is still absent now are stale.
        let stale = try records()
            .filter { !present.contains("\($0.kind)/\($0.key)") }
            .filter { !FileManager.default.fileExists(atPath: entryURL(kind: $0.kind, key: $0.key).path) }
            .map { (kind: $0.kind, key: $0.key) }
        do {
            try index.upsert(missing)
            try index.delete(stale)
        } catch {
            throw CacheError.from(error, doing: "update the cache index \(index.url.path)", root: root)
        }
        report.indexed = missing.count
        report.forgotten = stale.count
        return report
    }

    /// `(kind, key, url)` of every entry file (temporary files excluded).
    private func entryFiles() -> [(kind: String, key: String, url: URL)] {
        let fileManager = FileManager.default
        let kinds = (try? fileManager.contentsOfDirectory(atPath: folder(.entries).path)) ?? []
        return kinds.filter { !$0.hasPrefix(".") }.flatMap { kind -> [(kind: String, key: String, url: URL)] in
            let kindFolder = folder(.entries).appendingPathComponent(kind)
            let names = (try? fileManager.contentsOfDirectory(atPath: kindFolder.path)) ?? []
            return names.filter { !$0.hasPrefix(".") && $0.hasSuffix(".json") }.map { name in
                (kind: kind, key: String(name.dropLast(5)), url: kindFolder.appendingPathComponent(name))
            }
        }
    }

    /// The GC roots (out-links under `nix/roots`) of the entry with this key: their names end in
    /// `-` and the key's first 16 hex digits.
    public func gcRoots(of record: CacheRecord) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder(.nixRoots).path)) ?? []
        return names.filter { $0.hasSuffix("-" + record.shortKey) }.map { folder(.nixRoots).appendingPathComponent($0) }
    }

    /// Removes one entry unless a live run holds it: takes its hold lock exclusively without
    /// waiting, then removes the entry file, its index row, its GC roots and, for a checkout,
    /// its folder (renamed aside first, so a crash never leaves half a tree under its name).
    public func evict(_ record: CacheRecord) -> EvictionOutcome {
        evict(record, roots: gcRoots(of: record), deletingIndexRow: true)
    }

    /// `evict(_:)` with the entry's GC roots already found, and its index row left for the
    /// caller to delete with others in one transaction when `deletingIndexRow` is false.
    private func evict(_ record: CacheRecord, roots: [URL], deletingIndexRow: Bool) -> EvictionOutcome {
        let lockPath = holdPath(kind: record.kind, key: record.key)
        guard case .locked(let descriptor) = LockFiles.acquire(lockPath, exclusive: true, blocking: false) else {
            return .inUse
        }
        var aside: URL?
        // A checkout renamed aside is deleted after the lock is released: a run waiting for
        // this entry's hold waits for a rename, not for a whole tree to be deleted.
        defer {
            close(descriptor)
            if let aside { deleteAside(aside) }
        }
        var removed: [String] = []
        let url = entryURL(kind: record.kind, key: record.key)
        if (try? FileManager.default.removeItem(at: url)) != nil { removed.append(url.path) }
        if deletingIndexRow { try? index.delete([(kind: record.kind, key: record.key)]) }
        for link in roots where unlink(link.path) == 0 {
            removed.append(link.path)
        }
        // An attestation is about this result: it goes with it (runs keep their own links).
        let attestations = attestationFolder(kind: record.kind, key: record.key)
        if (try? FileManager.default.removeItem(at: attestations)) != nil { removed.append(attestations.path) }
        if record.kind == Self.checkoutKind, let tree = record.outputs["tree"], !tree.isEmpty, !tree.contains("/") {
            let folder = checkoutFolder(tree: tree)
            aside = moveAside(folder)
            if aside != nil { removed.append(folder.path) }
        }
        // Removed while held exclusively: a run waiting on the old file relocks the new one.
        unlink(lockPath)
        return .evicted(removed)
    }

    /// Whether some process holds the run lock (a run is live on this cache).
    public var hasLiveRun: Bool {
        guard case .locked(let descriptor) = LockFiles.acquire(runsLockPath, exclusive: true, blocking: false) else { return true }
        close(descriptor)
        return false
    }

    /// Evicts entries (of `pipeline` only, if given) by `policy`, least recently used first,
    /// skipping what live runs hold; then, for a cache-wide gc with no run live, removes orphans:
    /// checkout folders and GC roots no entry names, and temporary files of writers that died.
    /// What it did is kept in `lastGCFile` (see `lastGC()`).
    /// - Throws: `CacheError` if the index cannot be read or repaired.
    public func collectGarbage(_ policy: GCPolicy, pipeline: String? = nil, now: Date = Date()) throws(CacheError) -> GCReport {
        var report = GCReport()
        report.reconciled = try reconcile()
        let inScope = try records().filter { pipeline == nil || $0.pipeline == pipeline }
        let protected = Set(inScope.suffix(max(0, policy.keepLast ?? 0)).map { "\($0.kind)/\($0.key)" })
        var total = inScope.reduce(Int64(0)) { $0 + $1.sizeBytes }
        var count = inScope.count
        let cutoff = policy.maxAge.map { now.addingTimeInterval(-Double($0.components.seconds) - Double($0.components.attoseconds) / 1e18) }
        // One listing of the GC roots for the whole gc, not one per entry.
        let rootNames = (try? FileManager.default.contentsOfDirectory(atPath: folder(.nixRoots).path)) ?? []
        let rootsByShortKey = Dictionary(grouping: rootNames.filter { $0.contains("-") }) { String($0.split(separator: "-").last ?? "") }
            .mapValues { $0.map { folder(.nixRoots).appendingPathComponent($0) } }
        // The evicted entries' index rows go in one transaction at the end: one commit (and
        // fsync) instead of one per entry, which was most of a 10,000-entry gc's time. A run
        // that stores the same key meanwhile and so loses its new row gets it back at its next
        // lookup: the index is a view of the entry files.
        var evictedRows: [(kind: String, key: String)] = []
        for record in inScope where !protected.contains("\(record.kind)/\(record.key)") {
            let tooOld = cutoff.map { record.lastUsed < $0 } ?? false
            // A limit of 0 means nothing stays, also the entries that take no bytes here
            // (docker-load, smoke: their content is in the daemon).
            let tooBig = policy.maxSize.map { total > $0 || $0 == 0 } ?? false
            guard tooOld || tooBig else { continue }
            switch evict(record, roots: rootsByShortKey[record.shortKey] ?? [], deletingIndexRow: false) {
            case .evicted(let paths):
                evictedRows.append((kind: record.kind, key: record.key))
                report.evicted.append(Eviction(record: record, reason: tooOld ? "max-age" : "max-size", removedPaths: paths))
                total -= record.sizeBytes
                count -= 1
            case .inUse:
                report.inUse.append(record)
            }
        }
        try? index.delete(evictedRows)
        report.remainingBytes = total
        report.remainingEntries = count
        if pipeline == nil {
            if let orphans = sweepOrphans() {
                report.orphans = orphans
            } else {
                report.orphanSweepSkipped = true
            }
        }
        saveLastGC(LastGC(report, policy: policy, pipeline: pipeline, now: now))
        return report
    }

    /// Removes what no entry names — checkout folders, GC roots — and temporary files of
    /// writers that died, but only while no run is live (holding the run lock exclusively,
    /// so none starts meanwhile): a live run's checkout or build may not have its entry yet.
    /// Returns the removed paths, or nil if a run was live.
    public func sweepOrphans() -> [String]? {
        guard case .locked(let descriptor) = LockFiles.acquire(runsLockPath, exclusive: true, blocking: false) else { return nil }
        defer { close(descriptor) }
        let fileManager = FileManager.default
        let records = (try? index.all()) ?? []
        var removed: [String] = []
        let trees = Set(records.filter { $0.kind == Self.checkoutKind }.compactMap { $0.outputs["tree"] })
        for name in (try? fileManager.contentsOfDirectory(atPath: folder(.checkouts).path)) ?? [] where !trees.contains(name) {
            let url = folder(.checkouts).appendingPathComponent(name)
            if removeTree(url) { removed.append(url.path) }
        }
        let shortKeys = Set(records.map(\.shortKey))
        for name in (try? fileManager.contentsOfDirectory(atPath: folder(.nixRoots).path)) ?? [] {
            let suffix = name.split(separator: "-").last.map(String.init) ?? ""
            guard !shortKeys.contains(suffix) else { continue }
            let url = folder(.nixRoots).appendingPathComponent(name)
            if unlink(url.path) == 0 { removed.append(url.path) }
        }
        // AtomicFile's temporary files (`.NAME.PID.RANDOM.tmp`) left by a writer killed mid-write.
        for kind in (try? fileManager.contentsOfDirectory(atPath: folder(.entries).path)) ?? [] {
            let kindFolder = folder(.entries).appendingPathComponent(kind)
            for name in (try? fileManager.contentsOfDirectory(atPath: kindFolder.path)) ?? [] where name.hasPrefix(".") && name.hasSuffix(".tmp") {
                let url = kindFolder.appendingPathComponent(name)
                if unlink(url.path) == 0 { removed.append(url.path) }
            }
        }
        return removed
    }

    /// Removes every entry, checkout, GC root and mirror, keeping the root folder, its lock files,
    /// the (emptied) index and the run history under `runs/` (records, not cache). Refused while
    /// a run is live.
    /// - Throws: `CacheError` `.busy` if a run holds the cache, `.io` if something cannot be removed.
    public func clear() throws(CacheError) -> ClearReport {
        guard case .locked(let descriptor) = LockFiles.acquire(runsLockPath, exclusive: true, blocking: false) else {
            throw CacheError(.busy, "a run is using the cache at \(root.path); wait for it to end (or stop it), then clear again",
                             root: root.path)
        }
        defer { close(descriptor) }
        let entries = (try? index.all().count) ?? 0
        var bytes: Int64 = 0
        var removed: [String] = []
        let fileManager = FileManager.default
        let areas: [CacheArea] = [.entries, .checkouts, .nixRoots, .mirrors, .attestations]
        var leftovers: [URL] = areas.flatMap { area -> [URL] in
            ((try? fileManager.contentsOfDirectory(atPath: folder(area).path)) ?? []).map { folder(area).appendingPathComponent($0) }
        }
        // Indexes moved aside after corruption are kept for inspection until the cache is cleared.
        leftovers += ((try? fileManager.contentsOfDirectory(atPath: root.path)) ?? [])
            .filter { $0.hasPrefix("index.sqlite.corrupt-") }.map { root.appendingPathComponent($0) }
        for url in leftovers {
            let size = DiskUsage.bytes(at: url.path)
            var info = stat()
            let isLink = lstat(url.path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFLNK
            if isLink ? unlink(url.path) == 0 : removeTree(url) {
                bytes += isLink ? 0 : size
                removed.append(url.path)
            } else {
                throw CacheError(.io, "cannot remove \(url.path) while clearing the cache; remove it by hand", root: root.path)
            }
        }
        do {
            try index.deleteAll()
        } catch {
            throw CacheError.from(error, doing: "empty the cache index \(index.url.path)", root: root)
        }
        return ClearReport(entries: entries, bytes: bytes, removedPaths: removed)
    }

    /// Renames `url` aside (so its name is free at once and a crash leaves no half tree under it),
    /// then deletes it; true if it existed and is gone.
    func removeTree(_ url: URL) -> Bool {
        guard let aside = moveAside(url) else { return false }
        return deleteAside(aside)
    }

    /// Renames `url` to a hidden sibling; nil if it does not exist or cannot be renamed.
    private func moveAside(_ url: URL) -> URL? {
        var info = stat()
        guard lstat(url.path, &info) == 0 else { return nil }
        let aside = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).removing-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        return rename(url.path, aside.path) == 0 ? aside : nil
    }

    /// Deletes what `moveAside` renamed (a crash midway leaves a hidden `.removing-` folder that
    /// the next orphan sweep removes).
    @discardableResult
    private func deleteAside(_ aside: URL) -> Bool {
        makeWritable(aside.path)
        return (try? FileManager.default.removeItem(at: aside)) != nil
    }

    /// Checkouts may hold read-only folders (git keeps modes): make them writable to delete them.
    private func makeWritable(_ path: String) {
        guard let enumerator = FileManager.default.enumerator(atPath: path) else { return }
        chmod(path, 0o755)
        while let relative = enumerator.nextObject() as? String {
            let child = path + "/" + relative
            var info = stat()
            if lstat(child, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR { chmod(child, 0o755) }
        }
    }
}
