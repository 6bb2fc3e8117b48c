import ArgumentParser
import Foundation
import SutradharKit

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

    /// A report as its one JSON line (the library's typed report, keys in their documented order).
    static func printJSON(_ report: some Encodable) throws {
        print(try OrderedJSONEncoder().serialized(report))
    }

    /// `kind key16 (pipeline, size, last used …)`.
    static func line(_ entry: CacheEntryReport) -> String {
        "\(entry.kind) \(entry.key.prefix(16)) (\(entry.pipeline), \(size(entry.sizeBytes)), last used \(entry.lastUsed))"
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
        let report: CacheListReport
        do {
            report = try tools.listReport(pipeline: pipeline, kind: kind)
        } catch {
            throw CacheCommandSupport.failure(error)
        }
        typealias S = CacheCommandSupport
        if json { return try S.printJSON(report) }
        print(S.pad("KIND", 12) + S.pad("KEY", 17) + S.pad("PIPELINE", 16) + S.pad("SIZE", 10) + S.pad("LAST USED", 25) + "OUTPUT")
        for entry in report.entries {
            let output = entry.outputs["out"] ?? entry.outputs["image"] ?? entry.outputs["path"] ?? ""
            print(S.pad(entry.kind, 12) + S.pad(String(entry.key.prefix(16)), 17) + S.pad(entry.pipeline, 16)
                + S.pad(S.size(entry.sizeBytes), 10) + S.pad(entry.lastUsed, 25) + output)
        }
        let count = report.entries.count
        print("\(count) entr\(count == 1 ? "y" : "ies"), \(S.size(report.totalBytes)), in \(report.cacheRoot)")
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
        let usage: CacheUsageReport
        do {
            usage = try await tools.usageReport(closure: !noClosure)
        } catch {
            throw CacheCommandSupport.failure(error)
        }
        typealias S = CacheCommandSupport
        if json { return try S.printJSON(usage) }
        print("\(usage.cacheRoot): \(S.size(usage.totalBytes)) on disk")
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
        let report: CacheVerifyReport
        do {
            report = try await tools.verifyReport(dockerHost: dockerHost)
        } catch {
            throw CacheCommandSupport.failure(error)
        }
        typealias S = CacheCommandSupport
        if json { return try S.printJSON(report) }
        for path in report.unreadable { print("removed unreadable entry file \(path)") }
        for eviction in report.dropped { print("dropped \(S.line(eviction.entry)): \(eviction.reason)") }
        for eviction in report.inUse { print("kept \(S.line(eviction.entry)) although \(eviction.reason): a live run holds it") }
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
        let report: CacheGCReport
        do {
            report = try await tools.gcReport(policy, nixStoreGC: nix, dockerHost: dockerHost)
        } catch {
            throw CacheCommandSupport.failure(error)
        }
        typealias S = CacheCommandSupport
        let nixGC = report.nixGC
        if json {
            try S.printJSON(report)
        } else {
            for eviction in report.evicted { print("evicted \(S.line(eviction.entry)): \(eviction.reason)") }
            for entry in report.inUse { print("kept \(S.line(entry)): a live run holds it") }
            for path in report.orphans { print("removed \(path): no entry names it") }
            for image in report.removedImages {
                print("removed image \(image.id) from the daemon" + (image.untagged.isEmpty ? "" : " (untagged \(image.untagged.joined(separator: ", ")))"))
            }
            for note in report.imageNotes { print("note: \(note)") }
            if let reason = report.imagesNotRemoved { print("note: \(reason)") }
            for mirror in report.removedMirrors {
                print("removed mirror \(mirror.path)" + (mirror.source.isEmpty ? "" : " of \(mirror.source)") + ": no pipeline uses its source")
            }
            for path in report.busyMirrors { print("kept mirror \(path): a live run holds it") }
            if let reason = report.mirrorsNotCollected { print("note: \(reason)") }
            if let pruned = report.prunedRuns { print("pruned \(pruned) run\(pruned == 1 ? "" : "s") from the history") }
            if let problem = report.historyNotPruned { print("note: \(problem)") }
            if report.orphanSweepSkipped { print("note: a run is live, so checkouts and GC roots without an entry were left alone") }
            if !policy.hasLimit { print("note: no --max-size or --max-age given: no entry was due") }
            print("evicted \(report.evicted.count) entries (\(S.size(report.evictedBytes))); \(report.remainingEntries) entries left, "
                + "\(S.size(report.remainingBytes))\(maxSize.map { " (limit \($0))" } ?? "")")
            if let nixGC { print("nix store gc: \(nixGC.summary.isEmpty ? (nixGC.succeeded ? "done" : "failed") : nixGC.summary)") }
        }
        if let nixGC, !nixGC.succeeded { throw Exit.environmentProblem }
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
        let report: CacheClearReport
        do {
            report = try tools.clearReport()
        } catch {
            throw CacheCommandSupport.failure(error)
        }
        if json { return try CacheCommandSupport.printJSON(report) }
        print("cleared \(report.cacheRoot): \(report.entries) entries, \(CacheCommandSupport.size(report.bytes)) removed")
    }
}
