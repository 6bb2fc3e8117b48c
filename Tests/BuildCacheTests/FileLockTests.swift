import BuildCache
import Foundation
import Synchronization
import SutradharTesting
import Testing

/// `FileLock`: one holder at a time (flock(2) conflicts between open files, also in one
/// process), and the holder's line that a waiter reads to say whom it waits for.
@Suite struct FileLockTests {
    @Test func aWaiterIsToldWhoHoldsTheLockAndGetsItWhenItIsReleased() async throws {
        let folder = try NixFixtures.makeTemporaryDirectory(prefix: "sutradhar-filelock")
        defer { try? FileManager.default.removeItem(at: folder) }
        let lock = folder.appendingPathComponent("build.lock")
        let holding = Mutex(false)
        let release = Mutex(false)
        let heldBy = Mutex<[String?]>([])

        let first = Task {
            try await FileLock.withLock(at: lock, holder: "run-1 image") {
                holding.withLock { $0 = true }
                while !release.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
            }
        }
        #expect(await eventually(timeout: .seconds(10)) { holding.withLock { $0 } })
        #expect(try String(contentsOf: lock, encoding: .utf8) == "run-1 image\n")
        #expect(try await FileLock.withLockIfFree(at: lock) { true } == nil, "a busy lock was taken")

        let second = Task {
            try await FileLock.withLock(at: lock, holder: "run-2 image", onWait: { line in heldBy.withLock { $0.append(line) } }) {
                try String(contentsOf: lock, encoding: .utf8)
            }
        }
        #expect(await eventually(timeout: .seconds(10)) { !heldBy.withLock { $0 }.isEmpty })
        release.withLock { $0 = true }
        try await first.value
        #expect(try await second.value == "run-2 image\n")
        #expect(heldBy.withLock { $0 } == ["run-1 image"], "onWait is called once, with the holder's line")
        #expect(try String(contentsOf: lock, encoding: .utf8).isEmpty, "a free lock still names a holder")
        waitUntilNothingIsLocked(in: folder)  // see there: children of other tests may share it a moment
        #expect(try await FileLock.withLockIfFree(at: lock) { true } == true)
    }

    @Test func aWaiterOfALockWhoseHolderWroteNothingHearsNilAndCancellationEndsTheWait() async throws {
        let folder = try NixFixtures.makeTemporaryDirectory(prefix: "sutradhar-filelock")
        defer { try? FileManager.default.removeItem(at: folder) }
        let lock = folder.appendingPathComponent("plain.lock")
        let heldBy = Mutex<[String?]>([])
        let holding = Mutex(false)
        let holder = Task {
            try await FileLock.withLock(at: lock) {
                holding.withLock { $0 = true }
                try await Task.sleep(for: .seconds(30))
            }
        }
        #expect(await eventually(timeout: .seconds(10)) { holding.withLock { $0 } })

        let waiter = Task {
            try await FileLock.withLock(at: lock, onWait: { line in heldBy.withLock { $0.append(line) } }) {}
        }
        #expect(await eventually(timeout: .seconds(10)) { !heldBy.withLock { $0 }.isEmpty })
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(heldBy.withLock { $0 } == [nil])
        holder.cancel()
        _ = try? await holder.value
    }
}

/// A writer killed between creating its temporary file and renaming it leaves the file behind;
/// the next write of the same entry removes it (the chaos suite found one in 100 kills).
@Suite struct AtomicFileLeftoverTests {
    @Test func aDeadWritersTemporaryFileIsRemovedByTheNextWriteOfTheSameFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sutradhar-atomic-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let target = folder.appendingPathComponent("key.json")
        // A PID that is surely dead: a child that has exited and been reaped.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let dead = folder.appendingPathComponent(".key.json.\(child.processIdentifier).12345.tmp")
        let live = folder.appendingPathComponent(".key.json.1.777.tmp")  // PID 1 is alive
        let other = folder.appendingPathComponent(".other.json.\(child.processIdentifier).1.tmp")
        for url in [dead, live, other] { try Data("half".utf8).write(to: url) }

        try AtomicFile.write(Data("{}".utf8), to: target)

        #expect(!FileManager.default.fileExists(atPath: dead.path))
        #expect(FileManager.default.fileExists(atPath: live.path))
        #expect(FileManager.default.fileExists(atPath: other.path))
        #expect(try String(contentsOf: target, encoding: .utf8) == "{}")
    }
}
