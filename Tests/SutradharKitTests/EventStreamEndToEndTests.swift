import Foundation
import SutradharKit
import SutradharTesting
import Testing

/// A run as an `AsyncSequence` of typed events, and the example front end built on the library
/// alone, against the real rootless daemon (under CI=true a missing daemon fails these).
@Suite(.serialized) struct EventStreamEndToEndTests {
    @Test func eventsArriveInOrderAndEndWithTheSummary() async throws {
        try await withImage { workspace, image, host in
            let plan = try Definitions.load(try pipeline(in: workspace, image: image, command: "echo streamed").path)
            var names: [String] = []
            var summary: RunSummary?
            var logged: [String] = []
            for await event in Engine().events(plan, options: options(workspace, host)) {
                names.append(event.name)
                if case .log(let stage, "stdout", let line) = event.body, stage == "work" { logged.append(line) }
                if case .runFinished(let finished) = event.body { summary = finished }
            }
            #expect(names.first == "run-started")
            #expect(names.last == "run-finished")
            #expect(summary?.status == .passed, "events: \(names)")
            #expect(logged == ["streamed"])
        }
    }

    /// Cancelling the task that consumes the events cancels the run: a second run on the same
    /// cache with one run slot can only start once the first (sleeping 10 minutes) has let go of
    /// it. The time limit is the bound, generous for a loaded 2-core machine.
    @Test(.timeLimit(.minutes(3))) func cancellingTheConsumerCancelsTheRun() async throws {
        try await withImage { workspace, image, host in
            var options = options(workspace, host)
            options.maxRuns = 1
            let sleeping = try Definitions.load(try pipeline(in: workspace, image: image, command: "sleep 600", name: "sleeper").path)
            let started = AsyncStream.makeStream(of: Void.self)
            let consumer = Task {
                for await event in Engine().events(sleeping, options: options) {
                    if case .log(let stage, "stdout", _) = event.body, stage == "work" { continue }
                    if case .stageStarted(let stage, _) = event.body, stage == "work" { started.continuation.yield() }
                }
            }
            for await _ in started.stream { break }
            consumer.cancel()
            await consumer.value

            let quick = try Definitions.load(try pipeline(in: workspace, image: image, command: "echo after", name: "quick").path)
            var summary: RunSummary?
            for await event in Engine().events(quick, options: options) {
                if case .runFinished(let finished) = event.body { summary = finished }
            }
            #expect(summary?.status == .passed)
        }
    }

    /// The done-when item: a second program on `SutradharKit` alone runs a pipeline following
    /// its events (one line each), records it, and lists the cache's runs.
    @Test func theExampleFrontEndRunsFollowsAndListsRuns() async throws {
        try await withImage { workspace, image, host in
            let definition = try pipeline(in: workspace, image: image, command: "echo hello from the kit")
            let cache = workspace.appendingPathComponent("cache").path
            let run = try runExample(["run", definition.path, "--cache-dir", cache, "--docker-host", host])
            #expect(run.status == 0, "\(run.output)")
            let lines = run.output.split(separator: "\n").map(String.init)
            #expect(lines.first?.hasPrefix("run ") == true && lines.first?.hasSuffix("started: kit-example from \(workspace.path)/src") == true,
                    "\(lines)")
            #expect(lines.contains("stage work (container) started"))
            #expect(lines.contains("  work stdout| hello from the kit"))
            #expect(lines.contains { $0.hasPrefix("stage work passed in ") })
            let runID = try #require(lines.last?.split(separator: " ").dropFirst().first.map(String.init))
            #expect(lines.last == "run \(runID) passed")

            let listed = try runExample(["runs", "--cache-dir", cache])
            #expect(listed.status == 0, "\(listed.output)")
            #expect(listed.output.split(separator: "\n").map(String.init) == ["\(runID) kit-example passed agent", "1 run in \(cache)"])

            let unknown = try runExample(["run", "no-such-pipeline"])
            #expect(unknown.status == 2)
            #expect(unknown.output.contains("no pipeline 'no-such-pipeline'"))
        }
    }

    /// `sutradhar-kit-example`, built beside `sutradhar` (`swift build --build-tests` builds both).
    static var example: String {
        SutradharCLI.executable.deletingLastPathComponent().appendingPathComponent("sutradhar-kit-example").path
    }

    // MARK: support

    /// Runs the example with `arguments` (stdout and stderr into one pipe, read whole: its
    /// output is a few lines).
    func runExample(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.example)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    /// A temporary workspace with `src/`, and a tiny busybox image loaded into the test daemon
    /// (removed afterwards).
    func withImage(_ body: (URL, String, String) async throws -> Void) async throws {
        let host = try DockerTestSupport.requireDockerHost()
        try await GitFixtures.withTemporaryDirectory("sutradhar-kit") { workspace in
            try FileManager.default.createDirectory(at: workspace.appendingPathComponent("src"), withIntermediateDirectories: true)
            try Data("a file\n".utf8).write(to: workspace.appendingPathComponent("src/file.txt"))
            let tag = "sutradhar-kit-test-\(UUID().uuidString.prefix(8).lowercased()):latest"
            let archive = try DockerTestSupport.makeTinyImageArchive(at: workspace.appendingPathComponent("image.tar").path, tag: tag)
            try DockerTestSupport.run("/usr/local/bin/docker", ["load", "-i", archive.path], environment: ["DOCKER_HOST": host])
            defer { _ = try? DockerTestSupport.run("/usr/local/bin/docker", ["rmi", "-f", archive.imageID], environment: ["DOCKER_HOST": host]) }
            try await body(workspace, tag, host)
        }
    }

    func pipeline(in workspace: URL, image: String, command: String, name: String = "kit-example") throws -> URL {
        let url = workspace.appendingPathComponent("\(name).yaml")
        try Data("""
            version: 1
            name: \(name)
            source: { path: ./src }
            stages:
              work:
                timeout: 15m
                container:
                  image: "\(image)"
                  command: [sh, -c, "\(command)"]

            """.utf8).write(to: url)
        return url
    }

    func options(_ workspace: URL, _ host: String) -> RunOptions {
        RunOptions(cacheRoot: workspace.appendingPathComponent("cache"), dockerHost: host)
    }
}
