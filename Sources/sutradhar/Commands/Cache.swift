import ArgumentParser
import BuildCache
import Engine
import Foundation
import Pipeline
import RunHistory

/// `sutradhar cache …`: see, check and bound the build cache.
struct CacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "List, size, verify, garbage-collect or clear the build cache.",
        discussion: """
            Every subcommand takes --cache-dir (default: as for 'run') and --json. Nothing a live run \
            holds is ever removed: gc and verify skip it and say so.

            Examples:
              sutradhar cache du                               where the space went, per kind and pipeline
              sutradhar cache gc --max-size 20GiB --max-age 14d --nix
              sutradhar cache verify --json
            """,
        subcommands: [CacheList.self, CacheUsageCommand.self, CacheVerify.self, CacheGC.self, CacheClear.self])
}

/// Opening the cache the way every `cache` subcommand does: repairs are told on stderr.
enum CacheCommandSupport {
    static func open(_ options: CacheOptions) throws -> CacheTools {
        do {
            let tools = try CacheTools(root: options.resolve(definitionPath: DoctorCommand.defaultDefinitionPath()))
            for notice in tools.cache.notices {
                FileHandle.standardError.write(Data("warning: \(notice)\n".utf8))
            }
            return tools
        } catch {
            throw failure(error)
        }
    }

    /// A cache error as the CLI reports it: 3 (environment problem).
    static func failure(_ error: CacheError) -> CommandFailure {
        CommandFailure(Exit.environmentProblem, error.message)
    }

    static func size(_ bytes: Int64) -> String { ByteSize(bytes: bytes).description }

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

    /// `kind key16 (pipeline, size, last used …)`.
    static func line(_ record: CacheRecord) -> String {
        "\(record.kind) \(record.shortKey) (\(record.pipeline), \(size(record.sizeBytes)), last used \(time(record.lastUsed)))"
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text.padding(toLength: width, withPad: " ", startingAt: 0)
    }
}

/// `sutradhar cache ls`.
struct CacheList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List the entries, least recently used first.")

    @Option(help: "Only entries of this pipeline.") var pipeline: String?
    @Option(help: "Only entries of this kind (nix-build, docker-load, checkout).") var kind: String?
    @Flag(help: "Print one JSON object: cache_root, total_bytes, entries[].") var json = false
    @OptionGroup var cacheOptions: CacheOptions

    func run() async throws {
        let tools = try CacheCommandSupport.open(cacheOptions)
        let records: [CacheRecord]
        do {
            records = try tools.list().filter { (pipeline == nil || $0.pipeline == pipeline) && (kind == nil || $0.kind == kind) }
        } catch {
            throw CacheCommandSupport.failure(error)
        }
        let total = records.reduce(Int64(0)) { $0 + $1.sizeBytes }
        if json {
            print(JSONValue.object([
                ("cache_root", .string(tools.cache.root.path)), ("total_bytes", .int(total)),
                ("entries", .array(records.map(CacheCommandSupport.json))),
            ]).serialized())
            return
        }
        typealias S = CacheCommandSupport
        print(S.pad("KIND", 12) + S.pad("KEY", 17) + S.pad("PIPELINE", 16) + S.pad("SIZE", 10) + S.pad("LAST USED", 25) + "OUTPUT")
        for record in records {
            let output = record.outputs["out"] ?? record.outputs["image"] ?? record.outputs["path"] ?? ""
            print(S.pad(record.kind, 12) + S.pad(record.shortKey, 17) + S.pad(record.pipeline, 16)
                + S.pad(S.size(record.sizeBytes), 10) + S.pad(S.time(record.lastUsed), 25) + output)
        }
        print("\(records.count) entr\(records.count == 1 ? "y" : "ies"), \(S.size(total)), in \(tools.cache.root.path)")
    }
}

