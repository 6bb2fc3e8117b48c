import Foundation
import NIOCore
import Synchronization
import SutradharTesting
import Testing

@testable import DockerEngine

/// A request body that never ends: a tar header announcing an 8 GiB `layer.tar`, then zeros
/// for as long as it is pulled. Counts the chunks pulled.
struct EndlessLayerBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let pulls: Pulls

    final class Pulls: Sendable {
        let count = Atomic<Int>(0)
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        let pulls: Pulls
        mutating func next() async throws -> ByteBuffer? {
            let index = pulls.count.add(1, ordering: .relaxed).oldValue
            if index == 0 {
                return ByteBuffer(bytes: TarFixtures.header(name: "layer.tar", sizeField: Array("77777777777\0".utf8)))
            }
            return ByteBuffer(repeating: 0, count: 1 << 20)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(pulls: pulls) }
}

@Suite(.requiresDocker, .timeLimit(.minutes(2)))
struct LoadCancellationTests {
    /// Cancelling a load (a stage timeout, Ctrl-C) must close its connection, so that the daemon
    /// stops unpacking the upload into its temporary folder (`docker-import-*` under its root's
    /// `tmp`) and removes it, rather than go on writing gigabytes.
    @Test func aCancelledLoadClosesTheConnectionAndTheDaemonDropsTheUpload() async throws {
        try await withTestClient { client, _ in
            let root = try DockerTestSupport.run(
                "/usr/local/bin/docker", ["info", "--format", "{{.DockerRootDir}}"],
                environment: ["DOCKER_HOST": "unix://" + client.host.socketPath]
            ).trimmingCharacters(in: .whitespacesAndNewlines)
            let temporary = root + "/tmp"
            let imports = { Set(((try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? []).filter { $0.hasPrefix("docker-import-") }) }
            let before = imports()

            let (sent, sending) = AsyncStream<Void>.makeStream()
            let body = EndlessLayerBody(pulls: .init())
            let load = Task {
                try await client.loadImage(body, progress: { total in
                    if total >= 64 << 20 { sending.yield() }
                })
            }
            // Wait until the daemon has taken 64 MiB: it is unpacking the upload now.
            for await _ in sent { break }
            let ours = imports().subtracting(before)
            #expect(!ours.isEmpty, "the daemon should be unpacking into \(temporary)/docker-import-*")

            let cancelled = ContinuousClock.now
            load.cancel()
            let result = await load.result
            let returned = ContinuousClock.now
            let pulledAtReturn = body.pulls.count.load(ordering: .relaxed)
            if case .failure(let error as DockerError) = result {
                #expect(error.code == .cancelled, "\(error)")
            } else {
                Issue.record("a cancelled load ended in \(result)")
            }

            // The daemon sees the connection close and removes its folder: a generous bound
            // for a loaded machine (it takes milliseconds).
            let dropped = await eventually(timeout: .seconds(10)) { imports().isDisjoint(with: ours) }
            let droppedAfter = ContinuousClock.now - cancelled
            print("cancelled load: returned \(returned - cancelled) after the cancel; the daemon dropped its upload folder within \(droppedAfter)")
            #expect(returned - cancelled < .seconds(5))
            #expect(dropped, "the daemon still unpacks the cancelled upload: \(imports().intersection(ours))")
            // Nothing pulls the body any more.
            #expect(body.pulls.count.load(ordering: .relaxed) <= pulledAtReturn + 1)
        }
    }
}
