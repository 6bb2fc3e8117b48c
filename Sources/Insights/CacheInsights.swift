import BuildCache
import Maintenance
import RunEvents
import Foundation
import RunHistory

/// The cache at a glance: where the bytes are (by kind and by pipeline, as `cache du --json`),
/// how often each stage kind was served from the cache over the last runs, the entries least
/// recently used first (as `cache ls --json`), and what the last gc evicted and why. What the
/// dashboard's cache page draws; `Codable` with snake_case keys in declaration order.
public struct CacheInsights: Codable, Sendable, Equatable {
    /// How often one stage kind came from the cache.
    public struct HitRatio: Codable, Sendable, Equatable {
        public var kind: String
        /// Stages of this kind that did something or came from the cache (`passed` or `failed`;
        /// skipped and cancelled stages did neither and are not counted).
        public var stages: Int
        /// Of those, the ones served from the cache.
        public var cached: Int
        /// `cached / stages`; nil when no stage of the kind counted.
        public var ratio: Double?

        /// Counts `stages` of `kind`.
        public init(kind: String, stages: Int, cached: Int) {
            self.kind = kind
            self.stages = stages
            self.cached = cached
            ratio = stages == 0 ? nil : Double(cached) / Double(stages)
        }
    }

    /// Bytes by kind and by pipeline: the `cache du --json` report (closures only if asked).
    public var usage: CacheUsageReport
    /// How many runs (the newest, any pipeline) the hit ratios are counted over.
    public var runsConsidered: Int
    /// Per stage kind, sorted by kind.
    public var hitRatios: [HitRatio]
    /// The `cache ls --json` report: entries least recently used first.
    public var entries: CacheListReport
    /// What the last gc did, nil if no gc has recorded itself.
    public var lastGC: LastGC?

    enum CodingKeys: String, CodingKey {
        case usage, runsConsidered = "runs_considered", hitRatios = "hit_ratios", entries, lastGC = "last_gc"
    }

    /// Reads `tools`' cache and the newest `runs` runs of `history` (nil: no ratios). `closure`
    /// also asks nix for the store closures (slow: `nix path-info -r`), as `cache du` does.
    /// - Throws: `CacheError` if the cache index cannot be read; `RunHistoryError` if the history cannot.
    public static func load(tools: CacheTools, history: RunHistory?, runs: Int = 50, closure: Bool = false) async throws -> CacheInsights {
        let usage = try await tools.usageReport(closure: closure)
        // `usageReport` has just reconciled the index: the records are read as they are.
        let records = try tools.cache.records()
        let recent = try history?.stagesOfLatestRuns(runs) ?? (runs: 0, stages: [])
        return CacheInsights(usage: usage, runsConsidered: recent.runs, hitRatios: hitRatios(of: recent.stages),
                             entries: CacheListReport(cacheRoot: tools.cache.root.path, records: records),
                             lastGC: tools.cache.lastGC())
    }

    /// Per kind, how many of `stages` counted and how many came from the cache.
    static func hitRatios(of stages: [StageRecord]) -> [HitRatio] {
        let counted = stages.filter { $0.status == StageStatus.passed.rawValue || $0.status == StageStatus.failed.rawValue }
        return Dictionary(grouping: counted, by: \.kind).sorted { $0.key < $1.key }.map { kind, stages in
            HitRatio(kind: kind, stages: stages.count, cached: stages.filter(\.cached).count)
        }
    }
}
