import Foundation
@testable import Maintenance
import Testing
@testable import BuildCache
@testable import Engine
import SutradharKit

/// The typed reports must print exactly what the CLI printed before they existed: agents and
/// golden files read those lines. `Legacy` below is the CLI's hand-built JSON as it was (copied
/// from Sources/sutradhar/Commands/Cache.swift and Doctor.swift before the move), the oracle.
@Suite struct ReportJSONTests {
    static let created = Date(timeIntervalSince1970: 1_764_000_000.123)
    static let used = Date(timeIntervalSince1970: 1_764_100_000.5)

    static let build = CacheRecord(kind: "nix-build", key: String(repeating: "ab", count: 32), pipeline: "example", sizeBytes: 4096,
                                   created: created, lastUsed: used, outputs: ["out": "/nix/store/x-image", "drv": "/nix/store/y.drv"])
    static let load = CacheRecord(kind: "docker-load", key: String(repeating: "cd", count: 32), pipeline: "bommalata \"quoted\"",
                                  sizeBytes: 0, created: created, lastUsed: created,
                                  outputs: ["image": "sha256:1234", "tags": "a:1,b:2"])
    static let eviction = Eviction(record: build, reason: "unused for 15d (max-age 14d)", removedPaths: ["/c/gcroots/x", "/c/index/y.json"])

    @Test func cacheLsReportPrintsTheCLIsLine() throws {
        let report = CacheListReport(cacheRoot: "/tmp/c", records: [Self.build, Self.load])
        let printed = try OrderedJSONEncoder().serialized(report)
        let total = Int64(4096)
        let legacy = JSONValue.object([
            ("cache_root", .string("/tmp/c")), ("total_bytes", .int(total)),
            ("entries", .array([Self.build, Self.load].map(Legacy.json))),
        ]).serialized()
        #expect(printed == legacy)
        #expect(printed.hasPrefix(#"{"cache_root":"/tmp/c","total_bytes":4096,"entries":[{"kind":"nix-build","key":"abab"#))
        #expect(try JSONDecoder().decode(CacheListReport.self, from: Data(printed.utf8)) == report)
    }

    @Test func cacheDuReportPrintsTheCLIsLine() throws {
        let usage = CacheUsage(root: "/tmp/c", totalBytes: 10_000,
                               kinds: [.init(name: "mirrors", bytes: 100, entries: 1), .init(name: "nix-build", bytes: 200, entries: 2, closureBytes: 9_999)],
                               pipelines: [.init(name: "example", bytes: 300, entries: 3)])
        let report = CacheUsageReport(usage)
        let printed = try OrderedJSONEncoder().serialized(report)
        #expect(printed == Legacy.du(usage))
        #expect(try JSONDecoder().decode(CacheUsageReport.self, from: Data(printed.utf8)) == report)
    }

    @Test(arguments: [nil, "no daemon answers at /run/x.sock"])
    func cacheVerifyReportPrintsTheCLIsLine(imagesNotChecked: String?) throws {
        var verify = VerifyReport(checked: 5, unreadable: ["/c/index/bad.json"])
        verify.dropped = [Self.eviction]
        verify.inUse = [Eviction(record: Self.load, reason: "its image is gone", removedPaths: [])]
        verify.imagesChecked = imagesNotChecked == nil
        verify.imagesNotChecked = imagesNotChecked
        let report = CacheVerifyReport(cacheRoot: "/tmp/c", verify)
        let printed = try OrderedJSONEncoder().serialized(report)
        #expect(printed == Legacy.verify(verify, root: "/tmp/c"))
        #expect(try JSONDecoder().decode(CacheVerifyReport.self, from: Data(printed.utf8)) == report)
    }

    @Test(arguments: [false, true])
    func cacheGCReportPrintsTheCLIsLine(everything: Bool) throws {
        var gc = GCReport()
        gc.evicted = [Self.eviction]
        gc.inUse = everything ? [Self.load] : []
        gc.orphans = everything ? ["/c/checkouts/old"] : []
        gc.orphanSweepSkipped = !everything
        gc.remainingBytes = 123
        gc.remainingEntries = 4
        var cleanup = GCCleanup()
        if everything {
            cleanup.removedImages = [.init(id: "sha256:1234", untagged: ["a:1", "b:2"])]
            cleanup.imageNotes = ["image sha256:99 is used by a container: kept"]
            cleanup.imagesNotRemoved = "no daemon"
            cleanup.removedMirrors = [.init(path: "/c/mirrors/m", source: "https://example.com/r.git")]
            cleanup.busyMirrors = ["/c/mirrors/busy"]
            cleanup.mirrorsNotCollected = nil
        } else {
            cleanup.mirrorsNotCollected = "no pipelines/ folder at or above /c: every mirror kept"
        }
        let nix = everything ? NixStoreGC(succeeded: true, summary: "3 store paths deleted, 1.00 MiB freed") : nil
        let history: (pruned: Int?, problem: String?) = everything ? (2, nil) : (nil, "the run history was not pruned: locked")
        let report = CacheGCReport(cacheRoot: "/tmp/c", report: gc, cleanup: cleanup, nixGC: nix,
                                   prunedRuns: history.pruned, historyNotPruned: history.problem)
        let printed = try OrderedJSONEncoder().serialized(report)
        #expect(printed == Legacy.gc(gc, cleanup: cleanup, nixGC: nix, history: history, root: "/tmp/c"))
        #expect(try JSONDecoder().decode(CacheGCReport.self, from: Data(printed.utf8)) == report)
    }

