import Foundation
import SutradharKit
import SutradharTesting
import Synchronization
import Testing

/// The one way every front end starts a run: recorded, registered, stopped together.
@Suite struct RunLauncherTests {
    /// A pipeline whose run ends quickly without a daemon: its daemon socket does not exist.
    func withPlan(_ body: (Plan, RunOptions, URL) async throws -> Void) async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-launcher") { root in
            let source = root.appendingPathComponent("src")
            try FileManager.default.createDirectory(at: source, withIntermediateDirectories: true)
            try Data("hello\n".utf8).write(to: source.appendingPathComponent("file"))
            let plan = try Definitions.load(text: """
                version: 1
                name: launched
                source: { path: ./src }
                stages:
                  work:
                    container: { image: "busybox:latest", command: [true] }

                """, name: "launched.yaml", directory: root)
            let cache = root.appendingPathComponent("cache")
            try await body(plan, RunOptions(cacheRoot: cache, dockerHost: "unix://\(root.path)/no-daemon.sock"), cache)
        }
    }

    @Test func aRunIsRecordedWithItsTriggerAndEveryEventIsObserved() async throws {
        try await withPlan { plan, options, cache in
            let seen = Counter()
            let summary = try await RunLauncher().run(plan, options: options, trigger: .nightly) { _ in seen.increment() }
            let record = try #require(try RunHistory(cacheRoot: cache).run(summary.run)?.record)
            #expect(record.trigger == "nightly")
            #expect(record.status == summary.status.rawValue)
            #expect(seen.value >= 3, "run-started, a stage, run-finished")
        }
    }

    /// A stop and starts racing: when the stop returns, no run it could have missed is still
    /// going, and every later start is refused (the dashboard's shutdown).
    @Test func aStopWaitsForEveryRunItLetInAndRefusesTheRest() async throws {
        try await withPlan { plan, options, cache in
            for round in 0..<5 {
                let launcher = RunLauncher()
                let starts = Task {
                    await withTaskGroup(of: Void.self) { group in
                        for _ in 0..<6 { group.addTask { _ = try? await launcher.start(plan, options: options, trigger: .manual) } }
                    }
                }
                try await Task.sleep(for: .milliseconds(round * 3))
                await launcher.cancelAllAndWait()
                let stillRunning = try RunHistory(cacheRoot: cache).runs(status: "running", limit: 100)
                #expect(stillRunning.isEmpty, "round \(round): \(stillRunning.map(\.id)) still running after the stop returned")
                #expect(launcher.running.isEmpty)
                await starts.value
                await #expect(throws: RunRefused.self) { try await launcher.start(plan, options: options, trigger: .manual) }
                await #expect(throws: RunRefused.self) { try await launcher.run(plan, options: options, trigger: .manual) }
            }
        }
    }
}

final class Counter: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
