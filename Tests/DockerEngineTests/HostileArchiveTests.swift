import Foundation
import SutradharTesting
import Testing

@testable import DockerEngine

#if canImport(Glibc)
import Glibc
#endif

/// Image archives are a nix build's output, so whatever a flake wrote: the reader must end every
/// one of them in an image ID or ``DockerError`` `.invalidArchive`, never a crash, a loop or
/// unbounded memory, and must stop when cancelled.
@Suite struct HostileArchiveTests {
    /// Writes `bytes` to a file in `folder` and reads it as an image archive.
    private static func read(_ bytes: [UInt8], in folder: TemporaryFolder, name: String = "hostile.tar") throws -> ImageArchiveInfo {
        let path = folder.path + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        // A deadline, so that a regression shows as a failure rather than a hung test run.
        return try ImageArchive.scan(path, control: ScanControl(deadline: .now + .seconds(60))).images.first!
    }

    private static func expectInvalid(_ bytes: [UInt8], in folder: TemporaryFolder, mentioning words: [String],
                                      sourceLocation: SourceLocation = #_sourceLocation) {
        let error = #expect(throws: DockerError.self, sourceLocation: sourceLocation) { try read(bytes, in: folder) }
        #expect(error?.code == .invalidArchive, "\(String(describing: error))", sourceLocation: sourceLocation)
        for word in words {
            #expect(error?.message.contains(word) == true, "\(String(describing: error))", sourceLocation: sourceLocation)
        }
    }

    @Test func theHandMadeArchiveIsValid() throws {
        let folder = try TemporaryFolder()
        let small = try TarFixtures.smallDockerArchive(in: folder.path)
        #expect(try Self.read(small.tar, in: folder).id == small.imageID)
    }

    /// The reported attack: `-1000` (octal, -512) in the size field of an entry the reader skips
    /// (a folder) made it seek back onto the same header for ever, at 100% CPU, deaf to the
    /// stage timeout. (Before the fix this test hung; a regular file's was read as empty.)
    @Test func aNegativeSizeFieldIsInvalidRatherThanALoop() throws {
        let folder = try TemporaryFolder()
        let small = try TarFixtures.smallDockerArchive(in: folder.path)
        for type: Character in ["5", "0", "K"] {
            let negative = TarFixtures.header(name: "layer/", type: type, sizeField: Array("-0000001000\0".utf8))
            Self.expectInvalid(negative + small.tar, in: folder, mentioning: ["byte 0", "not an octal number", "not a valid docker-archive"])
        }

        // The same in GNU base-256: the sign bit of the first byte.
        let base256 = TarFixtures.header(name: "layer.tar", sizeField: [0xff] + [UInt8](repeating: 0xff, count: 10) + [0x00])
        Self.expectInvalid(base256 + small.tar, in: folder, mentioning: ["negative size"])
    }

    /// The reported attack: a pax `size` near `Int64.max` overflowed `size + padding` and
    /// killed the process (SIGILL), leaving the run `abandoned`.
    @Test func aPaxSizeNearInt64MaxIsInvalidRatherThanACrash() throws {
        let folder = try TemporaryFolder()
        let small = try TarFixtures.smallDockerArchive(in: folder.path)
        for size in [Int64.max, Int64.max - 511, Int64.max - 512] {
            let archive = TarFixtures.pax([("size", String(size))]) + TarFixtures.header(name: "layer.tar") + small.tar
            Self.expectInvalid(archive, in: folder, mentioning: ["'layer.tar'", "declares \(size) bytes"])
        }
        // One more than Int64.max does not parse at all.
        let over = TarFixtures.pax([("size", "9223372036854775808")]) + TarFixtures.header(name: "layer.tar") + small.tar
        Self.expectInvalid(over, in: folder, mentioning: ["pax size"])
        // A base-256 size field just as large.
        let field: [UInt8] = [0x80, 0, 0, 0] + [0x7f] + [UInt8](repeating: 0xff, count: 7)
        Self.expectInvalid(TarFixtures.header(name: "layer.tar", sizeField: field) + small.tar, in: folder, mentioning: ["declares"])
    }

    /// A pax record whose LENGTH is shorter than its own `LENGTH key` made an inverted range
    /// (a crash); one that runs past the data, or does not end at its newline, is malformed too.
    @Test func malformedPaxRecordsAreInvalid() throws {
        let folder = try TemporaryFolder()
        let small = try TarFixtures.smallDockerArchive(in: folder.path)
        for data in ["1 path=x\n", "99 path=x\n", "10 path=x\nzz", "-5 size=1\n", "abc\n", "9 size1\n", "6 =x\n"] {
            let bytes = Array(data.utf8)
            let archive = TarFixtures.header(name: "PaxHeaders/x", size: Int64(bytes.count), type: "x") + bytes
                + TarFixtures.padding(bytes.count) + TarFixtures.header(name: "layer.tar") + small.tar
            Self.expectInvalid(archive, in: folder, mentioning: ["pax record"])
        }
        for size in ["-1", "", "1e9", " 5", "+5"] {
            let archive = TarFixtures.pax([("size", size)]) + TarFixtures.header(name: "layer.tar") + small.tar
            Self.expectInvalid(archive, in: folder, mentioning: ["pax size"])
        }
    }

