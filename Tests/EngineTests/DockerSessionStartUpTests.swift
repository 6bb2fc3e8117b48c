import DockerEngine
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import SutradharTesting
import Testing

@testable import Engine

/// The run's daemon session: opened while the run does what needs no daemon (the cache, a run
/// slot, the checkout), and not asked what a cached result makes pointless.
@Suite struct DockerSessionStartUpTests {
    @Test func aRunThatNeedsNoDaemonGetsNoSession() async throws {
        try await Workspace.with { workspace in
            let options = RunOptions(cacheRoot: workspace.cache)
            let value = try await DockerSession.opening(needed: false, options: options, runID: "r", pipeline: "p", warn: { _ in }) { pending in
                let session = try await pending.session
                #expect(session == nil)
                return "checked out"
            }
            #expect(value == "checked out")
        }
    }

    @Test func theRunGoesOnWhileTheDaemonHasNotAnsweredYet() async throws {
        try await Workspace.with { workspace in
            // A socket that takes connections and never answers: a session cannot open on it
            // before the client's deadline (30 s).
            let socket = workspace.root.appendingPathComponent("silent.sock").path
            let listener = try SilentListener(at: socket)
            defer { listener.close() }
            var options = RunOptions(cacheRoot: workspace.cache)
            options.dockerHost = "unix://\(socket)"
            let value = try await DockerSession.opening(needed: true, options: options, runID: "r", pipeline: "p", warn: { _ in }) { _ in
                // What a run does before it needs the daemon (the checkout, which may fail) runs
                // at once; a run that ends here does not wait for the daemon.
                "checked out"
            }
            #expect(value == "checked out")
        }
    }

    @Test func aDaemonThatDoesNotAnswerIsReportedWhereTheRunNeedsIt() async throws {
        try await Workspace.with { workspace in
            var options = RunOptions(cacheRoot: workspace.cache)
            options.dockerHost = "unix://\(workspace.root.path)/no-daemon.sock"
            let reached = Shared<Bool>(false)
            await #expect(throws: EnvironmentError.self) {
                try await DockerSession.opening(needed: true, options: options, runID: "r", pipeline: "p", warn: { _ in }) { pending in
                    reached.set(true)
                    _ = try await pending.session
                    Issue.record("a session without a daemon")
                }
            }
            #expect(reached.value, "the body ran")
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
            try await DockerSession.with(needed: true, options: options, runID: run, pipeline: "audit", warn: { _ in }) { session in
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

/// A unix socket that listens and never accepts: connections succeed (the kernel queues them)
/// and no answer ever comes.
final class SilentListener {
    private let descriptor: Int32

    init(at path: String) throws {
        descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        try #require(bytes.count < MemoryLayout.size(ofValue: address.sun_path), "socket path too long")
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(descriptor >= 0 && bound == 0 && listen(descriptor, 16) == 0, "cannot listen on \(path)")
    }

    func close() { _ = Glibc.close(descriptor) }
}
