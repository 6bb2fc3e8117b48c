import Crypto
import Foundation

/// The persistent cache under one root folder:
///
/// ```
/// ROOT/index.sqlite                  the index of entries (SQLite in WAL mode, through GRDB): kind, key,
///                                    pipeline, size, created, last used, outputs. Derived from entries/:
///                                    a corrupt one is renamed index.sqlite.corrupt-TIME and rebuilt
/// ROOT/entries/KIND/KEY.json         one completed stage result per key: the truth the index is built from
/// ROOT/git/mirrors/NAME-HASH.git     bare mirrors of sources (GitMirror), fetched incrementally
/// ROOT/checkouts/TREE/               a commit's tree, written once, named by its tree ID; an entry of kind
///                                    `checkout` records its size and last use
/// ROOT/nix/roots/PIPELINE-STAGE-KEY  out-links of nix builds: GC roots while their entry lives
/// ROOT/locks/NAME.lock               flock(2) files: one build/load at a time per key (KIND-KEY.lock),
///                                    index.lock (opening the index), runs.lock (shared by every live run),
///                                    run-slot-N.lock (--max-runs)
/// ROOT/locks/holds/KIND-KEY.lock     shared flock(2) held by each run on every entry it uses, until it ends
/// ROOT/runs/history.sqlite           the run history (RunHistory), and ROOT/runs/RUN/STAGE.log its logs:
///                                    records, not cache (`cache clear` keeps them)
/// ```
/// Keys: nix-build = SHA-256 of the commit's tree ID, the installable and the nix options;
/// docker-load = the store path loaded; checkout = the tree ID.
///
/// Every entry is written under a temporary name, fsynced and renamed, so a reader sees a whole
/// entry or none; a crash at any moment leaves nothing a later run trusts. gc removes an entry
/// only after taking its hold lock exclusively without waiting, so nothing a live run uses is
/// ever removed; the kernel drops the locks of a dead process, so no timeout is ever guessed.
public struct BuildCache: Sendable {
    /// The cache root.
    public let root: URL
    /// What opening the cache had to repair (a corrupt index moved aside and rebuilt), for the
    /// caller to report; empty when nothing happened.
    public let notices: [String]
    let index: CacheIndex
    let holds: EntryHolds
    /// The time entries are stamped with when stored and used (tests move it instead of sleeping).
    let now: @Sendable () -> Date

    /// The kind of the entries that record checkouts.
    public static let checkoutKind = "checkout"

    /// Opens (creating if needed) the cache at `root` and its index; a missing or corrupt index
    /// is rebuilt from the entry files (see `notices`). `now` is the clock that stamps an entry's
    /// creation and last use: the real time unless a test sets it.
    /// - Throws: `CacheError` if the folders or the index cannot be created (permissions, full disk).
    public init(root: URL, now: @escaping @Sendable () -> Date = { Date() }) throws(CacheError) {
        let root = root.standardizedFileURL
        self.root = root
        self.now = now
        for area in CacheArea.allCases {
            let folder = root.appendingPathComponent(area.rawValue)
            do {
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            } catch {
                throw CacheError.from(error, doing: "create the cache folder \(folder.path)", root: root,
                                      otherwise: "choose a writable cache root")
            }
        }
        let opened = try CacheIndex.open(at: root.appendingPathComponent("index.sqlite"),
                                         lock: root.appendingPathComponent("locks/index.lock").path, root: root)
        index = opened.index
        holds = EntryHolds()
        notices = opened.notice.map { [$0] } ?? []
        if opened.rebuildReason != nil {
            _ = try reconcile()
        }
    }

    /// The folder of one part of the cache.
    public func folder(_ area: CacheArea) -> URL { root.appendingPathComponent(area.rawValue) }

    /// Where the completed entry of `key` for stage kind `kind` lives.
    func entryURL(kind: String, key: String) -> URL {
        folder(.entries).appendingPathComponent(kind).appendingPathComponent("\(key).json")
    }

    func entryURL(kind: String, key: CacheKey) -> URL { entryURL(kind: kind, key: key.hex) }

