import BuildCache
import RunEvents
import Foundation
import GRDB

/// The record of every run: one SQLite database (WAL, safe for several processes at once)
/// beside the cache index, and each run's events and logs as plain files.
///
/// ```
/// CACHE/runs/history.sqlite       runs and their stages (rebuilt from the run folders if corrupt)
/// CACHE/runs/RUN/run.json         the run's row as recorded at its start
/// CACHE/runs/RUN/events.jsonl     every event of the run, one JSON line each, as it happened
/// CACHE/runs/RUN/STAGE.log        every log line of a stage, as it arrived
/// CACHE/locks/history.lock        held while the database is opened, migrated or recovered
/// ```
public final class RunHistory: Sendable {
    /// The folder holding the database and the logs.
    public let folder: URL
    /// What opening had to repair (a corrupt database moved aside and rebuilt), in words for the
    /// user; a run turns each into a `warning` event.
    public let notices: [String]
    /// Set when opening found the database corrupt and recovered it.
    public let recovery: Recovery?
    /// Whether opening ran `PRAGMA quick_check` (see `IntegrityCheck`).
    public let checkedIntegrity: Bool
    private let database: DatabasePool
    private let stamp: IntegrityStamp

    /// How a corrupt history was recovered.
    public struct Recovery: Sendable {
        /// Where the corrupt database was moved (`history.sqlite.corrupt-TIME`, with its -wal and -shm).
        public let movedAside: URL
        /// How many runs were rebuilt from their folders' `run.json` and `events.jsonl`.
        public let rebuiltRuns: Int
        /// What SQLite said about the file.
        public let cause: String
    }

    /// When opening runs `PRAGMA quick_check`, which reads the whole database (about 3 ms per
    /// 1,000 runs: 290 ms at 100,000).
    public enum IntegrityCheck: Sendable {
        /// Every time (`doctor`).
        case always
        /// Unless the database file is unchanged since the last check that passed (its device,
        /// inode, size and modification time are recorded in `history.sqlite.checked`), or was
        /// changed since only by this history's own writes (see `IntegrityStamp`). A file that
        /// something else wrote to is checked again; one damaged in place with its size and time
        /// kept (a failing disk) is not, until `doctor`.
        case ifChanged
        /// Never (a run: its start-up must not grow with the history). A file that is not a
        /// database at all is still found at once; damage inside is found by the next `runs`
        /// command or `doctor`.
        case never
    }

