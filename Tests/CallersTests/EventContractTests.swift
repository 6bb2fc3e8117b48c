import Foundation
import SutradharTesting
import Testing

/// The JSON events are the agents' interface: every kind, as a real run prints it, must have
/// exactly the keys, key order, types and fixed values of its golden file in `Golden/`. Values
/// that differ run to run (times, run IDs, paths, commits, durations, free text) are
/// normalised first. `SUTRADHAR_UPDATE_GOLDEN=1` rewrites the golden files from a real run.
@Suite(.serialized, .requiresNix)
struct EventContractTests {
    @Test func everyEventOfARealRunMatchesItsGoldenFile() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let repository = try workspace.flakeRepository()
            // A cache limit every entry exceeds, so the run ends with an eviction warning.
            let definition = try workspace.writePipeline(fixturePipeline(
                name: "contract", repository: repository.directory, extra: "cache: { max-size: 1 }"))

            let result = try await workspace.sutradhar(["run", definition, "--json"])

            #expect(result.exitCode == 0, "\(result.transcript)")
            let lines = result.stdout.split(separator: "\n").map(String.init)
            var seen: [String: String] = [:]
            for line in lines {
                let event = try #require(OrderedJSON(parsing: line), "not JSON: \(line)")
                let name = try #require(event["event"]?.stringValue)
                let file = GoldenFiles.name(for: event, named: name)
                if seen[file] == nil { seen[file] = line }
            }
            #expect(Set(seen.keys) == GoldenFiles.fromASingleRun, "\(result.transcript)")
            for (file, line) in seen.sorted(by: { $0.key < $1.key }) {
                try GoldenFiles.expectMatches(line, file: file)
            }
        }
    }

    /// `sutradhar reproduce` adds its findings to a nix-build stage's outputs (additively: the
    /// schema stays 1), and a difference is the code `not-reproducible`.
    @Test func aReproducibilityCheckAddsItsFindingsToTheStageOutputs() async throws {
        try NixFixtures.requireNix()
        for variant in [ReproducibilityFixtures.Variant.deterministic, .timestamp] {
            try await Workspace.with { workspace in
                let repository = try GitFixtureRepository(at: workspace.root.appendingPathComponent("repo"))
                try ReproducibilityFixtures.commit(variant, to: repository)
                let definition = try workspace.writePipeline(ReproducibilityFixtures.pipeline(repository: repository.directory))

                let result = try await workspace.sutradhar(["reproduce", definition, "--json"], environment: ["SUTRADHAR_DIFFOSCOPE": "off"])

                #expect(result.exitCode == (variant == .deterministic ? 0 : 1), "\(result.transcript)")
                let line = try #require(result.stdout.split(separator: "\n").first {
                    $0.contains(#""event":"stage-finished""#) && $0.contains(#""kind":"nix-build""#)
                }, "\(result.transcript)")
                try GoldenFiles.expectMatches(String(line), file: variant == .deterministic
                                              ? "stage-finished-nix-build-reproducible" : "stage-finished-not-reproducible")
            }
        }
    }

    @Test func aFailedStageCarriesItsErrorCodeRightAfterItsError() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let repository = try workspace.flakeRepository(files: ["message.txt": "failing\n", "fail.txt": "the build is broken\n"])
            let definition = try workspace.writePipeline(fixturePipeline(name: "failing", repository: repository.directory))

            let result = try await workspace.sutradhar(["run", definition, "--json"])

            #expect(result.exitCode == 1, "\(result.transcript)")
            let failed = try #require(result.stdout.split(separator: "\n").first {
                $0.contains(#""event":"stage-finished""#) && $0.contains(#""status":"failed""#)
            }, "\(result.transcript)")
            try GoldenFiles.expectMatches(String(failed), file: "stage-finished-failed")
        }
    }

    @Test func secondRunWithMaxRunsOneQueuesThenPasses() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            // The first run's build waits until released: the second surely finds the slot taken.
            let repository = try workspace.flakeRepository(files: ["message.txt": "slow\n", "delay.txt": "120\n"])
            let definition = try workspace.writePipeline(fixturePipeline(name: "queueing", repository: repository.directory))
            let first = try workspace.startSutradhar(["run", definition, "--json", "--max-runs", "1"])
            #expect(await first.waitForOutput(containing: #""event":"stage-started","schema":1"#, timeout: .seconds(60)))

            let secondRun = try workspace.startSutradhar(["run", definition, "--json", "--max-runs", "1"])
            #expect(await secondRun.waitForOutput(containing: #""event":"queued""#, timeout: .seconds(60)))
            try workspace.releaseBuilds()
            let firstResult = await first.finish(timeout: .seconds(60))
            let second = await secondRun.finish(timeout: .seconds(60))

            #expect(firstResult.exitCode == 0, "\(firstResult.transcript)")
            #expect(second.exitCode == 0, "\(second.transcript)")
            #expect(second.summary?["status"] as? String == "passed")
            let names = second.events.compactMap { $0["event"] as? String }
            #expect(Array(names.prefix(3)) == ["run-started", "queued", "stage-started"], "\(names)")
            let queued = try #require(second.stdout.split(separator: "\n").first { $0.contains(#""event":"queued""#) })
            try GoldenFiles.expectMatches(String(queued), file: "queued")
            // It waited for the first run: it started working only after that one had finished.
            let firstFinished = try #require(firstResult.events(named: "run-finished").first?["time"] as? String)
            let secondWorking = try #require(second.events(named: "stage-started").first?["time"] as? String)
            #expect(secondWorking >= firstFinished)
        }
    }

    @Test func concurrentRunOfTheSameBuildWaitsForItAndSaysSo() async throws {
        try NixFixtures.requireNix()
        try await Workspace.with { workspace in
            let repository = try workspace.flakeRepository(files: ["message.txt": "shared\n", "delay.txt": "120\n"])
            let definition = try workspace.writePipeline(fixturePipeline(name: "singleflight", repository: repository.directory))
            let first = try workspace.startSutradhar(["run", definition, "--json", "--max-runs", "2"])
            // The build is under way once the builder has written its PID.
            let pidFile = workspace.state.appendingPathComponent("shared.pid")
            #expect(await eventually(timeout: .seconds(60)) { FileManager.default.fileExists(atPath: pidFile.path) })

            let secondRun = try workspace.startSutradhar(["run", definition, "--json", "--max-runs", "2"])
            #expect(await secondRun.waitForOutput(containing: #""event":"stage-waiting""#, timeout: .seconds(60)))
            try workspace.releaseBuilds()
            let firstResult = await first.finish(timeout: .seconds(60))
            let second = await secondRun.finish(timeout: .seconds(60))

            #expect(firstResult.exitCode == 0, "\(firstResult.transcript)")
            #expect(second.exitCode == 0, "\(second.transcript)")
            let waiting = try #require(second.stdout.split(separator: "\n").first { $0.contains(#""event":"stage-waiting""#) },
                                       "\(second.transcript)")
            try GoldenFiles.expectMatches(String(waiting), file: "stage-waiting")
            // It names the run and stage it waits for.
            let event = second.events(named: "stage-waiting").first
            let heldBy = event?["held_by"] as? [String: Any]
            #expect(heldBy?["run"] as? String == firstResult.summary?["run"] as? String, "\(String(describing: event))")
            #expect(heldBy?["stage"] as? String == "build")
            #expect((event?["reason"] as? String)?.hasPrefix("run \(heldBy?["run"] as? String ?? "?") (stage build) is building") == true)
            // It used the first run's result instead of building again.
            #expect(second.stage("build")?["cached"] as? Bool == true)
        }
    }
}

