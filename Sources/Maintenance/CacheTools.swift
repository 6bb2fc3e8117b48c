import BuildCache
import DockerEngine
import Engine
import Foundation
import NixBuild
import RunEvents
import Subprocess

#if canImport(System)
import System
#else
import SystemPackage
#endif

/// What `sutradhar cache …` does: listing, sizing, verifying, collecting and clearing one cache
/// root. Works beside live runs: nothing a run holds is removed.
public struct CacheTools: Sendable {
    /// The cache.
    public let cache: BuildCache
    /// The environment nix and Docker discovery see.
    public let environment: [String: String]

    /// Opens the cache at `root` (rebuilding a missing or corrupt index; see `cache.notices`).
    /// - Throws: `CacheError` if it cannot be opened.
    public init(root: URL, environment: [String: String] = ProcessInfo.processInfo.environment) throws(CacheError) {
        self.init(cache: try BuildCache(root: root), environment: environment)
    }

    /// Works on a cache already open (a run's).
    init(cache: BuildCache, environment: [String: String]) {
        self.cache = cache
        self.environment = environment
    }

    /// Every entry, least recently used first, after bringing the index in line with the files.
    /// - Throws: `CacheError` if the index cannot be read or repaired.
    public func list() throws(CacheError) -> [CacheRecord] {
        try cache.reconcile()
        return try cache.records()
    }

    /// Where the space under the root went, per kind and per pipeline. `closure` also asks nix
    /// (`nix path-info -r --json` over the live GC roots) how much of the store they keep alive.
    /// - Throws: `CacheError` if the index cannot be read.
    public func usage(closure: Bool = true) async throws(CacheError) -> CacheUsage {
        let records = try list()
        let byKind = Dictionary(grouping: records, by: \.kind)
        // One walk of the root sizes every part below (the run folders are most of the files).
        let indexFiles = ["", "-wal", "-shm"].map { "index.sqlite" + $0 }
        let areas: [CacheArea] = [.mirrors, .checkouts, .runs]
        let sizes = DiskUsage.breakdown(of: cache.root.path, parts: areas.map(\.rawValue) + indexFiles)
        func bytes(_ area: CacheArea) -> Int64 { sizes.parts[area.rawValue] ?? 0 }
        var kinds: [CacheUsage.Part] = [
            .init(name: "mirrors", bytes: bytes(.mirrors),
                  entries: ((try? FileManager.default.contentsOfDirectory(atPath: cache.folder(.mirrors).path)) ?? [])
                      .filter { $0.hasSuffix(".git") }.count),
            .init(name: "checkouts", bytes: bytes(.checkouts),
                  entries: byKind[BuildCache.checkoutKind]?.count ?? 0),
        ]
        for (kind, items) in byKind.sorted(by: { $0.key < $1.key }) where kind != BuildCache.checkoutKind {
            var part = CacheUsage.Part(name: kind, bytes: items.reduce(Int64(0)) { $0 + $1.sizeBytes }, entries: items.count)
            let storePaths = items.compactMap { $0.outputs["out"] }.filter { $0.hasPrefix("/nix/store/") }
            if closure, !storePaths.isEmpty {
                part.closureBytes = await Self.closureSize(of: storePaths, environment: environment)
            }
            kinds.append(part)
        }
        let index = indexFiles.reduce(Int64(0)) { $0 + (sizes.parts[$1] ?? 0) }
        kinds.append(.init(name: "index", bytes: index, entries: records.count))
        kinds.append(.init(name: "runs", bytes: bytes(.runs), entries: 0))
        kinds.append(.init(name: "other", bytes: max(0, sizes.restBytes), entries: 0))
        var pipelines: [CacheUsage.Part] = []
        for (name, items) in Dictionary(grouping: records, by: \.pipeline) {
            let bytes = items.reduce(Int64(0)) { $0 + $1.sizeBytes }
            pipelines.append(CacheUsage.Part(name: name, bytes: bytes, entries: items.count))
        }
        pipelines.sort { $0.bytes == $1.bytes ? $0.name < $1.name : $0.bytes > $1.bytes }
        return CacheUsage(root: cache.root.path, totalBytes: sizes.totalBytes, kinds: kinds, pipelines: pipelines)
    }