/// `sutradhar cache du`.
struct CacheUsageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "du", abstract: "Show where the cache's space went: per kind and per pipeline.",
        discussion: "nix-build entries are sized by the store paths they root; 'closure' is what those roots keep alive in the nix store (nix path-info -r).")

    @Flag(name: .customLong("no-closure"), help: "Do not ask nix for closure sizes.") var noClosure = false
    @Flag(help: "Print one JSON object: cache_root, total_bytes, kinds[], pipelines[].") var json = false
    @OptionGroup var cacheOptions: CacheOptions

    func run() async throws {
        let tools = try CacheCommandSupport.open(cacheOptions)
        let usage: CacheUsage
        do {
            usage = try await tools.usage(closure: !noClosure)
        } catch {
            throw CacheCommandSupport.failure(error)
        }
        if json {
            func part(_ part: CacheUsage.Part, key: String) -> JSONValue {
                var pairs: [(String, JSONValue)] = [(key, .string(part.name)), ("bytes", .int(part.bytes)), ("entries", .int(Int64(part.entries)))]
                if let closure = part.closureBytes { pairs.append(("closure_bytes", .int(closure))) }
                return .object(pairs)
            }
            print(JSONValue.object([
                ("cache_root", .string(usage.root)), ("total_bytes", .int(usage.totalBytes)),
                ("kinds", .array(usage.kinds.map { part($0, key: "kind") })),
                ("pipelines", .array(usage.pipelines.map { part($0, key: "pipeline") })),
            ]).serialized())
            return
        }
        typealias S = CacheCommandSupport
        print("\(usage.root): \(S.size(usage.totalBytes)) on disk")
        print("by kind:")
        for part in usage.kinds {
            var detail = part.name == "mirrors" ? "\(part.entries) mirrors" : "\(part.entries) entries"
            if part.name == "other" { detail = "locks and files no entry names" }
            if part.name == "runs" { detail = "run history and logs" }
            if Engine.imageProducingKinds.contains(part.name) { detail += "; the images live in the daemon" }
            if let closure = part.closureBytes { detail += "; closure \(S.size(closure)) in the nix store" }
            print("  " + S.pad(part.name, 14) + S.pad(S.size(part.bytes), 11) + detail)
        }
        print("by pipeline:")
        if usage.pipelines.isEmpty { print("  (no entries)") }
        for part in usage.pipelines {
            print("  " + S.pad(part.name, 14) + S.pad(S.size(part.bytes), 11) + "\(part.entries) entries")
        }
    }
}

/// `sutradhar cache verify`.
struct CacheVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every entry's content and drop the entries whose content is gone or wrong.",
        discussion: "Checks that checkout folders exist, that nix builds still have their GC root and a valid store path, and (when a Docker daemon answers) that loaded images are still in it.")

    @Option(name: .customLong("docker-host"), help: ArgumentHelp("The daemon to check docker-load entries against.", valueName: "HOST"))
    var dockerHost: String?
    @Flag(help: "Print one JSON object: checked, dropped[], in_use[], unreadable[], images_checked.") var json = false
    @OptionGroup var cacheOptions: CacheOptions

    func run() async throws {
        let tools = try CacheCommandSupport.open(cacheOptions)
        let report: VerifyReport
        do {
            report = try await tools.verify(dockerHost: dockerHost)
        } catch {
            throw CacheCommandSupport.failure(error)
        }
        typealias S = CacheCommandSupport
        if json {
            var pairs: [(String, JSONValue)] = [
                ("cache_root", .string(tools.cache.root.path)), ("checked", .int(Int64(report.checked))),
                ("dropped", .array(report.dropped.map(S.json))), ("in_use", .array(report.inUse.map(S.json))),
                ("unreadable", .array(report.unreadable.map(JSONValue.string))), ("images_checked", .bool(report.imagesChecked)),
            ]
            if let reason = report.imagesNotChecked { pairs.append(("images_not_checked", .string(reason))) }
            print(JSONValue.object(pairs).serialized())
            return
        }
        for path in report.unreadable { print("removed unreadable entry file \(path)") }
        for eviction in report.dropped { print("dropped \(S.line(eviction.record)): \(eviction.reason)") }
        for eviction in report.inUse { print("kept \(S.line(eviction.record)) although \(eviction.reason): a live run holds it") }
        if let reason = report.imagesNotChecked { print("note: \(reason)") }
        print("checked \(report.checked) entries: \(report.dropped.count) dropped, \(report.unreadable.count) unreadable removed, "
            + "\(report.inUse.count) wrong but in use")
    }
}