    /// Opens (creating if needed) the history under `cacheRoot/runs`. Opening and migrating hold
    /// `CACHE/locks/history.lock`, so processes opening a fresh history at once do not race on
    /// the schema. A database SQLite reports as corrupt or not a database (or that fails
    /// `PRAGMA quick_check`, run as `integrity` says) is moved aside to
    /// `history.sqlite.corrupt-TIME` and a new one is rebuilt from the run folders (see
    /// `recovery` and `notices`).
    /// - Throws: `RunHistoryError` if the folder or database cannot be opened or created.
    public init(cacheRoot: URL, integrity: IntegrityCheck = .ifChanged) throws {
        let folder = cacheRoot.appendingPathComponent("runs")
        let url = folder.appendingPathComponent("history.sqlite")
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw RunHistoryError("cannot create the run history folder \(folder.path): \(CacheError.describe(error))")
        }
        let stamp = IntegrityStamp(database: url)
        let opened: (DatabasePool, checked: Bool, Recovery?)
        do {
            opened = try FileLock.withBlockingLock(at: cacheRoot.appendingPathComponent("locks/history.lock")) {
                () throws(RunHistoryError) in try Self.openOrRecover(url, folder: folder, integrity: integrity, stamp: stamp)
            }
        } catch let error as RunHistoryError {
            throw error
        } catch {
            throw RunHistoryError("cannot open the run history in \(folder.path): \(error)")
        }
        self.folder = folder
        self.stamp = stamp
        database = opened.0
        checkedIntegrity = opened.checked
        recovery = opened.2
        notices = recovery.map {
            ["the run history \(url.path) was corrupt (\($0.cause)); moved it aside to \($0.movedAside.path) "
             + "and rebuilt \($0.rebuiltRuns) run\($0.rebuiltRuns == 1 ? "" : "s") from the run folders"]
        } ?? []
    }

    /// Opens the database at `url`; if it is corrupt, moves it aside and rebuilds it from the run
    /// folders. Called holding the history lock, so only one process ever moves a file aside.
    private static func openOrRecover(_ url: URL, folder: URL, integrity: IntegrityCheck, stamp: IntegrityStamp)
        throws(RunHistoryError) -> (DatabasePool, checked: Bool, Recovery?) {
        do {
            let (database, checked) = try openChecked(url, integrity: integrity, stamp: stamp)
            return (database, checked, nil)
        } catch let error where isCorruption(error) {
            let aside = moveAside(url)
            do {
                let (database, _) = try openChecked(url, integrity: .always, stamp: stamp)
                let rebuilt = try rebuild(database, from: folder, stamp: stamp)
                return (database, true, Recovery(movedAside: aside, rebuiltRuns: rebuilt, cause: describe(error)))
            } catch {
                throw RunHistoryError("cannot create a new run history at \(url.path): \(CacheError.describe(error))")
            }
        } catch {
            throw RunHistoryError("cannot open the run history \(url.path): \(CacheError.describe(error))")
        }
    }

    /// Opens the database, migrates it and checks it as `integrity` says.
    /// - Returns: the database, and whether it was checked.
    private static func openChecked(_ url: URL, integrity: IntegrityCheck, stamp: IntegrityStamp) throws -> (DatabasePool, checked: Bool) {
        // The log outlives each close (SQLiteDurability), so a database file overwritten since
        // could look whole for a while: its header is checked first.
        try SQLiteDurability.checkHeader(of: url.path)
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        SQLiteDurability.configure(&configuration)
        let database = try DatabasePool(path: url.path, configuration: configuration)
        try stamp.vouching { try migrator.migrate(database) }
        switch integrity {
        case .never: return (database, false)
        case .ifChanged where stamp.isCurrent: return (database, false)
        case .ifChanged, .always: break
        }
        // Taken before the check: a write meanwhile leaves a stamp that no longer matches.
        let checkedFile = IntegrityStamp.FileIdentity(path: url.path)
        let verdict = try database.read { db in try String.fetchOne(db, sql: "PRAGMA quick_check") }
        guard verdict == "ok" else { throw QuickCheckFailed(verdict: verdict ?? "no answer") }
        if let checkedFile { stamp.record(checkedFile) }
        return (database, true)
    }

    /// `PRAGMA quick_check` found damage.
    private struct QuickCheckFailed: Error, CustomStringConvertible {
        let verdict: String
        var description: String { "quick_check: \(verdict.prefix(200))" }
    }

    private static func isCorruption(_ error: any Error) -> Bool {
        if error is QuickCheckFailed || error is SQLiteDurability.DamagedHeader { return true }
        guard let error = error as? DatabaseError else { return false }
        return error.resultCode == .SQLITE_CORRUPT || error.resultCode == .SQLITE_NOTADB
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError {
            return "SQLite error \(error.resultCode.rawValue): \(error.message ?? "\(error.resultCode)")"
        }
        return "\(error)"
    }

    /// Renames the database and its WAL files to `history.sqlite.corrupt-TIME…` (kept for inspection).
    private static func moveAside(_ url: URL) -> URL {
        var seconds = time_t(Date().timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let stamp = String(format: "%04d%02d%02dT%02d%02d%02dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                           parts.tm_hour, parts.tm_min, parts.tm_sec)
        let aside = url.path + ".corrupt-" + stamp
        for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: url.path + suffix) {
            if rename(url.path + suffix, aside + suffix) != 0 { unlink(url.path + suffix) }
        }
        return URL(fileURLWithPath: aside)
    }

    /// Fills a new database from the run folders: each `run.json` gives a run's row, and the
    /// run-finished line of its `events.jsonl`, if any, its stages and summary.
    /// - Returns: how many runs were rebuilt.
    private static func rebuild(_ database: DatabasePool, from folder: URL, stamp: IntegrityStamp) throws -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        var rebuilt = 0
        for name in names.sorted() {
            let runFolder = folder.appendingPathComponent(name)
            guard let data = try? Data(contentsOf: runFolder.appendingPathComponent(RunFiles.record)),
                  let record = try? JSONDecoder().decode(RunRecord.self, from: data) else { continue }
            let finished = (try? String(contentsOf: runFolder.appendingPathComponent(RunFiles.events), encoding: .utf8))?
                .split(separator: "\n").last { $0.contains(#""event":"run-finished""#) }
                .flatMap { line in (try? RunSummary(runFinishedLine: line)).map { (String(line), $0) } }
            try stamp.vouching { try database.write { db in
                try record.insert(db, onConflict: .ignore)
                if let (line, summary) = finished { try finish(db, run: record.id, summary: summary, summaryLine: line) }
            } }
            rebuilt += 1
        }
        return rebuilt
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

    /// The file every event of a run is appended to, one JSON line each (see `follow(run:)`).
    public func eventsFile(run: String) -> URL {
        folder.appendingPathComponent(run).appendingPathComponent(RunFiles.events)
    }

    func insert(_ run: RunRecord) throws {
        try stamp.vouching { try database.write { db in try run.insert(db) } }
    }

    /// Records how the run ended: its status and stages, and `summaryLine`, the run-finished
    /// event exactly as the run printed it.
    func finish(run id: String, summary: RunSummary, summaryLine: String) throws {
        try stamp.vouching { try database.write { db in try Self.finish(db, run: id, summary: summary, summaryLine: summaryLine) } }
    }

    private static func finish(_ db: Database, run id: String, summary: RunSummary, summaryLine: String) throws {
        try db.execute(sql: "UPDATE run SET status = ?, commitSHA = ?, durationMilliseconds = ?, summary = ? WHERE id = ?",
                       arguments: [summary.status.rawValue, summary.commit, summary.durationMilliseconds, summaryLine, id])
        for stage in summary.stages {
            try StageRecord(runID: id, name: stage.name, kind: stage.kind, status: stage.status.rawValue, cached: stage.cached,
                            durationMilliseconds: stage.durationMilliseconds, error: stage.error).save(db)
        }
    }

    /// How many runs are recorded.
    /// - Throws: `RunHistoryError` if the database cannot be read.
    public func count() throws -> Int {
        try reading { db in try RunRecord.fetchCount(db) }
    }

    /// `reading`, for the extensions of the history in other files.
    func runsDatabaseRead<T>(_ body: (Database) throws -> T) throws -> T { try reading(body) }

    /// Reads, turning any database error into a `RunHistoryError` (an environment problem).
    private func reading<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try database.read(body)
        } catch {
            throw RunHistoryError("cannot read the run history in \(folder.path): \(Self.describe(error))")
        }
    }

    /// Runs, newest first, optionally filtered (by pipeline, status and trigger), skipping the
    /// first `offset` that match (for paging).
    /// - Throws: `RunHistoryError` if the database cannot be read.
    public func runs(pipeline: String? = nil, status: String? = nil, trigger: String? = nil, limit: Int = 20, offset: Int = 0) throws -> [RunRecord] {
        try reading { db in
            var request = RunRecord.order(Column("startedAt").desc, Column("id").desc)
            if let pipeline { request = request.filter(Column("pipeline") == pipeline) }
            if let trigger { request = request.filter(Column("trigger") == trigger) }
            let offset = max(0, offset)
            guard let status else { return try request.limit(limit, offset: offset).fetchAll(db).map { $0.withLiveness() } }
            // "abandoned" is never stored: it is a "running" run whose process is gone, and
            // only the process table tells the two apart.
            guard status == "running" || status == "abandoned" else {
                return try request.filter(Column("status") == status).limit(limit, offset: offset).fetchAll(db)
            }
            let unfinished = try request.filter(Column("status") == "running").fetchAll(db).map { $0.withLiveness() }
            return Array(unfinished.filter { $0.status == status }.dropFirst(offset).prefix(limit))
        }
    }

    /// The triggers a run can have, as `runs(trigger:)` takes them.
    public static let triggers = ["agent", "nightly", "local", "manual"]

    /// The statuses a run can have, as `runs(status:)` takes them.
    public static let statuses = ["running", "passed", "failed", "cancelled", "abandoned"]

    /// One run (by full ID or a unique prefix), its stages and, once finished, its summary.
    /// - Throws: `RunHistoryError` if the database cannot be read.
    public func run(_ id: String) throws -> RunDetails? {
        try reading { db in
            guard let run = try RunRecord.fetchOne(db, key: id) ?? Self.onlyRun(startingWith: id, in: db) else { return nil }
            let stages = try StageRecord.filter(Column("runID") == run.id).order(Column.rowID).fetchAll(db)
            return RunDetails(record: run.withLiveness(), stages: stages, summary: run.summary.flatMap { try? RunSummary(runFinishedLine: $0) })
        }
    }

    /// The one run whose ID starts with `prefix` (as `runs show 20261129-0652` accepts), or nil
    /// when none or several do. A range on the primary key, which its index answers: `LIKE`
    /// would read every row (the dashboard's run page with 10,000 runs: p99 up to 64 ms).
    /// Run IDs are digits, lowercase hex and `-`, all below `~`.
    private static func onlyRun(startingWith prefix: String, in db: Database) throws -> RunRecord? {
        guard !prefix.isEmpty else { return nil }
        let matches = try RunRecord.filter(Column("id") >= prefix && Column("id") < prefix + "~").limit(2).fetchAll(db)
        return matches.count == 1 ? matches.first : nil
    }

    /// The latest run of `pipeline` with `trigger`, other than `excluding`.
    public func latest(pipeline: String, trigger: String, excluding: String? = nil) throws -> RunRecord? {
        try reading { db in
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
        let removed: [String] = try stamp.vouching { try database.write { db in
            let ids = try String.fetchAll(db, sql: """
                SELECT id FROM (SELECT id, startedAt, ROW_NUMBER() OVER (PARTITION BY pipeline ORDER BY startedAt DESC) AS rank FROM run)
                WHERE rank > ? AND startedAt < ?
                """, arguments: [keep, cutoff])
            for id in ids {
                try db.execute(sql: "DELETE FROM stage WHERE runID = ?", arguments: [id])
                try db.execute(sql: "DELETE FROM run WHERE id = ?", arguments: [id])
            }
            return ids
        } }
        for id in removed { try? FileManager.default.removeItem(at: folder.appendingPathComponent(id)) }
        return removed
    }
}

/// One run as the history has it: its row, its stages, and the summary it ended with.
public struct RunDetails: Sendable {
    /// The run's row (status `abandoned` if it was running and its process is gone).
    public let record: RunRecord
    /// Its stages, in the order they finished (empty until the run finished).
    public let stages: [StageRecord]
    /// The run-finished event, decoded; nil while running, or if the run never finished.
    public let summary: RunSummary?
}

/// The names of the files in a run's folder.
enum RunFiles {
    /// The run's row, as JSON, written at its start: what a rebuild of the database starts from.
    static let record = "run.json"
    /// Every event, one JSON line each.
    static let events = "events.jsonl"
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

    /// Creates a record (the recorder makes them; front ends and tests may too).
    public init(id: String, pipeline: String, source: String, ref: String?, commitSHA: String, trigger: String, status: String,
                startedAt: Date, durationMilliseconds: Int64?, pid: Int32, summary: String?) {
        self.id = id
        self.pipeline = pipeline
        self.source = source
        self.ref = ref
        self.commitSHA = commitSHA
        self.trigger = trigger
        self.status = status
        self.startedAt = startedAt
        self.durationMilliseconds = durationMilliseconds
        self.pid = pid
        self.summary = summary
    }

    /// The run as front ends show it (`runs ls --json`, the dashboard's API, MCP `list_runs`).
    public var listing: RunListing {
        RunListing(run: id, pipeline: pipeline, source: source, ref: ref, commit: commitSHA, trigger: trigger, status: status,
                   started: RunEvent.rfc3339(startedAt), durationMilliseconds: durationMilliseconds)
    }

    /// The run as one line of JSON, as `runs ls --json` prints it (see `RunListing`).
    public var jsonLine: String {
        // Encoding strings, integers and nulls cannot fail.
        (try? OrderedJSONEncoder().serialized(listing)) ?? "{}"
    }

    /// A run still marked running whose process is gone was killed: say so.
    func withLiveness() -> RunRecord {
        guard status == "running", kill(pid, 0) != 0, errno == ESRCH else { return self }
        var copy = self
        copy.status = "abandoned"
        return copy
    }
}

/// A run as every front end lists it: `run`, `pipeline`, `source`, `ref`, `commit`, `trigger`,
/// `status`, `started` (RFC 3339), `duration_ms`, in that order, absent values as null.
public struct RunListing: Codable, Sendable, Hashable {
    public let run: String
    public let pipeline: String
    public let source: String
    public let ref: String?
    public let commit: String
    public let trigger: String
    public let status: String
    public let started: String
    public let durationMilliseconds: Int64?

    private enum CodingKeys: String, CodingKey {
        case run, pipeline, source, ref, commit, trigger, status, started
        case durationMilliseconds = "duration_ms"
    }

    /// Every key always present, null when there is no value: readers index by key.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(run, forKey: .run)
        try container.encode(pipeline, forKey: .pipeline)
        try container.encode(source, forKey: .source)
        try container.encode(ref, forKey: .ref)
        try container.encode(commit, forKey: .commit)
        try container.encode(trigger, forKey: .trigger)
        try container.encode(status, forKey: .status)
        try container.encode(started, forKey: .started)
        try container.encode(durationMilliseconds, forKey: .durationMilliseconds)
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

/// The wall times of every recorded stage of one kind, bucketed (`RunHistory.stageDurationHistograms`).
public struct StageDurationHistogram: Sendable, Equatable {
    /// The stage kind (`nix-build`, `smoke`, …).
    public var kind: String
    /// How many stages of that kind the history holds.
    public var count: Int
    /// Their wall times added up.
    public var sumMilliseconds: Int64
    /// Per bound (seconds, as asked), how many took at most that long (cumulative).
    public var buckets: [Bucket]

    /// A histogram as counted.
    public init(kind: String, count: Int, sumMilliseconds: Int64, buckets: [Bucket]) {
        self.kind = kind
        self.count = count
        self.sumMilliseconds = sumMilliseconds
        self.buckets = buckets
    }

    /// How many stages took at most `bound` seconds.
    public struct Bucket: Sendable, Equatable {
        /// The upper bound, in seconds.
        public var bound: Double
        /// How many stages took at most that long.
        public var count: Int

        /// A bucket as counted.
        public init(bound: Double, count: Int) {
            self.bound = bound
            self.count = count
        }
    }
}

/// The history could not be read or written.
public struct RunHistoryError: Error, Sendable, CustomStringConvertible {
    /// What failed and what to do.
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension RunHistory {
    /// The stages of the newest `runs` runs (of any pipeline), with how many runs that was: what
    /// a cache hit ratio over the last runs is counted from. One query, however many runs.
    /// - Throws: `RunHistoryError` if the database cannot be read.
    public func stagesOfLatestRuns(_ runs: Int) throws -> (runs: Int, stages: [StageRecord]) {
        try reading { db in
            let latest = "SELECT id FROM run ORDER BY startedAt DESC LIMIT ?"
            let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM (\(latest))", arguments: [runs]) ?? 0
            let stages = try StageRecord.fetchAll(db, sql: "SELECT * FROM stage WHERE runID IN (\(latest))", arguments: [runs])
            return (count, stages)
        }
    }

    /// The stages of the runs `ids` (exact IDs), each run's in the order they finished: one
    /// query for a pipeline page's 30 runs instead of one per run.
    /// - Throws: `RunHistoryError` if the database cannot be read.
    public func stages(ofRuns ids: [String]) throws -> [String: [StageRecord]] {
        guard !ids.isEmpty else { return [:] }
        return try reading { db in
            Dictionary(grouping: try StageRecord.filter(ids.contains(Column("runID"))).order(Column.rowID).fetchAll(db), by: \.runID)
        }
    }

    /// Every recorded stage's wall time as a histogram per stage kind (sorted by kind), counted in
    /// SQLite (one grouped query) instead of loading every stage: what `/metrics` reports. A
    /// stage counts in each bucket whose bound (`bounds`, in seconds) is at or above its time, as
    /// a Prometheus histogram's cumulative buckets do.
    /// - Throws: `RunHistoryError` if the database cannot be read.
    public func stageDurationHistograms(bounds: [Double]) throws -> [StageDurationHistogram] {
        // The seconds are computed as a Prometheus client would (milliseconds / 1000 in doubles),
        // so a stage exactly on a bound lands in the same bucket as recording it one by one.
        let buckets = bounds.map { _ in "SUM(CASE WHEN durationMilliseconds / 1000.0 <= ? THEN 1 ELSE 0 END)" }
        let sql = "SELECT kind, COUNT(*), SUM(durationMilliseconds)" + buckets.map { ", " + $0 }.joined()
            + " FROM stage GROUP BY kind ORDER BY kind"
        return try reading { db in
            try Row.fetchAll(db, sql: sql, arguments: StatementArguments(bounds)).map { row in
                StageDurationHistogram(kind: row[0], count: row[1], sumMilliseconds: row[2],
                                       buckets: bounds.indices.map { .init(bound: bounds[$0], count: row[3 + $0]) })
            }
        }
    }

    /// How many runs each pipeline has in each status (`abandoned` told apart from `running` by
    /// the process table, as `runs` does): what `/metrics` reports. One grouped query, plus a
    /// look at the runs still marked running.
    /// - Throws: `RunHistoryError` if the database cannot be read.
    public func runCounts() throws -> [(pipeline: String, status: String, count: Int)] {
        try reading { db in
            var counts: [String: [String: Int]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT pipeline, status, COUNT(*) AS n FROM run WHERE status != 'running' GROUP BY pipeline, status") {
                counts[row["pipeline"], default: [:]][row["status"] as String] = row["n"]
            }
            for run in try RunRecord.filter(Column("status") == "running").fetchAll(db) {
                counts[run.pipeline, default: [:]][run.withLiveness().status, default: 0] += 1
            }
            return counts.sorted { $0.key < $1.key }.flatMap { pipeline, statuses in
                statuses.sorted { $0.key < $1.key }.map { (pipeline: pipeline, status: $0.key, count: $0.value) }
            }
        }
    }
}