    /// Checks every entry's content and drops (as gc would: never one a live run holds) those
    /// whose content is gone or wrong: a checkout whose folder is missing, a nix build with no
    /// GC root, a root pointing elsewhere, or a store path nix no longer has (`nix path-info`),
    /// an image the daemon no longer has (`GET /images/{id}/json`, when a daemon answers).
    /// Entry files that cannot be decoded are removed first.
    /// - Throws: `CacheError` if the index cannot be read or repaired.
    public func verify(dockerHost: String? = nil) async throws(CacheError) -> VerifyReport {
        let reconciled = try cache.reconcile()
        let records = try cache.records()
        var report = VerifyReport(checked: records.count, unreadable: reconciled.unreadable)
        let nix = Nix(options: [NixOption(name: "substituters", value: "")], environment: [:])
        let images = records.filter { Engine.imageProducingKinds.contains($0.kind) }.compactMap { $0.outputs["image"] }
        let presentImages = images.isEmpty ? [:] : await imagesPresent(images, dockerHost: dockerHost, report: &report)
        for record in records {
            guard let problem = await problem(with: record, nix: nix, presentImages: presentImages) else { continue }
            switch cache.evict(record) {
            case .evicted(let paths):
                report.dropped.append(Eviction(record: record, reason: problem, removedPaths: paths))
            case .inUse:
                report.inUse.append(Eviction(record: record, reason: problem, removedPaths: []))
            }
        }
        return report
    }

    private func problem(with record: CacheRecord, nix: Nix, presentImages: [String: Bool]) async -> String? {
        switch record.kind {
        case BuildCache.checkoutKind:
            var isFolder: ObjCBool = false
            guard let tree = record.outputs["tree"],
                  FileManager.default.fileExists(atPath: cache.checkoutFolder(tree: tree).path, isDirectory: &isFolder), isFolder.boolValue
            else { return "its checkout folder is missing" }
            return nil
        case "nix-build":
            guard let out = record.outputs["out"] else { return "it names no store path" }
            let roots = cache.gcRoots(of: record)
            guard !roots.isEmpty else { return "it has no GC root under \(cache.folder(.nixRoots).path)" }
            guard roots.contains(where: { (try? FileManager.default.destinationOfSymbolicLink(atPath: $0.path)) == out }) else {
                return "its GC root does not point to \(out)"
            }
            guard await nix.isValid(storePath: out) else { return "nix no longer has \(out)" }
            return nil
        case let kind where Engine.imageProducingKinds.contains(kind):
            guard let image = record.outputs["image"] else { return "it names no image" }
            return presentImages[image] == false ? "the daemon no longer has \(image)" : nil
        default:
            return nil
        }
    }

    /// Which images the daemon has; empty (nothing judged) if no daemon answers.
    private func imagesPresent(_ images: [String], dockerHost: String?, report: inout VerifyReport) async -> [String: Bool] {
        do {
            let host = try DockerHost.discover(explicit: dockerHost, environment: environment, homeDirectory: environment["HOME"])
            let answer = try await DockerClient.withClient(host: host, timeout: .seconds(10)) { client in
                var present: [String: Bool] = [:]
                for image in Set(images) { present[image] = try await client.inspectImage(image) != nil }
                return present
            }
            report.imagesChecked = true
            return answer
        } catch {
            report.imagesNotChecked = "no Docker daemon answered (\(error)); \(Engine.imageProducingKindsText) entries were not checked"
            return [:]
        }
    }

    /// Evicts by `policy` (see `BuildCache.collectGarbage`); removes from the daemon (found as
    /// `verify` finds it, `dockerHost` first) the images and tags of evicted docker-load entries
    /// that no remaining entry names, and the mirrors of sources no pipeline near the cache uses
    /// (see `collectMirrors`); then, with `nixStoreGC`, runs `nix store gc` so that the store
    /// paths whose roots were removed are reclaimed. Daemon failures are notes, never errors.
    /// - Throws: `CacheError` if the index cannot be read or repaired.
    public func collectGarbage(_ policy: GCPolicy, nixStoreGC: Bool, dockerHost: String? = nil,
                               now: Date = Date()) async throws(CacheError) -> (GCReport, GCCleanup, NixStoreGC?) {
        let report = try cache.collectGarbage(policy, now: now)
        var cleanup = GCCleanup()
        let cleaner = CacheCleaner(cache: cache, environment: environment)
        await cleaner.removeImages(of: report.evicted, into: &cleanup, dockerHost: dockerHost)
        cleaner.collectMirrors(maxAge: policy.maxAge, now: now, into: &cleanup)
        guard nixStoreGC else { return (report, cleanup, nil) }
        return (report, cleanup, await Self.runNixStoreGC(environment: environment))
    }

    /// Removes everything but the root folder; refused while a run is live.
    /// - Throws: `CacheError` `.busy` while a run holds the cache, `.io` otherwise.
    public func clear() throws(CacheError) -> ClearReport {
        try cache.clear()
    }

    // MARK: nix

    /// The bytes of the union of the closures of `paths` (each store path counted once), or nil
    /// if nix cannot tell. `nix path-info -r --json PATHS…`.
    static func closureSize(of paths: [String], environment: [String: String]) async -> Int64? {
        guard let outcome = await runNix(["path-info", "-r", "--json"] + paths, environment: environment, outputLimit: 64 << 20),
              outcome.status.isSuccess,
              let items = try? JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [[String: Any]]
        else { return nil }
        var seen = Set<String>()
        return items.reduce(Int64(0)) { total, item in
            guard let path = item["path"] as? String, seen.insert(path).inserted else { return total }
            return total + ((item["narSize"] as? NSNumber)?.int64Value ?? 0)
        }
    }

