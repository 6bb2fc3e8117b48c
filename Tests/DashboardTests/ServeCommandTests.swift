import Foundation
import SutradharKit
import SutradharTesting
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The real `sutradhar serve` binary: it starts, prints its address, serves, and refuses what
/// it must refuse with exit 2.
@Suite struct ServeCommandTests {
    @Test func theServeCommandServesTheRunsPageOnAFreePort() async throws {
        try await Workspace.with(prefix: "sutradhar-serve") { workspace in
            let server = try workspace.startSutradhar(["serve", "--listen", "127.0.0.1:0"])
            defer { server.signal(SIGKILL) }
            let started = await server.waitForOutput(containing: "sutradhar dashboard: http://127.0.0.1:")
            #expect(started, "stdout: \(server.stdoutSoFar) stderr: \(server.stderrSoFar)")
            let line = try #require(server.stdoutSoFar.split(separator: "\n").first { $0.hasPrefix("sutradhar dashboard:") })
            let address = try #require(line.firstMatch(of: /http:\/\/127\.0\.0\.1:(\d+)\//))
            let url = try #require(URL(string: "http://127.0.0.1:\(address.1)/"))
            let (data, response) = try await URLSession.shared.data(from: url)
            #expect((response as? HTTPURLResponse)?.statusCode == 200)
            #expect(String(decoding: data, as: UTF8.self).contains("<table id=\"runs\">"))
            server.signal(SIGTERM)
            let result = await server.finish(timeout: .seconds(60))
            #expect(result.exitCode == 0, "stderr: \(result.stderr)")
        }
    }

    /// A run that logged 100 MB (and so has 100 MB of log events): readers that download its
    /// log as fast as they can, readers that stall, and live feeds of it that stall after the
    /// first piece. The server's memory must not follow the log's size: before it held a
    /// stalled feed's whole events file and queued a fast reader's pieces (460 MiB for eight).
    @Test func aHundredMegabyteLogIsServedToFastAndStalledReadersInFlatMemory() async throws {
        try await Workspace.with(prefix: "sutradhar-serve-big-log") { workspace in
            let run = try Self.recordRunWithAHundredMegabyteLog(cache: workspace.cache)
            let server = try workspace.startSutradhar(["serve", "--listen", "127.0.0.1:0"])
            defer { server.signal(SIGKILL) }
            #expect(await server.waitForOutput(containing: "sutradhar dashboard: http://127.0.0.1:"), "\(server.stderrSoFar)")
            let line = try #require(server.stdoutSoFar.split(separator: "\n").first { $0.hasPrefix("sutradhar dashboard:") })
            let base = String(try #require(line.firstMatch(of: /http:\/\/127\.0\.0\.1:\d+/)).0)
            _ = try await URLSession.shared.data(from: try #require(URL(string: base + "/runs/\(run)")))
            let before = try Self.residentMiB(server.process.processIdentifier)

            /// A curl of `arguments`; what it prints (`-w`) goes to `output`.
            func curl(_ arguments: [String], output: Pipe? = nil) throws -> Process {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
                process.arguments = ["-s", "-o", "/dev/null"] + arguments
                process.standardOutput = output ?? FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                try process.run()
                return process
            }
            let stalled = try (0..<4).flatMap { _ in
                [try curl(["--limit-rate", "1k", base + "/runs/\(run)/logs/build"]),
                 try curl(["--limit-rate", "1k", "-H", "Accept: text/event-stream", base + "/runs/\(run)/events"])]
            }
            // SIGKILL: a child of the test runner starts with SIGTERM blocked.
            defer { stalled.forEach { kill($0.processIdentifier, SIGKILL) } }
            let outputs = (0..<4).map { _ in Pipe() }
            let fast = try outputs.map { try curl(["-w", "%{size_download}", base + "/runs/\(run)/logs/build"], output: $0) }
            var peak = before
            while fast.contains(where: \.isRunning) {
                peak = max(peak, try Self.residentMiB(server.process.processIdentifier))
                try await Task.sleep(for: .milliseconds(100))
            }
            let sizes = outputs.map { String(decoding: $0.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) }
            #expect(sizes == Array(repeating: "100000000", count: 4), "each fast reader gets the whole log")
            print("serving a 100 MB log to 4 fast and 4 stalled readers and 4 stalled feeds: server RSS \(before) MiB before, \(peak) MiB at most")
            // Eight copies of the log would be 800 MB; what it may cost is a few pieces each.
            #expect(peak - before < 100, "serving the 100 MB log took the server from \(before) to \(peak) MiB")
        }
    }

    /// Records a finished run whose stage `build` logged 1,000,000 lines of 100 bytes: the log
    /// file and the events file as the recorder writes them (the log events written in bulk).
    static func recordRunWithAHundredMegabyteLog(cache: URL) throws -> String {
        let history = try RunHistory(cacheRoot: cache)
        let recorder = HistoryRecorder(history: history, trigger: "local")
        let run = "20261207-010000-b10c"
        let result = StageResult(name: "build", kind: "nix-build", status: .passed, cached: false, durationMilliseconds: 1000)
        recorder.record(RunEvent(run: run, .runStarted(pipeline: "big-log", source: "/src", ref: nil, cacheRoot: cache.path)))
        recorder.record(RunEvent(run: run, .stageStarted(stage: "build", kind: "nix-build")))
        recorder.record(RunEvent(run: run, .stageFinished(result)))
        recorder.record(RunEvent(run: run, .runFinished(RunSummary(run: run, pipeline: "big-log", commit: "", status: .passed,
                                                                    durationMilliseconds: 1000, stages: [result]))))
        let events = history.eventsFile(run: run)
        let recorded = try String(contentsOf: events, encoding: .utf8).split(separator: "\n")
        let line = String(repeating: "x", count: 99) + "\n"
        let logEvent = RunEvent(run: run, .log(stage: "build", stream: "stdout", line: String(line.dropLast()))).jsonLine() + "\n"
        FileManager.default.createFile(atPath: history.logFile(run: run, stage: "build").path, contents: nil)
        let logFile = try FileHandle(forWritingTo: history.logFile(run: run, stage: "build"))
        let eventsFile = try FileHandle(forWritingTo: events)
        try eventsFile.truncate(atOffset: 0)
        try eventsFile.write(contentsOf: Data((recorded[0...1].joined(separator: "\n") + "\n").utf8))
        let logPiece = Data(String(repeating: line, count: 10_000).utf8)
        let eventsPiece = Data(String(repeating: logEvent, count: 10_000).utf8)
        for _ in 0..<100 {
            try logFile.write(contentsOf: logPiece)
            try eventsFile.write(contentsOf: eventsPiece)
        }
        try eventsFile.write(contentsOf: Data((recorded[2...].joined(separator: "\n") + "\n").utf8))
        try logFile.close()
        try eventsFile.close()
        return run
    }

    /// The resident memory of process `pid` (VmRSS), in MiB.
    static func residentMiB(_ pid: Int32) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) / 1024
    }

    @Test func serveRefusesAnExposedAddressOrTriggersWithoutAToken() async throws {
        try await Workspace.with(prefix: "sutradhar-serve") { workspace in
            let exposed = try await workspace.sutradhar(["serve", "--listen", "0.0.0.0:0"])
            #expect(exposed.exitCode == 2)
            #expect(exposed.stderr.contains("--token-file"))
            let trigger = try await workspace.sutradhar(["serve", "--allow-trigger"])
            #expect(trigger.exitCode == 2)
            #expect(trigger.stderr.contains("--allow-trigger needs --token-file"))
        }
    }
}
