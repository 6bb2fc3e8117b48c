import DockerEngine
import Foundation
import Pipeline
import Reproduce
import RunEvents

/// The second half of a docker-build stage in a reproducibility check: build the same context
/// again with the builder's cache off, compare the two images' IDs and layer digests by
/// position, and remove the second image (a task of the run's own, which cancellation does not
/// skip). Docker's classic builder stamps each layer's creation time (and each copied file keeps
/// its own), so two builds are not expected to be the same; the outputs say so plainly.
enum DockerReproducibilityCheck {
    /// What the outputs say about the classic builder, whatever the verdict.
    static let builderNote = "Docker's classic builder is not expected to be reproducible: it records each layer's "
        + "creation time in the image, so two builds of the same context differ even when every file is the same"

    /// The stage outputs of a reproducible build; throws `StageFailure` `not-reproducible` (with
    /// the differing layers in its outputs) when the two builds differ and the scope says so.
    static func run(first: ImageDetails, built: [(String, JSONValue)], settings: ReproduceSettings, session: DockerSession,
                    context: StageContext, rebuild: () async throws -> String) async throws -> [(String, JSONValue)] {
        let client = session.client
        context.log("checking reproducibility: building again with the builder's cache off")
        context.log("note: \(builderNote)")
        let secondID = try await rebuild()
        if secondID != first.id {
            // The second image is untagged; it goes once this stage's result is recorded.
            session.cleanups.afterVerdict(of: context.stage.name) { try? await client.removeImage(secondID, force: false) }
        }
        var outputs: [(String, JSONValue)] = [("reproducible", .bool(secondID == first.id)), ("rebuild_image", .string(secondID)),
                                              ("note", .string(builderNote))]
        guard secondID != first.id else {
            context.log("reproducible: the second build gave the same image \(first.id)")
            return outputs
        }
        guard let second = try await client.inspectImage(secondID) else {
            throw StageFailure(.buildFailed, "the second build named image \(secondID), which the daemon does not have")
        }
        let steps = (try? await client.layerSteps(of: first.id)) ?? []
        var differing: [String] = []
        for position in 0..<max(first.layers.count, second.layers.count) {
            let a = position < first.layers.count ? first.layers[position] : "(none)"
            let b = position < second.layers.count ? second.layers[position] : "(none)"
            guard a != b else { continue }
            let step = position < steps.count && first.layers.count == steps.count ? ", made by \(steps[position])" : ""
            differing.append("layer \(position + 1) of \(first.layers.count)\(step): \(a) vs \(b)")
        }
        if differing.isEmpty { differing.append("the image config (creation times; every layer is the same)") }
        for line in differing { context.log("differs: \(line)") }
        outputs += [("differing_layers", .array(differing.map(JSONValue.string))),
                    ("differences_total", .int(Int64(differing.count)))]
        outputs += await filesThatDiffer(first.id, secondID, client: client, context: context)
        let message = "not reproducible: building the same context twice gave images \(first.id) and \(secondID) "
            + "(\(differing.count) difference\(differing.count == 1 ? "" : "s"); first: \(differing[0])); \(builderNote)"
        guard settings.scope == .checkedStagesOnly else {
            context.warn(message)
            return outputs
        }
        throw StageFailure(.notReproducible, message, outputs: built + outputs)
    }

    /// The files that differ inside the differing layers: both images saved (`docker save`'s
    /// archive, streamed to the run's folder), compared as nix outputs are, and the archives
    /// removed. Best effort: a failure is a warning, the layer digests above still stand.
    private static func filesThatDiffer(_ first: String, _ second: String, client: DockerClient,
                                        context: StageContext) async -> [(String, JSONValue)] {
        let reports = ReportFolder(cache: context.cache, run: context.runID, stage: context.stage.name)
        let firstArchive = reports.file("first-image.tar"), secondArchive = reports.file("second-image.tar")
        defer {
            try? FileManager.default.removeItem(at: firstArchive)
            try? FileManager.default.removeItem(at: secondArchive)
        }
        do {
            try await client.saveImage(first, to: firstArchive)
            try await client.saveImage(second, to: secondArchive)
            let (differences, total) = try await OutputComparison.compare(firstArchive.path, secondArchive.path)
            let summary = try reports.writeSummary(first: first, second: second, differences: differences, total: total,
                                                   hashes: (first, second))
            for difference in differences.prefix(20) { context.log("differs: \(difference)") }
            return [("differing_files", .array(differences.map { .string($0.location) })),
                    ("differences", .array(differences.map { .string($0.description) })),
                    ("report", .string(summary.path))]
        } catch {
            if !Task.isCancelled { context.warn("the files inside the differing layers could not be compared: \(error)") }
            return []
        }
    }
}