    @Test func cacheClearReportPrintsTheCLIsLine() throws {
        let clear = ClearReport(entries: 3, bytes: 77, removedPaths: ["/c/checkouts", "/c/gcroots"])
        let report = CacheClearReport(cacheRoot: "/tmp/c", clear)
        let printed = try OrderedJSONEncoder().serialized(report)
        #expect(printed == #"{"cache_root":"/tmp/c","entries":3,"bytes":77,"removed":["/c/checkouts","/c/gcroots"]}"#)
        #expect(try JSONDecoder().decode(CacheClearReport.self, from: Data(printed.utf8)) == report)
    }

    @Test func doctorReportPrintsTheCLIsLine() throws {
        let checks = [DoctorCheck("nix", ok: true, "nix 2.8.0"),
                      DoctorCheck("docker", ok: false, "no socket", fix: "start it (scripts/setup.sh)")]
        let report = DoctorReport(checks: checks)
        let printed = try OrderedJSONEncoder().serialized(report)
        #expect(printed == Legacy.doctor(checks))
        #expect(printed.contains(#""fix":null"#))
        #expect(!report.ok)
        #expect(try JSONDecoder().decode(DoctorReport.self, from: Data(printed.utf8)) == report)
    }
}

/// The CLI's JSON before the typed reports, verbatim but for the surrounding `print`.
enum Legacy {
    static func time(_ date: Date) -> String { RunEvent.rfc3339(date) }

    static func json(_ record: CacheRecord) -> JSONValue {
        .object([
            ("kind", .string(record.kind)), ("key", .string(record.key)), ("pipeline", .string(record.pipeline)),
            ("size_bytes", .int(record.sizeBytes)), ("created", .string(time(record.created))),
            ("last_used", .string(time(record.lastUsed))),
            ("outputs", .object(record.outputs.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
        ])
    }

    static func json(_ eviction: Eviction) -> JSONValue {
        guard case .object(var pairs) = json(eviction.record) else { return .null }
        pairs += [("reason", .string(eviction.reason)), ("removed", .array(eviction.removedPaths.map(JSONValue.string)))]
        return .object(pairs)
    }

    static func du(_ usage: CacheUsage) -> String {
        func part(_ part: CacheUsage.Part, key: String) -> JSONValue {
            var pairs: [(String, JSONValue)] = [(key, .string(part.name)), ("bytes", .int(part.bytes)), ("entries", .int(Int64(part.entries)))]
            if let closure = part.closureBytes { pairs.append(("closure_bytes", .int(closure))) }
            return .object(pairs)
        }
        return JSONValue.object([
            ("cache_root", .string(usage.root)), ("total_bytes", .int(usage.totalBytes)),
            ("kinds", .array(usage.kinds.map { part($0, key: "kind") })),
            ("pipelines", .array(usage.pipelines.map { part($0, key: "pipeline") })),
        ]).serialized()
    }

    static func verify(_ report: VerifyReport, root: String) -> String {
        var pairs: [(String, JSONValue)] = [
            ("cache_root", .string(root)), ("checked", .int(Int64(report.checked))),
            ("dropped", .array(report.dropped.map(json))), ("in_use", .array(report.inUse.map(json))),
            ("unreadable", .array(report.unreadable.map(JSONValue.string))), ("images_checked", .bool(report.imagesChecked)),
        ]
        if let reason = report.imagesNotChecked { pairs.append(("images_not_checked", .string(reason))) }
        return JSONValue.object(pairs).serialized()
    }

    static func gc(_ report: GCReport, cleanup: GCCleanup, nixGC: NixStoreGC?, history: (pruned: Int?, problem: String?),
                   root: String) -> String {
        let freed = report.evicted.reduce(Int64(0)) { $0 + $1.record.sizeBytes }
        var pairs: [(String, JSONValue)] = [
            ("cache_root", .string(root)),
            ("evicted", .array(report.evicted.map(json))), ("evicted_bytes", .int(freed)),
            ("in_use", .array(report.inUse.map(json))), ("orphans", .array(report.orphans.map(JSONValue.string))),
            ("orphan_sweep_skipped", .bool(report.orphanSweepSkipped)),
            ("remaining_bytes", .int(report.remainingBytes)), ("remaining_entries", .int(Int64(report.remainingEntries))),
        ]
        pairs += [
            ("removed_images", .array(cleanup.removedImages.map { .object([("id", .string($0.id)), ("untagged", .array($0.untagged.map(JSONValue.string)))]) })),
            ("image_notes", .array(cleanup.imageNotes.map(JSONValue.string))),
            ("images_not_removed", cleanup.imagesNotRemoved.map(JSONValue.string) ?? .null),
            ("removed_mirrors", .array(cleanup.removedMirrors.map { .object([("path", .string($0.path)), ("source", .string($0.source))]) })),
            ("busy_mirrors", .array(cleanup.busyMirrors.map(JSONValue.string))),
            ("mirrors_not_collected", cleanup.mirrorsNotCollected.map(JSONValue.string) ?? .null),
            ("pruned_runs", history.pruned.map { .int(Int64($0)) } ?? .null),
            ("history_not_pruned", history.problem.map(JSONValue.string) ?? .null),
        ]
        pairs.append(("nix_gc", nixGC.map { .object([("succeeded", .bool($0.succeeded)), ("summary", .string($0.summary))]) } ?? .null))
        return JSONValue.object(pairs).serialized()
    }

    static func doctor(_ checks: [DoctorCheck]) -> String {
        let items = checks.map { check -> JSONValue in
            .object([("name", .string(check.name)), ("ok", .bool(check.ok)), ("detail", .string(check.detail)),
                     ("fix", check.fix.map(JSONValue.string) ?? .null)])
        }
        return JSONValue.object([("ok", .bool(checks.allSatisfy(\.ok))), ("checks", .array(items))]).serialized()
    }
}