    /// The lock file a run holds shared while it uses the entry, and gc takes exclusively.
    func holdPath(kind: String, key: String) -> String {
        folder(.holds).appendingPathComponent("\(kind)-\(key).lock").path
    }

    var runsLockPath: String { folder(.locks).appendingPathComponent("runs.lock").path }

    // MARK: Entries, as runs use them

    /// The entry for `key`, if one was completed; an unreadable or malformed entry is treated
    /// as absent (and removed), never trusted. Holds the entry (shared flock on its hold file)
    /// until `releaseHolds()`, so gc cannot remove it while the run uses it, and records the use
    /// in the index (its last-used time).
    public func entry(kind: String, key: CacheKey) -> CacheEntry? {
        hold(kind: kind, key: key)
        let url = entryURL(kind: kind, key: key)
        guard let data = try? Data(contentsOf: url) else { return nil }
        guard let entry = CacheEntry.decode(data), entry.key == key.hex, entry.kind == kind else {
            remove(kind: kind, key: key)
            return nil
        }
        let now = self.now()
        // The index is a view of the files: failing to update it (a full disk) loses a
        // last-used time, never a result.
        if (try? index.touch(kind: kind, key: key.hex, at: now)) != true {
            try? index.upsert(entry.record(sizeBytes: entry.size ?? Self.measure(entry.outputs), lastUsed: now))
        }
        return entry
    }

    /// Records a completed stage result: written to a temporary file, fsynced, renamed into
    /// place, and the folder fsynced, so it is visible only when complete; then indexed with
    /// its size: `size` if given, else what `outputs["path"]` or `outputs["out"]` holds on disk.
    /// The entry stays held by this process until `releaseHolds()`.
    /// - Throws: `CacheError` naming the cache root (`.diskFull` for a full disk); no partial
    ///   entry remains.
    public func store(kind: String, key: CacheKey, pipeline: String, outputs: [String: String],
                      size: Int64? = nil) throws(CacheError) {
        hold(kind: kind, key: key)
        let now = self.now()
        let entry = CacheEntry(key: key.hex, kind: kind, pipeline: pipeline, outputs: outputs, created: now,
                               size: size ?? Self.measure(outputs))
        let url = entryURL(kind: kind, key: key)
        do {
            try AtomicFile.write(try entry.encoded(), to: url)
        } catch {
            throw CacheError.from(error, doing: "write a cache entry (\(kind) \(key.short))", root: root)
        }
        do {
            try index.upsert(entry.record(sizeBytes: entry.size ?? 0, lastUsed: now))
        } catch {
            // An entry the index cannot record is withdrawn: the run reports the error, and the
            // next run does the work again rather than trusting half a write.
            try? FileManager.default.removeItem(at: url)
            throw CacheError.from(error, doing: "record a cache entry (\(kind) \(key.short)) in \(index.url.path)", root: root)
        }
    }

    /// Forgets an entry (e.g. one whose store path was garbage-collected): its file, then its row.
    public func remove(kind: String, key: CacheKey) {
        try? FileManager.default.removeItem(at: entryURL(kind: kind, key: key))
        try? FileManager.default.removeItem(at: attestationFolder(kind: kind, key: key.hex))
        try? index.delete([(kind: kind, key: key.hex)])
    }

    /// Holds an entry for this run (shared flock(2) on `locks/holds/KIND-KEY.lock`, waiting only
    /// while gc removes it) until `releaseHolds()` or the process ends. `entry` and `store` call
    /// it; call it before using an entry's content some other way.
    public func hold(kind: String, key: CacheKey) {
        holds.hold(holdPath(kind: kind, key: key.hex))
    }

    /// Marks this process as a live run of the cache (shared flock(2) on `locks/runs.lock`) until
    /// `releaseHolds()`: `clear` and the sweep of orphaned checkouts and roots wait for no run.
    public func holdRunLock() {
        holds.hold(runsLockPath)
    }

    /// Releases every hold this process took on the cache (entries and the run lock).
    public func releaseHolds() {
        holds.releaseAll()
    }

