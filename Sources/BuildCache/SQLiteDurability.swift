import CSQLite
import Foundation
import GRDB

/// How Sutradhar's SQLite databases (the cache index, the run history) are made durable, and
/// why they need no fsync on a run that only reads and updates them.
///
/// Both are GRDB pools: WAL mode with `synchronous = NORMAL`. A commit appends its pages to the
/// write-ahead log and is not fsynced; SQLite fsyncs only to checkpoint the log into the database
/// (the log first, then the database). Left to its defaults, the last connection to close
/// checkpoints and deletes the log, and the next process creates it again: two fsyncs at every
/// exit and two more (the new log's header, its folder) at the first write of every run, for each
/// database — eight per cached rerun, for nothing a crash could otherwise lose.
///
/// So connections here do not checkpoint when they close (`SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE`): the
/// log stays, and a commit checkpoints it once it holds `checkpointPages` pages. What that keeps:
/// - A process killed at any moment (kill -9, a crash) loses nothing committed: the log is in the
///   kernel's page cache, and the next open replays it.
/// - Nothing half-written is ever read: each frame of the log carries a checksum chained to the
///   one before and commits are marked, so recovery keeps whole transactions only; a checkpoint
///   fsyncs the log before it writes the database, so the database never holds pages the log
///   could lose.
/// - What a power cut or kernel crash may lose (as with `NORMAL` before: only the moment differs)
///   is the last few seconds' commits, never consistency. The index is rebuilt from the entry
///   files, which are fsynced (`AtomicFile`), so it loses at most last-used times (a lost row comes
///   back when its entry is next used); the history may lose the record of the runs that had just
///   finished, whose results were printed.
public enum SQLiteDurability {
    /// Pages (4 KiB) of log after which a commit checkpoints it: a cached rerun writes about 20, so
    /// the two fsyncs of a checkpoint come once in several runs, and the log a new process replays
    /// (it reads it whole to rebuild its index) stays under 1 MiB.
    static let checkpointPages = 200

    /// Throws `DamagedHeader` when the database file at `path` is not empty and does not begin
    /// with SQLite's header. Check before opening: the log that now outlives each close holds the
    /// pages written since the last checkpoint, and SQLite reads those from the log, so a database
    /// file overwritten or damaged since could otherwise look whole for a while.
    public static func checkHeader(of path: String) throws(DamagedHeader) {
        guard let handle = FileHandle(forReadingAtPath: path) else { return }  // absent: created on open
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 16)) ?? Data()
        guard head.isEmpty || head == Data("SQLite format 3\0".utf8) else { throw DamagedHeader(path: path) }
    }

    /// A database file whose first bytes are not SQLite's header.
    public struct DamagedHeader: Error, CustomStringConvertible {
        /// The file.
        public let path: String
        public var description: String { "\(path) does not begin with SQLite's header" }
    }

    /// Sets up every connection of a pool opened with `configuration` as described above.
    public static func configure(_ configuration: inout Configuration) {
        configuration.prepareDatabase { db in
            _ = sutradhar_sqlite_no_checkpoint_on_close(db.sqliteConnection, 1)
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(checkpointPages)")
        }
    }
}
