import BuildCache
import Engine
import Foundation
import Pipeline
import RunEvents
import RunHistory

/// The cache tools as a front end calls them: each returns the typed report its `--json` prints.
extension CacheTools {
    /// `cache ls`: the entries, least recently used first, optionally of one pipeline or kind.
    /// - Throws: `CacheError` if the index cannot be read or repaired.
    public func listReport(pipeline: String? = nil, kind: String? = nil) throws(CacheError) -> CacheListReport {
        let records = try list().filter { (pipeline == nil || $0.pipeline == pipeline) && (kind == nil || $0.kind == kind) }
        return CacheListReport(cacheRoot: cache.root.path, records: records)
    }

    /// `cache du`: sizes per kind and pipeline; with `closure`, what nix-build roots keep alive.
    /// - Throws: `CacheError` if the index cannot be read or repaired.
    public func usageReport(closure: Bool = true) async throws(CacheError) -> CacheUsageReport {
        CacheUsageReport(try await usage(closure: closure))
    }

    /// `cache verify`: see `verify(dockerHost:)`.
    /// - Throws: `CacheError` if the index cannot be read or repaired.
    public func verifyReport(dockerHost: String? = nil) async throws(CacheError) -> CacheVerifyReport {
        CacheVerifyReport(cacheRoot: cache.root.path, try await verify(dockerHost: dockerHost))
    }

    /// `cache gc`: see `collectGarbage(_:nixStoreGC:dockerHost:now:)`; with a max age, also
    /// prunes runs older than it from the history (keeping the last `keepRuns` of each pipeline).
    /// A history that cannot be pruned is a note in the report, not an error.
    /// - Throws: `CacheError` if the index cannot be read or repaired.
    public func gcReport(_ policy: GCPolicy, nixStoreGC: Bool, dockerHost: String? = nil, keepRuns: Int = 20,
                         now: Date = Date()) async throws(CacheError) -> CacheGCReport {
        let (report, cleanup, nixGC) = try await collectGarbage(policy, nixStoreGC: nixStoreGC, dockerHost: dockerHost, now: now)
        var pruned: Int?, problem: String?
        if let maxAge = policy.maxAge {
            do {
                pruned = try RunHistory(cacheRoot: cache.root).prune(olderThan: maxAge, keepingLast: keepRuns).count
            } catch {
                problem = "the run history was not pruned: \(error)"
            }
        }
        return CacheGCReport(cacheRoot: cache.root.path, report: report, cleanup: cleanup, nixGC: nixGC,
                             prunedRuns: pruned, historyNotPruned: problem)
    }

    /// `cache clear`: removes everything but the root folder; refused while a run is live.
    /// - Throws: `CacheError` `.busy` while a run holds the cache, `.io` otherwise.
    public func clearReport() throws(CacheError) -> CacheClearReport {
        CacheClearReport(cacheRoot: cache.root.path, try clear())
    }
}

/// `doctor`: every check, and whether all passed.
public struct DoctorReport: Codable, Sendable, Equatable {
    public var ok: Bool
    public var checks: [DoctorCheck]

    public init(checks: [DoctorCheck]) {
        self.checks = checks
        ok = checks.allSatisfy(\.ok)
    }
}

extension Doctor {
    /// Runs every check (see `checks(options:)`) into a report.
    public static func report(options: RunOptions) async -> DoctorReport {
        await report(options: options, pipelines: [])
    }

    /// Runs every check (see `checks(options:)`), then pings the remote builders and checks the
    /// push keys of `pipelines` (see `distributionChecks(for:)`).
    public static func report(options: RunOptions, pipelines: [PipelineDefinition]) async -> DoctorReport {
        var checks = await checks(options: options)
        for pipeline in pipelines { checks += await distributionChecks(for: pipeline) }
        return DoctorReport(checks: checks)
    }
}

extension DoctorCheck: Codable, Equatable {
    enum CodingKeys: String, CodingKey { case name, ok, detail, fix }

    public static func == (lhs: DoctorCheck, rhs: DoctorCheck) -> Bool {
        (lhs.name, lhs.ok, lhs.detail, lhs.fix) == (rhs.name, rhs.ok, rhs.detail, rhs.fix) && lhs.remedy == rhs.remedy
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(try container.decode(String.self, forKey: .name), ok: try container.decode(Bool.self, forKey: .ok),
                  try container.decode(String.self, forKey: .detail), fix: try container.decodeIfPresent(String.self, forKey: .fix))
    }

    /// `fix` is written as `null` when there is none (the CLI always printed it). `remedy` is
    /// not written: the JSON stays what the CLI has always printed, where the CLI words the fix.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(ok, forKey: .ok)
        try container.encode(detail, forKey: .detail)
        try container.encode(fix, forKey: .fix)
    }
}
