import BuildCache
import Engine
import Foundation
import GRDB

/// The record of every run: one SQLite database (WAL, safe for several processes at once)
/// beside the cache index, and each stage's log as a plain file.
///
/// ```
/// CACHE/runs/history.sqlite     runs and their stages
/// CACHE/runs/RUN/STAGE.log      every log line of a stage, as it arrived
/// ```
public final class RunHistory: Sendable {
    /// The folder holding the database and the logs.
    public let folder: URL
    private let database: DatabasePool

    /// Opens (creating if needed) the history under `cacheRoot/runs`.
    /// - Throws: `RunHistoryError` if the folder or database cannot be opened.
    public init(cacheRoot: URL) throws {
        folder = cacheRoot.appendingPathComponent("runs")
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            var configuration = Configuration()
            configuration.busyMode = .timeout(10)
            SQLiteDurability.configure(&configuration)
            database = try DatabasePool(path: folder.appendingPathComponent("history.sqlite").path, configuration: configuration)
            try Self.migrator.migrate(database)
        } catch {
            throw RunHistoryError("cannot open the run history in \(folder.path): \(CacheError.describe(error))")
        }
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "run") { table in
                table.column("id", .text).primaryKey()
                table.column("pipeline", .text).notNull().indexed()
                table.column("source", .text).notNull()
                table.column("ref", .text)
                table.column("commitSHA", .text).notNull().defaults(to: "")
                table.column("trigger", .text).notNull()
                table.column("status", .text).notNull().indexed()
                table.column("startedAt", .datetime).notNull().indexed()
                table.column("durationMilliseconds", .integer)
                table.column("pid", .integer).notNull()
                table.column("summary", .text)
            }
            try db.create(table: "stage") { table in
                table.column("runID", .text).notNull().references("run", onDelete: .cascade)
                table.column("name", .text).notNull()
                table.column("kind", .text).notNull()
                table.column("status", .text).notNull()
                table.column("cached", .boolean).notNull()
                table.column("durationMilliseconds", .integer).notNull()
                table.column("error", .text)
                table.primaryKey(["runID", "name"])
            }
        }
        return migrator
    }

    /// The log file of one stage of a run.
    public func logFile(run: String, stage: String) -> URL {
        folder.appendingPathComponent(run).appendingPathComponent("\(stage).log")
    }

    func insert(_ run: RunRecord) throws {
        try database.write { db in try run.insert(db) }
    }

    /// Records how the run ended: its status and stages, and `summaryLine`, the run-finished
    /// event exactly as the run printed it.
    func finish(run id: String, summary: RunSummary, summaryLine: String) throws {
        try database.write { db in
            try db.execute(sql: "UPDATE run SET status = ?, commitSHA = ?, durationMilliseconds = ?, summary = ? WHERE id = ?",
                           arguments: [summary.status.rawValue, summary.commit, summary.durationMilliseconds, summaryLine, id])
            for stage in summary.stages {
                try StageRecord(runID: id, name: stage.name, kind: stage.kind, status: stage.status.rawValue, cached: stage.cached,
                                durationMilliseconds: stage.durationMilliseconds, error: stage.error).save(db)
            }
        }
    }

    /// Runs, newest first, optionally filtered.
    public func runs(pipeline: String? = nil, status: String? = nil, limit: Int = 20) throws -> [RunRecord] {
        try database.read { db in
            var request = RunRecord.order(Column("startedAt").desc)
            if let pipeline { request = request.filter(Column("pipeline") == pipeline) }
            guard let status else { return try request.limit(limit).fetchAll(db).map { $0.withLiveness() } }
            // "abandoned" is never stored: it is a "running" run whose process is gone, and
            // only the process table tells the two apart.
            guard status == "running" || status == "abandoned" else {
                return try request.filter(Column("status") == status).limit(limit).fetchAll(db)
            }
            let unfinished = try request.filter(Column("status") == "running").fetchAll(db).map { $0.withLiveness() }
            return Array(unfinished.filter { $0.status == status }.prefix(limit))
        }
    }

    /// The statuses a run can have, as `runs(status:)` takes them.
    public static let statuses = ["running", "passed", "failed", "cancelled", "abandoned"]

    /// One run (by full ID or a unique prefix) and its stages.
    public func run(_ id: String) throws -> (RunRecord, [StageRecord])? {
        try database.read { db in
            let matches = try RunRecord.filter(Column("id") == id || Column("id").like("\(id)%")).limit(2).fetchAll(db)
            guard let run = matches.first(where: { $0.id == id }) ?? (matches.count == 1 ? matches.first : nil) else { return nil }
            let stages = try StageRecord.filter(Column("runID") == run.id).order(Column.rowID).fetchAll(db)
            return (run.withLiveness(), stages)
        }
    }

    /// The latest run of `pipeline` with `trigger`, other than `excluding`.
    public func latest(pipeline: String, trigger: String, excluding: String? = nil) throws -> RunRecord? {
        try database.read { db in
            var request = RunRecord.filter(Column("pipeline") == pipeline && Column("trigger") == trigger)
            if let excluding { request = request.filter(Column("id") != excluding) }
            return try request.order(Column("startedAt").desc).fetchOne(db)
        }
    }

    /// Removes runs (and their logs) older than `age`, keeping at least the newest `keep` of each pipeline.
    /// - Returns: the IDs removed.
    @discardableResult
    public func prune(olderThan age: Duration, keepingLast keep: Int = 20) throws -> [String] {
        let cutoff = Date().addingTimeInterval(-Double(age.components.seconds))
        let removed: [String] = try database.write { db in
            let ids = try String.fetchAll(db, sql: """
                SELECT id FROM (SELECT id, startedAt, ROW_NUMBER() OVER (PARTITION BY pipeline ORDER BY startedAt DESC) AS rank FROM run)
                WHERE rank > ? AND startedAt < ?
                """, arguments: [keep, cutoff])
            for id in ids {
                try db.execute(sql: "DELETE FROM stage WHERE runID = ?", arguments: [id])
                try db.execute(sql: "DELETE FROM run WHERE id = ?", arguments: [id])
            }
            return ids
        }
        for id in removed { try? FileManager.default.removeItem(at: folder.appendingPathComponent(id)) }
        return removed
    }
}

/// One run as recorded.
public struct RunRecord: Codable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "run"
    public var id: String
    public var pipeline: String
    public var source: String
    public var ref: String?
    public var commitSHA: String
    /// `agent`, `nightly`, `local` or `manual`.
    public var trigger: String
    /// `running`, `passed`, `failed`, `cancelled`, or `abandoned` (its process died mid-run).
    public var status: String
    public var startedAt: Date
    public var durationMilliseconds: Int64?
    public var pid: Int32
    /// The run-finished event line, once finished.
    public var summary: String?

    /// A run still marked running whose process is gone was killed: say so.
    func withLiveness() -> RunRecord {
        guard status == "running", kill(pid, 0) != 0, errno == ESRCH else { return self }
        var copy = self
        copy.status = "abandoned"
        return copy
    }
}

/// One stage of a recorded run.
public struct StageRecord: Codable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "stage"
    public var runID: String
    public var name: String
    public var kind: String
    public var status: String
    public var cached: Bool
    public var durationMilliseconds: Int64
    public var error: String?
}

/// The history could not be read or written.
public struct RunHistoryError: Error, Sendable, CustomStringConvertible {
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}
