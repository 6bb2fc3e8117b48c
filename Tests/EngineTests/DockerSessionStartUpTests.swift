import DockerEngine
import Foundation
import Synchronization
import SutradharTesting
import Testing

@testable import Engine

/// The run's daemon session: the work it does alongside its start-up (the checkout) and the
/// daemon questions it skips when a cached result makes them pointless.
@Suite struct DockerSessionStartUpTests {
    @Test func theWorkAlongsideReachesTheBodyWithOrWithoutADaemon() async throws {
        try await Workspace.with { workspace in
            let options = RunOptions(cacheRoot: workspace.cache)
            let value = try await DockerSession.with(needed: false, options: options, runID: "r", pipeline: "p", warn: { _ in },
                                                     alongside: { "checked out" }) { session, prepared in
                #expect(session == nil)
                return prepared
            }
            #expect(value == "checked out")
        }
    }

    @Test func aDaemonThatDoesNotAnswerIsReportedOnlyOnceTheWorkAlongsideHasFinished() async throws {
        try await Workspace.with { workspace in
            var options = RunOptions(cacheRoot: workspace.cache)
            options.dockerHost = "unix://\(workspace.root.path)/no-daemon.sock"
            let finished = Shared<Bool?>(nil)
            await #expect(throws: EnvironmentError.self) {
                try await DockerSession.with(needed: true, options: options, runID: "r", pipeline: "p", warn: { _ in },
                                             alongside: {
                                                 // Still working when the missing socket is found.
                                                 for _ in 0..<100 { await Task.yield() }
                                                 finished.set(!Task.isCancelled)
                                             }) { _, _ in
                    Issue.record("the body ran without a daemon")
                }
            }
            // Neither abandoned nor cancelled: a checkout's result is recorded, never cut short.
            #expect(finished.value == true)
        }
    }

    @Test(.requiresDocker) func theAuditTrailIsReadOnlyOnceTheRunHasAskedForAContainer() async throws {
        let socket = try DockerTestSupport.requireDaemon()
        try await Workspace.with { workspace in
            var options = RunOptions(cacheRoot: workspace.cache)
            options.dockerHost = "unix://\(socket)"
            let run = "audit-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
            let tag = "sdh-test-\(run):latest"
            let tiny = try DockerTestSupport.makeTinyImageArchive(
                at: workspace.root.appendingPathComponent("image.tar").path, tag: tag, labels: ["sutradhar.test": run])
            try await DockerSession.with(needed: true, options: options, runID: run, pipeline: "audit", warn: { _ in },
                                         alongside: {}) { session, _ in
                let session = try #require(session)
                let client = session.client
                _ = try await client.loadImage(fileAt: tiny.path, progress: nil)
                do {
                    let started = Date(timeIntervalSinceNow: -1)
                    // A container with the run's labels, made behind the session's back: the
                    // daemon has events for this run, so a query would find some.
                    let id = try await client.createContainer(name: "sdh-test-\(run)", ContainerSpec(image: tag, labels: session.labels(stage: "s")))
                    try await client.removeContainer(id, force: true)

                    let lines = Shared<[String]>([])
                    await session.recordAuditTrail(since: started) { line in lines.append(line) }
                    #expect(lines.value.isEmpty, "the daemon was asked although the run asked for no container")

                    session.containersRequested.raise()  // as withContainer does before it creates one
                    await session.recordAuditTrail(since: started) { line in lines.append(line) }
                    #expect(lines.value.contains { $0.contains(" container create ") }, "\(lines.value)")
                } catch {
                    try? await client.removeImage(tag, force: true)
                    throw error
                }
                try await client.removeImage(tag, force: true)
            }
        }
    }
}

/// A value tasks and escaping closures share.
final class Shared<Value: Sendable>: Sendable {
    private let state: Mutex<Value>

    init(_ value: Value) { state = Mutex(value) }

    var value: Value { state.withLock { $0 } }
    func set(_ value: Value) { state.withLock { $0 = value } }
    func append<Element>(_ element: Element) where Value == [Element] { state.withLock { $0.append(element) } }
}
