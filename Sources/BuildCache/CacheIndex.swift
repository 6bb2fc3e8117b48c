import Foundation
import GRDB

/// One row of the index: a completed entry, its size and when it was last used.
public struct CacheRecord: Sendable, Hashable {
    /// The stage kind (`nix-build`, `docker-load`, `checkout`, …).
    public let kind: String
    /// The key's 64 hex digits.
    public let key: String
    /// The pipeline whose run stored it.
    public let pipeline: String
    /// Bytes it holds on disk (the store path it roots, the checkout's folder; 0 for results
    /// kept elsewhere, such as an image in the daemon).
    public let sizeBytes: Int64
    /// When it was stored.
    public let created: Date
    /// When a run last used it (stored or hit).
    public let lastUsed: Date
    /// What the stage produced (e.g. `out`, `image`, `path`).
    public let outputs: [String: String]

    /// Creates a record.
    public init(kind: String, key: String, pipeline: String, sizeBytes: Int64, created: Date, lastUsed: Date,
                outputs: [String: String]) {
        self.kind = kind
        self.key = key
        self.pipeline = pipeline
        self.sizeBytes = sizeBytes
        self.created = created
        self.lastUsed = lastUsed
        self.outputs = outputs
    }

    /// The first 16 hex digits of the key: what file names under the root carry.
    public var shortKey: String { String(key.prefix(16)) }
}

/// The SQLite index of entries (GRDB, WAL, a busy timeout, so several processes use it at
/// once). The entry files stay the truth: the index is rebuilt from them whenever it is
/// missing or found corrupt, so losing it loses only the last-used times.
final class CacheIndex: Sendable {
    let pool: DatabasePool
    let url: URL

    /// How long a writer waits for another process's transaction before failing.
    static let busyTimeout: TimeInterval = 30

    private init(pool: DatabasePool, url: URL) {
        self.pool = pool
        self.url = url
    }

    /// What opening found.
    struct Opened {
        let index: CacheIndex
        /// Why the index must be filled from the entry files (it was new or was recovered).
        let rebuildReason: RebuildReason?
        /// Set when a corrupt index was moved aside: what happened, for the user.
        let notice: String?
    }

    enum RebuildReason { case created, recovered }