    /// The key of the checkout entry of `tree`.
    public static func checkoutKey(tree: String) -> CacheKey { CacheKey([checkoutKind, tree]) }

    /// The folder of the attestations of the entry `kind`/`key` (hex): its envelopes and SBOM.
    public func attestationFolder(kind: String, key: String) -> URL {
        folder(.attestations).appendingPathComponent(kind).appendingPathComponent(key)
    }

    /// The folder of the checkout of `tree`.
    public func checkoutFolder(tree: String) -> URL { folder(.checkouts).appendingPathComponent(tree) }

    /// Whether the checkout of `tree` is complete on disk: its folder (renamed into place only once
    /// every file was written) and its entry (written after that) both exist, so a run that was
    /// killed midway never makes it true. Holds nothing and touches nothing: `hold` it before use.
    public func hasCheckout(tree: String) -> Bool {
        FileManager.default.fileExists(atPath: checkoutFolder(tree: tree).path)
            && FileManager.default.fileExists(atPath: entryURL(kind: Self.checkoutKind, key: Self.checkoutKey(tree: tree)).path)
    }

    /// Records (or marks used) the checkout of `tree` under `checkouts/TREE` as an entry of kind
    /// `checkout`, sized by its folder, and holds it for the run.
    /// - Throws: `CacheError` if the entry cannot be written (a full disk).
    public func recordCheckout(tree: String, commit: String, source: String, pipeline: String) throws(CacheError) {
        let key = Self.checkoutKey(tree: tree)
        if entry(kind: Self.checkoutKind, key: key) != nil { return }
        try store(kind: Self.checkoutKind, key: key, pipeline: pipeline, outputs: [
            "tree": tree, "commit": commit, "source": source, "path": checkoutFolder(tree: tree).path,
        ])
    }

    /// What `outputs` hold on disk: the folder or store path named by `path` or `out`, else 0.
    static func measure(_ outputs: [String: String]) -> Int64 {
        guard let path = outputs["path"] ?? outputs["out"], path.hasPrefix("/") else { return 0 }
        return DiskUsage.bytes(at: path)
    }
}

/// The parts of the cache root.
public enum CacheArea: String, CaseIterable, Sendable {
    case mirrors = "git/mirrors"
    case checkouts
    case nixRoots = "nix/roots"
    case entries
    case locks
    case holds = "locks/holds"
    case runs
    /// Signed statements about entries' results, `attestations/KIND/KEY/`, removed with the entry.
    case attestations
}

/// A cache key: the SHA-256 of everything that determines a stage's result.
public struct CacheKey: Sendable, Hashable, CustomStringConvertible {
    /// 64 lowercase hex digits.
    public let hex: String

    /// The key of these parts, each length-prefixed so that no two lists collide.
    public init(_ parts: [String]) {
        var hasher = SHA256()
        for part in parts {
            let bytes = Array(part.utf8)
            hasher.update(data: Array("\(bytes.count):".utf8))
            hasher.update(data: bytes)
        }
        hex = hasher.finalize().map { byte in
            let text = String(byte, radix: 16)
            return byte < 16 ? "0" + text : text
        }.joined()
    }

    /// The first 16 hex digits, enough to name files.
    public var short: String { String(hex.prefix(16)) }
    public var description: String { hex }
}

/// One completed stage result, as its entry file holds it.
public struct CacheEntry: Codable, Sendable {
    /// The key's hex digits.
    public let key: String
    /// The stage kind.
    public let kind: String
    /// The pipeline whose run stored it.
    public let pipeline: String
    /// What the stage produced.
    public let outputs: [String: String]
    /// When it was stored.
    public let created: Date
    /// Bytes on disk when stored (absent in entries written before sizes were recorded).
    public let size: Int64?

    init(key: String, kind: String, pipeline: String, outputs: [String: String], created: Date, size: Int64?) {
        self.key = key
        self.kind = kind
        self.pipeline = pipeline
        self.outputs = outputs
        self.created = created
        self.size = size
    }