/// `sutradhar cache gc`.
struct CacheGC: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Evict least recently used entries beyond the limits, and what no entry names.",
        discussion: """
            Entries are evicted least recently used first while the entries take more than --max-size, \
            and whenever unused for longer than --max-age; the --keep-last N most recently used are kept \
            whatever the limits. Entries a live run holds are never evicted (they are listed as kept). \
            Evicting a nix build removes its GC root (out-link); --nix then runs 'nix store gc' so the \
            store reclaims the paths. Evicting a docker-load entry removes its tags and image from the \
            daemon (unforced: an image a container uses stays) unless another entry names the image. \
            Mirrors of sources no definition under the nearest pipelines/ folder (at or above the \
            cache) uses, and that no run holds, are removed (with --max-age: only those unused for \
            longer). With --max-age, runs older than it are pruned from the history (the last 20 of \
            each pipeline are kept). With no run live, checkouts and GC roots that no entry names are \
            removed too. Everything removed is printed.
            """)

    @Option(name: .customLong("max-size"), help: ArgumentHelp("Evict until the entries take at most this much (e.g. 20GiB, 512MiB).", valueName: "SIZE"))
    var maxSize: String?
    @Option(name: .customLong("max-age"), help: ArgumentHelp("Evict entries unused for longer (e.g. 14d, 12h).", valueName: "DURATION"))
    var maxAge: String?
    @Option(name: .customLong("keep-last"), help: ArgumentHelp("Never evict the N most recently used entries.", valueName: "N"))
    var keepLast: Int?
    @Flag(help: "Then run 'nix store gc' to reclaim the store paths no root keeps.") var nix = false
    @Option(name: .customLong("docker-host"), help: ArgumentHelp("The daemon to remove evicted images from.", valueName: "HOST"))
    var dockerHost: String?
    @Flag(help: "Print one JSON object: evicted[], in_use[], orphans[], removed_images[], removed_mirrors[], pruned_runs, remaining_bytes, nix_gc.")
    var json = false
    @OptionGroup var cacheOptions: CacheOptions

    func validate() throws {
        if let maxSize, ByteSize(parsing: maxSize) == nil {
            throw ValidationError("--max-size \(maxSize): not a size; write e.g. 20GiB, 512MiB or 1000000")
        }
        if let maxAge, DurationText.parse(maxAge) == nil {
            throw ValidationError("--max-age \(maxAge): not a duration; write e.g. 14d, 12h or 30m")
        }
        if let keepLast, keepLast < 0 { throw ValidationError("--keep-last must be 0 or more") }
    }

    func run() async throws {
        let tools = try CacheCommandSupport.open(cacheOptions)
        let policy = GCPolicy(maxSize: maxSize.flatMap { ByteSize(parsing: $0)?.bytes }, maxAge: maxAge.flatMap(DurationText.parse),
                              keepLast: keepLast)
        let (report, cleanup, nixGC): (GCReport, GCCleanup, NixStoreGC?)
        do {
            (report, cleanup, nixGC) = try await tools.collectGarbage(policy, nixStoreGC: nix, dockerHost: dockerHost)
        } catch {
            throw CacheCommandSupport.failure(error)
        }
        let history = pruneHistory(root: tools.cache.root, maxAge: policy.maxAge)
        typealias S = CacheCommandSupport
        let freed = report.evicted.reduce(Int64(0)) { $0 + $1.record.sizeBytes }
        if json {
            var pairs: [(String, JSONValue)] = [
                ("cache_root", .string(tools.cache.root.path)),
                ("evicted", .array(report.evicted.map(S.json))), ("evicted_bytes", .int(freed)),
                ("in_use", .array(report.inUse.map(S.json))), ("orphans", .array(report.orphans.map(JSONValue.string))),
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
            print(JSONValue.object(pairs).serialized())
        } else {
            for eviction in report.evicted { print("evicted \(S.line(eviction.record)): \(eviction.reason)") }
            for record in report.inUse { print("kept \(S.line(record)): a live run holds it") }
            for path in report.orphans { print("removed \(path): no entry names it") }
            for image in cleanup.removedImages {
                print("removed image \(image.id) from the daemon" + (image.untagged.isEmpty ? "" : " (untagged \(image.untagged.joined(separator: ", ")))"))
            }
            for note in cleanup.imageNotes { print("note: \(note)") }
            if let reason = cleanup.imagesNotRemoved { print("note: \(reason)") }
            for mirror in cleanup.removedMirrors {
                print("removed mirror \(mirror.path)" + (mirror.source.isEmpty ? "" : " of \(mirror.source)") + ": no pipeline uses its source")
            }
            for path in cleanup.busyMirrors { print("kept mirror \(path): a live run holds it") }
            if let reason = cleanup.mirrorsNotCollected { print("note: \(reason)") }
            if let pruned = history.pruned { print("pruned \(pruned) run\(pruned == 1 ? "" : "s") from the history") }
            if let problem = history.problem { print("note: \(problem)") }
            if report.orphanSweepSkipped { print("note: a run is live, so checkouts and GC roots without an entry were left alone") }
            if !policy.hasLimit { print("note: no --max-size or --max-age given: no entry was due") }
            print("evicted \(report.evicted.count) entries (\(S.size(freed))); \(report.remainingEntries) entries left, "
                + "\(S.size(report.remainingBytes))\(maxSize.map { " (limit \($0))" } ?? "")")
            if let nixGC { print("nix store gc: \(nixGC.summary.isEmpty ? (nixGC.succeeded ? "done" : "failed") : nixGC.summary)") }
        }
        if let nixGC, !nixGC.succeeded { throw Exit.environmentProblem }
    }
}