    /// Opens the index at `url`, creating it; a file SQLite reports as corrupt or not a
    /// database (or that fails `PRAGMA quick_check`) is renamed `index.sqlite.corrupt-TIME` with its
    /// WAL, and a fresh index is created. Serialised across processes by `lock` so that two
    /// processes never both move a file aside.
    /// - Throws: `CacheError` (`.diskFull`, `.io`) naming the cache root.
    static func open(at url: URL, lock: String, root: URL) throws(CacheError) -> Opened {
        guard case .locked(let descriptor) = LockFiles.acquire(lock, exclusive: true, blocking: true) else {
            throw CacheError(.lockFailed, "cannot lock \(lock) to open the cache index; check that \(root.path) is writable",
                             root: root.path)
        }
        defer { close(descriptor) }
        let existed = FileManager.default.fileExists(atPath: url.path)
        do {
            let index = try openChecked(url)
            return Opened(index: index, rebuildReason: existed ? nil : .created, notice: nil)
        } catch let error where isCorruption(error) {
            let aside = url.path + ".corrupt-" + Self.stamp()
            for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: url.path + suffix) {
                if rename(url.path + suffix, aside + suffix) != 0 { unlink(url.path + suffix) }
            }
            do {
                let index = try openChecked(url)
                let notice = "the cache index \(url.path) was corrupt (\(Self.describe(error))); "
                    + "moved it aside to \(aside) and rebuilt it from the entries on disk"
                return Opened(index: index, rebuildReason: .recovered, notice: notice)
            } catch {
                throw CacheError.from(error, doing: "create a new cache index at \(url.path)", root: root)
            }
        } catch {
            throw CacheError.from(error, doing: "open the cache index \(url.path)", root: root)
        }
    }

    private static func openChecked(_ url: URL) throws -> CacheIndex {
        try SQLiteDurability.checkHeader(of: url.path)
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeout)
        configuration.label = "sutradhar-cache-index"
        SQLiteDurability.configure(&configuration)
        let pool = try DatabasePool(path: url.path, configuration: configuration)
        try pool.write { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS entries (
                    kind TEXT NOT NULL,
                    key TEXT NOT NULL,
                    pipeline TEXT NOT NULL,
                    size INTEGER NOT NULL,
                    created REAL NOT NULL,
                    last_used REAL NOT NULL,
                    outputs TEXT NOT NULL,
                    PRIMARY KEY (kind, key)
                );
                CREATE INDEX IF NOT EXISTS entries_by_last_used ON entries (last_used);
                """)
        }
        let verdict = try pool.read { db in try String.fetchOne(db, sql: "PRAGMA quick_check") }
        guard verdict == "ok" else { throw QuickCheckFailed(verdict: verdict ?? "no answer") }
        return CacheIndex(pool: pool, url: url)
    }

    /// `PRAGMA quick_check` found damage.
    struct QuickCheckFailed: Error, CustomStringConvertible {
        let verdict: String
        var description: String { "quick_check: \(verdict.prefix(200))" }
    }

    static func isCorruption(_ error: any Error) -> Bool {
        if error is QuickCheckFailed || error is SQLiteDurability.DamagedHeader { return true }
        guard let error = error as? DatabaseError else { return false }
        return error.resultCode == .SQLITE_CORRUPT || error.resultCode == .SQLITE_NOTADB
    }

    static func isDiskFull(_ error: any Error) -> Bool {
        (error as? DatabaseError)?.resultCode == .SQLITE_FULL
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError {
            return "SQLite error \(error.resultCode.rawValue): \(error.message ?? "\(error.resultCode)")"
        }
        return "\(error)"
    }

    /// `20261129T065212Z`-style UTC time, for names of moved-aside files.
    static func stamp(_ date: Date = Date()) -> String {
        var seconds = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d%02d%02dT%02d%02d%02dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                      parts.tm_hour, parts.tm_min, parts.tm_sec)
    }

    // MARK: Rows

    /// Inserts or replaces a record.
    func upsert(_ record: CacheRecord) throws {
        try pool.write { db in try Self.upsert(record, in: db) }
    }

    /// Inserts or replaces many records in one transaction.
    func upsert(_ records: [CacheRecord]) throws {
        guard !records.isEmpty else { return }
        try pool.write { db in
            for record in records { try Self.upsert(record, in: db) }
        }
    }

    private static func upsert(_ record: CacheRecord, in db: Database) throws {
        try db.execute(sql: """
            INSERT INTO entries (kind, key, pipeline, size, created, last_used, outputs) VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (kind, key) DO UPDATE SET pipeline = excluded.pipeline, size = excluded.size,
                created = excluded.created, last_used = max(entries.last_used, excluded.last_used), outputs = excluded.outputs
            """, arguments: [record.kind, record.key, record.pipeline, record.sizeBytes, record.created.timeIntervalSince1970,
                             record.lastUsed.timeIntervalSince1970, encode(record.outputs)])
    }

    /// Sets the last-used time of an entry; false if the index has no row for it.
    func touch(kind: String, key: String, at date: Date) throws -> Bool {
        try pool.write { db in
            try db.execute(sql: "UPDATE entries SET last_used = max(last_used, ?) WHERE kind = ? AND key = ?",
                           arguments: [date.timeIntervalSince1970, kind, key])
            return db.changesCount > 0
        }
    }

    /// Forgets rows.
    func delete(_ keys: [(kind: String, key: String)]) throws {
        guard !keys.isEmpty else { return }
        try pool.write { db in
            for item in keys {
                try db.execute(sql: "DELETE FROM entries WHERE kind = ? AND key = ?", arguments: [item.kind, item.key])
            }
        }
    }

    /// Forgets every row.
    func deleteAll() throws {
        try pool.write { db in try db.execute(sql: "DELETE FROM entries") }
    }

    /// Every record, least recently used first.
    func all() throws -> [CacheRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM entries ORDER BY last_used ASC, created ASC").map { row in
                CacheRecord(kind: row["kind"], key: row["key"], pipeline: row["pipeline"], sizeBytes: row["size"],
                            created: Date(timeIntervalSince1970: row["created"]),
                            lastUsed: Date(timeIntervalSince1970: row["last_used"]),
                            outputs: Self.decode(row["outputs"]))
            }
        }
    }

    private static func encode(_ outputs: [String: String]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(outputs)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    private static func decode(_ text: String) -> [String: String] {
        (try? JSONDecoder().decode([String: String].self, from: Data(text.utf8))) ?? [:]
    }
}