    /// Runs `nix store gc` and reads its closing line ("N store paths deleted, X MiB freed").
    static func runNixStoreGC(environment: [String: String]) async -> NixStoreGC {
        guard let outcome = await runNix(["store", "gc"], environment: environment, outputLimit: 1 << 20) else {
            return NixStoreGC(succeeded: false, summary: "nix could not be run")
        }
        let lines = (outcome.stderrTail + outcome.stdout.split(separator: "\n").map(String.init)).filter { !$0.isEmpty }
        let summary = lines.last { $0.contains("freed") } ?? lines.last ?? ""
        return NixStoreGC(succeeded: outcome.status.isSuccess, summary: summary)
    }

    private struct NixOutcome {
        let status: TerminationStatus
        let stdout: String
        let stderrTail: [String]
    }

    /// Runs `nix ARGUMENTS` (flakes enabled) in its own process group, keeping at most
    /// `outputLimit` bytes of stdout and the last 20 lines of stderr; nil if it cannot start.
    private static func runNix(_ arguments: [String], environment: [String: String], outputLimit: Int) async -> NixOutcome? {
        var platformOptions = PlatformOptions()
        platformOptions.createSession = true
        platformOptions.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: .seconds(3))]
        var overrides: [Environment.Key: String?] = [:]
        for (name, value) in environment {
            if let key = Environment.Key(rawValue: name) { overrides[key] = value }
        }
        do {
            let outcome = try await run(
                .name("nix"), arguments: Arguments(["--extra-experimental-features", "nix-command flakes"] + arguments),
                environment: .inherit.updating(overrides), platformOptions: platformOptions, input: .none,
                output: .sequence, error: .sequence
            ) { execution in
                try await withThrowingTaskGroup(of: (String?, [String]?).self) { group in
                    group.addTask {
                        var bytes: [UInt8] = []
                        for try await chunk in execution.standardOutput {
                            chunk.withUnsafeBytes { buffer in
                                if bytes.count < outputLimit { bytes += buffer.prefix(outputLimit - bytes.count) }
                            }
                        }
                        return (String(decoding: bytes, as: UTF8.self), nil)
                    }
                    group.addTask {
                        var tail: [String] = []
                        for try await chunk in execution.standardError {
                            let text = chunk.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
                            tail += text.split(separator: "\n").map(String.init)
                            if tail.count > 20 { tail.removeFirst(tail.count - 20) }
                        }
                        return (nil, tail)
                    }
                    var stdout = "", tail: [String] = []
                    for try await (out, err) in group {
                        if let out { stdout = out }
                        if let err { tail = err }
                    }
                    return (stdout, tail)
                }
            }
            return NixOutcome(status: outcome.terminationStatus, stdout: outcome.closureResult.0, stderrTail: outcome.closureResult.1)
        } catch {
            return nil
        }
    }
}

/// Where the space under a cache root went.
public struct CacheUsage: Sendable {
    /// One line of the breakdown.
    public struct Part: Sendable {
        /// A kind (`mirrors`, `checkouts`, `nix-build`, `docker-load`, `index`, `other`) or a pipeline.
        public let name: String
        /// Bytes on disk (for `nix-build`: the store paths the entries root).
        public let bytes: Int64
        /// Entries (or mirrors) counted.
        public let entries: Int
        /// For kinds with store paths: what their closures take in the nix store, if nix could say.
        public var closureBytes: Int64?

        /// Creates a part.
        public init(name: String, bytes: Int64, entries: Int, closureBytes: Int64? = nil) {
            self.name = name
            self.bytes = bytes
            self.entries = entries
            self.closureBytes = closureBytes
        }
    }

    /// The cache root.
    public let root: String
    /// Everything under the root (out-links counted as links: the store is outside the root).
    public let totalBytes: Int64
    /// Per kind.
    public let kinds: [Part]
    /// Per pipeline: the entries each stored, largest first.
    public let pipelines: [Part]
}

/// What `verify` found.
public struct VerifyReport: Sendable {
    /// Entries checked.
    public var checked: Int
    /// Entry files that could not be decoded, removed.
    public var unreadable: [String]
    /// Entries dropped, with what was wrong.
    public var dropped: [Eviction] = []
    /// Entries found wrong but held by a live run, so kept (it will find them wrong itself).
    public var inUse: [Eviction] = []
    /// Whether docker-load entries were checked against a daemon.
    public var imagesChecked = false
    /// Why they were not.
    public var imagesNotChecked: String?

    init(checked: Int, unreadable: [String]) {
        self.checked = checked
        self.unreadable = unreadable
    }
}

/// What `nix store gc` said.
public struct NixStoreGC: Sendable {
    /// Whether it exited 0.
    public let succeeded: Bool
    /// Its closing line, e.g. `3 store paths deleted, 12.50 MiB freed`.
    public let summary: String
}