/// The golden files and the normalisation applied before comparing.
enum GoldenFiles {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    /// The files one plain nix-only run with an eviction warning produces.
    static let fromASingleRun: Set<String> = [
        "run-started", "stage-started", "log", "stage-finished-checkout", "stage-finished-nix-build", "warning", "run-finished",
    ]

    /// `stage-finished` has one file per stage kind (their outputs differ); others one per event.
    static func name(for event: OrderedJSON, named name: String) -> String {
        guard name == "stage-finished", let kind = event["kind"]?.stringValue else { return name }
        return "\(name)-\(kind)"
    }

    /// Compares `line`, normalised, with `Golden/FILE.json` (or writes it when updating).
    static func expectMatches(_ line: String, file: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let event = try #require(OrderedJSON(parsing: line), "not JSON: \(line)", sourceLocation: sourceLocation)
        let normalised = normalise(event)
        let url = folder.appendingPathComponent("\(file).json")
        if ProcessInfo.processInfo.environment["SUTRADHAR_UPDATE_GOLDEN"] == "1" {
            try (normalised.pretty + "\n").write(to: url, atomically: true, encoding: .utf8)
            return
        }
        let text = try String(contentsOf: url, encoding: .utf8)
        let golden = try #require(OrderedJSON(parsing: text), "\(url.path) is not JSON", sourceLocation: sourceLocation)
        #expect(normalised.compact == golden.compact,
                "\(file): the event differs from its golden file (keys, order, types or fixed values)\n  real:   \(normalised.compact)\n  golden: \(golden.compact)\n  raw:    \(line)",
                sourceLocation: sourceLocation)
    }

    /// Replaces what varies between runs by placeholders of the same type, by key.
    static func normalise(_ value: OrderedJSON, key: String? = nil) -> OrderedJSON {
        switch value {
        case .object(let pairs):
            return .object(pairs.map { .init(key: $0.key, value: normalise($0.value, key: $0.key)) })
        case .array(let items):
            // Free-text lists (warnings) become one placeholder each; others are normalised item by item.
            return .array(items.map { ["warnings", "differences", "differing_files"].contains(key) ? .string("<text>") : normalise($0) })
        case .string(let text):
            switch key {
            case "time": return .string("<time>")
            case "run": return .string("<run>")
            case "commit", "tree": return .string(text.isEmpty ? "" : "<sha>")
            case "cache_root", "path", "source", "out", "drv", "report", "diffoscope_report", "diffoscope_html": return .string("<path>")
            case "cache_key": return .string("<hex>")
            case "out_hash", "rebuild_hash": return .string("<hash>")
            case "line", "message", "reason", "error", "environment_problem": return .string("<text>")
            default: return value
            }
        case .number:
            return key?.hasSuffix("_ms") == true ? .number("0") : value
        default:
            return value
        }
    }
}