    @Test func sizesAreCheckedAgainstWhatRemains() throws {
        let folder = try TemporaryFolder()
        let small = try TarFixtures.smallDockerArchive(in: folder.path)
        // 8 GiB declared in an archive of a few KiB: refused before any seek.
        let huge = TarFixtures.header(name: "layer.tar", sizeField: Array("77777777777\0".utf8))
        Self.expectInvalid(huge + small.tar, in: folder, mentioning: ["at most"])
        // A header-only type (a folder) has no contents, whatever its size says.
        let folderWithSize = TarFixtures.header(name: "layer/", size: 512, type: "5")
        #expect(try Self.read(folderWithSize + small.tar, in: folder).id == small.imageID)
    }

    @Test func numericFieldsAreStrictOctal() throws {
        #expect(TarReader.octal(ArraySlice(Array("0000644\0".utf8))) == 0o644)
        #expect(TarReader.octal(ArraySlice(Array("  644 \0\0".utf8))) == 0o644)
        #expect(TarReader.octal(ArraySlice([UInt8](repeating: 0, count: 8))) == 0)
        #expect(TarReader.octal(ArraySlice(Array("-0000644".utf8))) == nil)
        #expect(TarReader.octal(ArraySlice(Array("+0000644".utf8))) == nil)
        #expect(TarReader.octal(ArraySlice(Array("0000648\0".utf8))) == nil)
        #expect(TarReader.octal(ArraySlice(Array("644\0 12\0".utf8))) == nil)
        #expect(TarReader.base256(ArraySlice([0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x00])) == 512)
        #expect(TarReader.base256(ArraySlice([0x80] + [UInt8](repeating: 0xff, count: 11))) == nil)
        #expect(TarReader.decimal("9223372036854775807") == Int64.max)
        #expect(TarReader.decimal("9223372036854775808") == nil)
    }

    @Test func aBadChecksumIsInvalid() throws {
        let folder = try TemporaryFolder()
        var small = try TarFixtures.smallDockerArchive(in: folder.path).tar
        small[600] ^= 0x01  // inside the second header's name
        Self.expectInvalid(small, in: folder, mentioning: ["checksum", "byte 512"])
    }

    // MARK: - Cancellation

    /// A scan runs on a thread of its own and stops when its Task is cancelled: a stage timeout
    /// ends it at once instead of after inflating the whole bomb (28 s for 10 GiB, reported).
    @Test func cancellingTheScanOfAGzipBombEndsItPromptly() async throws {
        let folder = try TemporaryFolder()
        let bomb = folder.path + "/bomb.tar.gz"
        try TarFixtures.writeGzipBomb(at: bomb, gibibytes: 64)

        let started = ContinuousClock.now
        let scan = Task { try await ImageArchive.imageID(ofArchiveAt: bomb) }
        // The stage's deadline: inflating 64 GiB takes far longer than this on any machine.
        try await Task.sleep(for: .milliseconds(500))
        let cancelled = ContinuousClock.now
        scan.cancel()
        let result = await scan.result
        let ended = ContinuousClock.now
        print("gzip bomb (64 GiB of zeros): cancelled \(cancelled - started) after the start; the scan ended \(ended - cancelled) after the cancel")
        #expect(throws: DockerError.self) { try result.get() }
        #expect((try? result.get()) == nil)
        if case .failure(let error as DockerError) = result { #expect(error.code == .cancelled, "\(error)") }
        // `.cancelled` is what proves the cancel was seen: a scan that ignored it would end with
        // another error (no manifest) after inflating all 64 GiB. The time is printed above, not
        // asserted: it measures until the awaiting Task runs again, which waits for a thread of
        // the cooperative pool that the suite's parallel tests share (18 s seen on a loaded
        // machine). This bound only fails a hang.
        #expect(ended - cancelled < .seconds(600))
    }

    /// Cancelled before it starts, a scan does not read at all.
    @Test func aScanInACancelledTaskThrowsCancelled() async throws {
        let folder = try TemporaryFolder()
        let path = folder.path + "/small.tar"
        try Data(try TarFixtures.smallDockerArchive(in: folder.path).tar).write(to: URL(fileURLWithPath: path))
        let scan = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await ImageArchive.imageID(ofArchiveAt: path)
        }
        let error = await #expect(throws: DockerError.self) { try await scan.value }
        #expect(error?.code == .cancelled)
    }
}
