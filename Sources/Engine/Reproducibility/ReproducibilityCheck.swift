import BuildCache
import Foundation
import NixBuild
import Pipeline
import Reproduce
import RunEvents

/// The second half of a nix-build stage in a reproducibility check: rebuild the output that is
/// now in the store, and on a mismatch keep the second output (a GC root of its own, removed as
/// soon as the report is written, also on failure and cancellation), compare the two file by
/// file, and write the reports into the run's folder.
enum NixReproducibilityCheck {
    /// The outputs the check adds to the build's (`built`: `out`, `drv`, …); throws `StageFailure`
    /// `not-reproducible` (with the build's outputs and the differences) when the two builds differ
    /// and the settings' scope makes that a failure.
    static func run(installable: String, built: [(String, JSONValue)], settings: ReproduceSettings,
                    context: StageContext) async throws -> [(String, JSONValue)] {
        let out = built.first { $0.0 == "out" }?.1.stringValue ?? ""
        context.log("checking reproducibility: nix build \(installable) --rebuild")
        let result = try await context.nix.rebuild(installable: installable, workingDirectory: context.checkout,
                                                   log: { context.log($0) })
        // --keep-failed keeps the build folder too; it is of no use here (the builder's own
        // files, not the output), and only removable when nix ran the build as this user.
        for folder in result.keptBuildFolders { try? FileManager.default.removeItem(atPath: folder) }
        // The rebuild must be of the output the stage built; nothing else is kept or compared.
        if let second = result.secondOutput, result.firstOutput != out {
            throw StageFailure("nix rebuilt \(result.firstOutput) (second output \(second)), not the stage's output \(out)")
        }
        guard let checkPath = result.secondOutput else {
            let hash = try await context.nix.narHash(of: out)
            context.log("reproducible: the second build of \(out) is bit for bit the same")
            return [("reproducible", .bool(true)), ("out_hash", .string(hash)), ("rebuild_hash", .string(hash))]
        }

        let reports = ReportFolder(cache: context.cache, run: context.runID, stage: context.stage.name)
        let outLink = context.cache.folder(.nixRoots).appendingPathComponent("reproduce-\(context.runID)-\(context.stage.name)")
        // The GC root holds the second output only until the report is written: removed on every
        // way out, cancellation included (a synchronous unlink, which cancellation cannot skip).
        defer { try? FileManager.default.removeItem(at: outLink) }
        let name = String((out as NSString).lastPathComponent.drop { $0 != "-" }.dropFirst()) + "-rebuild"
        let second = try await context.nix.keep(checkPath, as: name, outLink: outLink)
        await context.nix.deleteIfUnused(checkPath)
        context.log("not reproducible: the second build differs; kept it as \(second) while comparing")

        let firstHash = try await context.nix.narHash(of: out)
        let secondHash = try await context.nix.narHash(of: second)
        let (differences, total) = try await OutputComparison.compare(out, second)
        for difference in differences.prefix(20) { context.log("differs: \(difference)") }
        var outputs: [(String, JSONValue)] = [
            ("reproducible", .bool(false)), ("out_hash", .string(firstHash)), ("rebuild_hash", .string(secondHash)),
            ("differing_files", .array(differences.map { .string($0.location) })),
            ("differences", .array(differences.map { .string($0.description) })),
            ("differences_total", .int(Int64(total))),
        ]
        let summary = try reports.writeSummary(first: out, second: second, differences: differences, total: total,
                                               hashes: (firstHash, secondHash))
        outputs.append(("report", .string(summary.path)))
        if let diffoscope = Diffoscope.locate(environment: context.options.environment) {
            let text = reports.file("diffoscope.txt")
            let html = settings.html ? reports.file("diffoscope.html") : nil
            do {
                _ = try await diffoscope.compare(out, second, text: text, html: html)
                outputs.append(("diffoscope_report", .string(text.path)))
                if let html { outputs.append(("diffoscope_html", .string(html.path))) }
            } catch {
                if Task.isCancelled { throw CancellationError() }
                context.warn("diffoscope could not explain the difference: \(error)")
            }
        } else {
            outputs.append(("hint", .string(Diffoscope.installHint)))
            context.log("hint: \(Diffoscope.installHint)")
        }
        try? FileManager.default.removeItem(at: outLink)
        await context.nix.deleteIfUnused(second)
        let first = differences.first.map { "; first: \($0)" } ?? ""
        let message = "not reproducible: building \(installable) twice gave different outputs "
            + "(\(total) difference\(total == 1 ? "" : "s")\(first)); see \(summary.path)"
        guard settings.scope == .checkedStagesOnly else {
            context.warn(message)
            return outputs
        }
        throw StageFailure(.notReproducible, message, outputs: built + outputs)
    }
}

/// Where a check's reports go: `runs/RUN/reproducibility/STAGE.*` under the cache, beside the
/// run's logs, so that they age with them.
struct ReportFolder {
    let folder: URL
    let stage: String

    init(cache: BuildCache, run: String, stage: String) {
        folder = cache.folder(.runs).appendingPathComponent(run).appendingPathComponent("reproducibility")
        self.stage = stage
    }

    /// `STAGE.SUFFIX` in the folder (created on first use).
    func file(_ suffix: String) -> URL {
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder.appendingPathComponent("\(stage).\(suffix)")
    }

    /// Writes the file-level report every check has, diffoscope or not.
    func writeSummary(first: String, second: String, differences: [OutputDifference], total: Int,
                      hashes: (String, String)) throws -> URL {
        var lines = [
            "Reproducibility check of stage \(stage): NOT reproducible",
            "first build:  \(first)  \(hashes.0)",
            "second build: \(second)  \(hashes.1)",
            "",
            "\(total) difference\(total == 1 ? "" : "s") (image tarballs are compared layer by layer, by position in manifest.json):",
        ]
        lines += differences.map { "  \($0)" }
        if total > differences.count { lines.append("  … and \(total - differences.count) more") }
        let url = file("differences.txt")
        // A full disk is classified as such (exit 3) from the error itself.
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: url)
        return url
    }
}
