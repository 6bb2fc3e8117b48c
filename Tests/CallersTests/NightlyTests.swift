import Foundation
import SutradharTesting
import Testing

/// `sutradhar nightly`: a rebuild at the ref head, recorded as `nightly`, and a report that
/// compares with the previous nightly.
@Suite(.serialized, .requiresNix)
struct NightlyTests {
    @Test func nightlyWritesAReportAndTheNextOneComparesWithIt() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let repository = try workspace.flakeRepository(files: ["message.txt": "first night\n"])
            let definition = try workspace.writePipeline(fixturePipeline(name: "rebuilt", repository: repository.directory))

            let first = try await workspace.sutradhar(["nightly", definition])

            #expect(first.exitCode == 0, "\(first.transcript)")
            let firstReport = try Report(printedBy: first, cache: workspace.cache)
            #expect(firstReport.markdown.contains("rebuilt") && firstReport.markdown.contains("passed"), "\(firstReport.markdown)")
            let firstEntry = try #require(firstReport.pipelines.first)
            #expect(firstReport.pipelines.count == 1)
            #expect(firstEntry["pipeline"] as? String == "rebuilt")
            #expect(firstEntry["status"] as? String == "passed")
            #expect(firstEntry["commit"] as? String == (try repository.head()))
            #expect(firstEntry["previous"] is NSNull)
            // Every stage ran again: nothing came from the cache.
            let firstStages = try #require(firstEntry["stages"] as? [[String: Any]])
            #expect(firstStages.first { $0["name"] as? String == "build" }?["cached"] as? Bool == false)

            try repository.commit("second change", files: ["message.txt": "second night\n"])
            try repository.commit("third change", files: ["message.txt": "third night\n"])
            let second = try await workspace.sutradhar(["nightly", definition])

            #expect(second.exitCode == 0, "\(second.transcript)")
            let secondReport = try Report(printedBy: second, cache: workspace.cache)
            #expect(secondReport.markdownPath != firstReport.markdownPath, "the second report replaced the first")
            #expect(FileManager.default.fileExists(atPath: firstReport.markdownPath))
            let entry = try #require(secondReport.pipelines.first)
            #expect(entry["commit"] as? String == (try repository.head()))
            let previous = try #require(entry["previous"] as? [String: Any])
            #expect(previous["run"] as? String == firstEntry["run"] as? String)
            #expect(previous["commit"] as? String == firstEntry["commit"] as? String)
            let stages = try #require(entry["stages"] as? [[String: Any]])
            #expect(stages.map { $0["name"] as? String } == ["checkout", "build"])
            for stage in stages {
                let now = try #require(stage["duration_ms"] as? Int)
                let before = try #require(stage["previous_duration_ms"] as? Int, "\(stage)")
                #expect(stage["change_ms"] as? Int == now - before)
            }
            let commits = try #require(entry["commits_since_previous"] as? [String: Any])
            #expect(commits["total"] as? Int == 2)
            let subjects = (commits["listed"] as? [[String: Any]])?.compactMap { $0["subject"] as? String }
            #expect(subjects == ["third change", "second change"])
            #expect(secondReport.markdown.contains("2 commits since the previous nightly"), "\(secondReport.markdown)")
            #expect(secondReport.markdown.contains("third change"))
        }
    }

    @Test func nightlyOfAFailingPipelineExitsOneAndSaysWhereTheLogIs() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let passing = try workspace.flakeRepository(named: "passing")
            let failing = try workspace.flakeRepository(named: "failing", files: ["message.txt": "x\n", "fail.txt": "broken on purpose\n"])
            try workspace.writePipeline(fixturePipeline(name: "good", repository: passing.directory), named: "good", in: "pipelines")
            try workspace.writePipeline(fixturePipeline(name: "bad", repository: failing.directory), named: "bad", in: "pipelines")

            // No names: every pipeline under pipelines/.
            let result = try await workspace.sutradhar(["nightly"])

            #expect(result.exitCode == 1, "\(result.transcript)")
            let report = try Report(printedBy: result, cache: workspace.cache)
            #expect(report.status == "failed")
            let verdicts = Dictionary(uniqueKeysWithValues: report.pipelines.map { ($0["pipeline"] as? String ?? "", $0["status"] as? String ?? "") })
            #expect(verdicts == ["good": "passed", "bad": "failed"])
            let bad = try #require(report.pipelines.first { $0["pipeline"] as? String == "bad" })
            #expect(report.markdown.contains("sutradhar runs logs \(bad["run"] as? String ?? "?") --stage build"), "\(report.markdown)")
        }
    }
}

/// The report a nightly printed the path of (its last stdout line), read back.
struct Report {
    let markdownPath: String
    let markdown: String
    let json: [String: Any]

    var pipelines: [[String: Any]] { json["pipelines"] as? [[String: Any]] ?? [] }
    var status: String? { json["status"] as? String }

    init(printedBy result: SutradharCLI.Result, cache: URL) throws {
        let path = try #require(result.stdout.split(separator: "\n").last.map(String.init), "\(result.transcript)")
        let folder = cache.appendingPathComponent("runs/nightly").standardizedFileURL.path
        #expect(path.hasPrefix(folder + "/") && path.hasSuffix(".md"), "\(path) is not a report under \(folder)")
        markdownPath = path
        markdown = try String(contentsOfFile: path, encoding: .utf8)
        let jsonPath = String(path.dropLast(3)) + ".json"
        let data = try Data(contentsOf: URL(fileURLWithPath: jsonPath))
        json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }
}
