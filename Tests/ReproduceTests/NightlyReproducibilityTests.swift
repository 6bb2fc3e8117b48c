import Foundation
import SutradharTesting
import Testing

/// `sutradhar nightly` of a pipeline with `nightly: { reproduce: true }`: the nightly run checks
/// its nix-build outputs, and its report gets a "Reproducibility" section with the drift against
/// the previous night.
@Suite(.serialized, .requiresNix) struct NightlyReproducibilityTests {
    /// The Markdown and JSON report a nightly printed the path of.
    func report(printedBy result: SutradharCLI.Result) throws -> (markdown: String, pipeline: [String: Any]) {
        let path = try #require(result.stdout.split(separator: "\n").last.map(String.init), "\(result.stdout)\n\(result.stderr)")
        let markdown = try String(contentsOfFile: path, encoding: .utf8)
        let data = try Data(contentsOf: URL(fileURLWithPath: String(path.dropLast(3)) + ".json"))
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let pipeline = try #require((json["pipelines"] as? [[String: Any]])?.first)
        return (markdown, pipeline)
    }

    @Test func nightlyReportSaysHowManyOutputsAreReproducibleAndWhatDriftedSinceThePreviousNight() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let repository = try GitFixtureRepository(at: workspace.root.appendingPathComponent("repo"))
            try ReproducibilityFixtures.commit(.deterministic, to: repository)
            let definition = try workspace.writePipeline(
                ReproducibilityFixtures.pipeline(repository: repository.directory, nightlyReproduce: true))
            let environment = ["SUTRADHAR_DIFFOSCOPE": "off"]

            let first = try await workspace.sutradhar(["nightly", definition], environment: environment, timeout: .seconds(600))
            #expect(first.exitCode == 0, "\(first.stderr)")
            let firstReport = try report(printedBy: first)
            #expect(firstReport.markdown.contains("### Reproducibility\n\n1 of 1 output reproducible."), "\(firstReport.markdown)")
            #expect(firstReport.markdown.contains("Drift: the previous night checked nothing to compare with."))

            // The next night, the image has a timestamp in it.
            try ReproducibilityFixtures.commit(.timestamp, to: repository)
            let second = try await workspace.sutradhar(["nightly", definition], environment: environment, timeout: .seconds(600))
            // The image still builds (and the run passes): the finding is in the report.
            #expect(second.exitCode == 0, "\(second.stderr)")
            let secondReport = try report(printedBy: second)
            #expect(secondReport.markdown.contains("0 of 1 output reproducible."), "\(secondReport.markdown)")
            #expect(secondReport.markdown.contains("Drift since the previous night: newly unreproducible: `image`."))
            #expect(secondReport.markdown.contains("etc/built-at"))
            let section = try #require(secondReport.pipeline["reproducibility"] as? [String: Any])
            #expect(section["checked"] as? Int == 1)
            #expect(section["reproducible"] as? Int == 0)
            #expect(section["newly_unreproducible"] as? [String] == ["image"])
            let miss = try #require((section["stages"] as? [[String: Any]])?.first)
            #expect(miss["reproducible"] as? Bool == false)
            #expect((miss["differences"] as? [String])?.contains { $0.hasSuffix(": etc/built-at") } == true)
            let reportFile = try #require(miss["report"] as? String)
            #expect(FileManager.default.fileExists(atPath: reportFile))
        }
    }
}