extension CacheGC {
    /// With `maxAge`, prunes the run history (keeping the last 20 runs of each pipeline):
    /// how many runs went, or why none could.
    func pruneHistory(root: URL, maxAge: Duration?) -> (pruned: Int?, problem: String?) {
        guard let maxAge else { return (nil, nil) }
        do {
            return (try RunHistory(cacheRoot: root).prune(olderThan: maxAge, keepingLast: 20).count, nil)
        } catch {
            return (nil, "the run history was not pruned: \(error)")
        }
    }
}

/// `sutradhar cache clear`.
struct CacheClear: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clear",
        abstract: "Remove every entry, checkout, GC root and mirror; keeps the folder and the run history.",
        discussion: "Refused (exit 3) while a run is using the cache.")

    @Flag(help: "Print one JSON object: entries, bytes, removed[].") var json = false
    @OptionGroup var cacheOptions: CacheOptions

    func run() async throws {
        let tools = try CacheCommandSupport.open(cacheOptions)
        let report: ClearReport
        do {
            report = try tools.clear()
        } catch {
            throw CacheCommandSupport.failure(error)
        }
        if json {
            print(JSONValue.object([
                ("cache_root", .string(tools.cache.root.path)), ("entries", .int(Int64(report.entries))),
                ("bytes", .int(report.bytes)), ("removed", .array(report.removedPaths.map(JSONValue.string))),
            ]).serialized())
            return
        }
        print("cleared \(tools.cache.root.path): \(report.entries) entries, \(CacheCommandSupport.size(report.bytes)) removed")
    }
}