    func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return try encoder.encode(self)
    }

    static func decode(_ data: Data) -> CacheEntry? {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(CacheEntry.self, from: data)
    }

    func record(sizeBytes: Int64, lastUsed: Date) -> CacheRecord {
        CacheRecord(kind: kind, key: key, pipeline: pipeline, sizeBytes: sizeBytes, created: created,
                    lastUsed: lastUsed, outputs: outputs)
    }
}

/// A cache operation that failed, naming the cache root and what to do.
public struct CacheError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure.
    public enum Code: String, Sendable {
        /// Reading or writing under the root failed.
        case io
        /// A lock file could not be opened or locked.
        case lockFailed
        /// The disk holding the root is full (ENOSPC, SQLITE_FULL).
        case diskFull
        /// A run is using the cache and the operation needs none (`clear`).
        case busy
    }
    /// What kind of failure.
    public let code: Code
    /// What failed and what to do.
    public let message: String
    /// The cache root.
    public let root: String
    /// The underlying error's text, if any.
    public let cause: String?

    init(_ code: Code, _ message: String, root: String, cause: String? = nil) {
        self.code = code
        self.message = message
        self.root = root
        self.cause = cause
    }

    /// The message.
    public var description: String { message }

    /// Classifies `error` met while doing `action` under `root`: a full disk gets its own code
    /// and advice; anything else is `.io` with `otherwise` as the advice.
    static func from(_ error: any Error, doing action: String, root: URL,
                     otherwise: String = "check that it is writable, then run again") -> CacheError {
        let cause = describe(error)
        // SQLite reports a full disk in several ways (SQLITE_FULL, an I/O error growing its
        // shared memory): what the filesystem says settles it.
        if isDiskFull(error) || hasNoSpace(root) {
            return CacheError(.diskFull, "the disk holding the cache root \(root.path) is full: cannot \(action) (\(cause)). "
                + "Free space there (e.g. collect the cache's garbage down to a size limit) and run again; "
                + "nothing partial was kept", root: root.path, cause: cause)
        }
        return CacheError(.io, "cannot \(action) under the cache root \(root.path): \(cause); \(otherwise)",
                          root: root.path, cause: cause)
    }

    private static func posixCode(of error: any Error) -> Int32? {
        if let error = error as? POSIXError { return error.code.rawValue }
        let bridged = error as NSError
        if bridged.domain == NSPOSIXErrorDomain { return Int32(bridged.code) }
        if let underlying = bridged.userInfo[NSUnderlyingErrorKey] as? any Error, let code = posixCode(of: underlying) {
            return code
        }
        guard bridged.domain == NSCocoaErrorDomain else { return nil }
        switch bridged.code {
        case NSFileWriteOutOfSpaceError: return ENOSPC
        case NSFileWriteNoPermissionError, NSFileReadNoPermissionError: return EACCES
        case NSFileWriteVolumeReadOnlyError: return EROFS
        default: return nil
        }
    }

    /// Whether the filesystem holding `root` (or its nearest existing parent) has under 64 KiB
    /// free for this user (statvfs(3)).
    static func hasNoSpace(_ root: URL) -> Bool {
        var folder = root
        while !FileManager.default.fileExists(atPath: folder.path), folder.path != "/" {
            folder = folder.deletingLastPathComponent()
        }
        var info = statvfs()
        guard statvfs(folder.path, &info) == 0 else { return false }
        return UInt64(info.f_bavail) * UInt64(info.f_frsize) < 64 * 1024
    }

    static func isDiskFull(_ error: any Error) -> Bool {
        if let code = posixCode(of: error) { return code == ENOSPC || code == EDQUOT }
        return CacheIndex.isDiskFull(error)
    }

    /// A file or database error in a few words ("Permission denied", "No space left on
    /// device"), not Foundation's whole NSError description.
    public static func describe(_ error: any Error) -> String {
        if let code = posixCode(of: error) { return String(cString: strerror(code)) }
        if let error = error as? CacheError { return error.message }
        return CacheIndex.describe(error)
    }
}
