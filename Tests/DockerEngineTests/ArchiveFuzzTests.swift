import Foundation
import SutradharTesting
import Testing

@testable import DockerEngine
import CZlib

#if canImport(Glibc)
import Glibc
#endif

/// SplitMix64: a tiny PRNG whose sequence depends only on its seed, so a failing case can be
/// replayed with `SUTRADHAR_FUZZ_SEED`.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Mutates real docker-archives (written by GNU tar in its gnu, pax and ustar formats, and by
/// hand, plain and gzipped) and reads each mutant: every case must end in an image or
/// ``DockerError`` `.invalidArchive`, within a deadline, holding bounded memory. A crash fails
/// the test by killing its process.
///
/// 10,000 cases by default (a few seconds); `SUTRADHAR_FUZZ_CASES` runs more by hand and
/// `SUTRADHAR_FUZZ_SEED` (hex, as the test prints it) picks another sequence; the default seed
/// is fixed, so CI runs the same cases every time.
@Suite struct ArchiveFuzzTests {
    static let defaultSeed: UInt64 = 0x5A7D_4AD4_2026
    static var seed: UInt64 {
        ProcessInfo.processInfo.environment["SUTRADHAR_FUZZ_SEED"].flatMap { UInt64($0, radix: 0x10) ?? UInt64($0) } ?? defaultSeed
    }
    static var cases: Int {
        ProcessInfo.processInfo.environment["SUTRADHAR_FUZZ_CASES"].flatMap { Int($0) } ?? 10_000
    }

    /// The archives mutated: small, so that ten thousand reads take seconds.
    static func corpus(in folder: TemporaryFolder) throws -> [(name: String, bytes: [UInt8])] {
        let handMade = try TarFixtures.smallDockerArchive(in: folder.path).tar
        var corpus: [(name: String, bytes: [UInt8])] = [("hand-made", handMade)]

        // The same image through GNU tar, with its config under a folder long enough to need a
        // pax `path` record or a GNU long name.
        let unpacked = folder.path + "/unpacked"
        let long = String(repeating: "d", count: 110)
        try FileManager.default.createDirectory(atPath: unpacked + "/layer", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: unpacked + "/" + long, withIntermediateDirectories: true)
        try Data(TarFixtures.entry(name: "hello.txt", contents: Array("hello\n".utf8)) + TarFixtures.endOfArchive)
            .write(to: URL(fileURLWithPath: unpacked + "/layer/layer.tar"))
        try Data(#"{"os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#.utf8).write(to: URL(fileURLWithPath: unpacked + "/\(long)/config.json"))
        try Data(#"[{"Config":"\#(long)/config.json","RepoTags":["fuzz:gnu"],"Layers":["layer/layer.tar"]}]"#.utf8)
            .write(to: URL(fileURLWithPath: unpacked + "/manifest.json"))
        for format in ["gnu", "pax"] {
            let path = folder.path + "/\(format).tar"
            try DockerTestSupport.run("/usr/bin/tar", ["--format=\(format)", "--sort=name", "--mtime=@1", "--owner=0", "--group=0",
                                                       "-C", unpacked, "-cf", path, "manifest.json", "layer", long])
            corpus.append((format, try Array(Data(contentsOf: URL(fileURLWithPath: path)))))
        }
        let ustar = folder.path + "/ustar.tar"
        try DockerTestSupport.run("/usr/bin/tar", ["--format=ustar", "-C", unpacked, "-cf", ustar, "layer", "manifest.json"])
        corpus.append(("ustar-no-config", try Array(Data(contentsOf: URL(fileURLWithPath: ustar)))))

        for (name, bytes) in corpus {
            corpus.append((name + ".gz", try TarFixtures.gzip(bytes, in: folder.path)))
        }
        return corpus
    }

    @Test func mutatedArchivesEndInAnImageOrInvalidArchive() async throws {
        let folder = try TemporaryFolder()
        let corpus = try Self.corpus(in: folder)
        // Every unmutated archive reads (but the one whose manifest names a config it lacks).
        for (name, bytes) in corpus {
            let path = folder.path + "/\(name).check"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            if name.hasPrefix("ustar-no-config") {
                #expect(throws: DockerError.self) { try ImageArchive.images(inArchiveAt: path) }
            } else {
                #expect(try await ImageArchive.images(inArchiveAt: path).count == 1, "\(name)")
            }
        }

        let seed = Self.seed, cases = Self.cases, path = folder.path + "/case"
        let rssBefore = Self.maxRSS()
        let started = ContinuousClock.now
        // Off the cooperative pool: thousands of blocking reads should not hold one of its threads.
        let report = try await runOffCooperativePool(name: "archive-fuzz") { _ in
            try Self.fuzz(corpus: corpus, seed: seed, cases: cases, path: path)
        }
        let elapsed = ContinuousClock.now - started
        let rssGrowth = Self.maxRSS() - rssBefore
        print("archive fuzz: \(cases) cases from seed \(String(seed, radix: 16)) in \(elapsed): \(report.valid) valid, "
              + "\(report.invalid) invalid; peak held \(report.peakBytes >> 10) KiB (limit \(ImageArchive.memoryLimit >> 10) KiB); "
              + "max RSS grew \(rssGrowth >> 10) MiB")
        #expect(report.failures.isEmpty, "\(report.failures.prefix(20).joined(separator: "\n"))")
        #expect(report.valid + report.invalid == cases)
        // The mutations must reach past the checksum: many cases are still archives, many are not.
        #expect(report.invalid > cases / 4 && report.valid > cases / 50, "valid \(report.valid), invalid \(report.invalid)")
        #expect(report.peakBytes <= ImageArchive.memoryLimit)
        // The whole process's peak (other tests run alongside): a leak of even 100 KiB a case
        // would pass 1 GiB; the reader itself holds at most ImageArchive.memoryLimit (~15 MiB).
        #expect(rssGrowth < 1 << 20, "max RSS grew by \(rssGrowth) KiB")
    }

    struct Report: Sendable {
        var valid = 0
        var invalid = 0
        var peakBytes = 0
        var failures: [String] = []
    }

    /// Runs the cases one after another (each a file write and a scan).
    static func fuzz(corpus: [(name: String, bytes: [UInt8])], seed: UInt64, cases: Int, path: String) throws -> Report {
        var random = SplitMix64(seed: seed)
        var report = Report()
        var gzipper = Gzipper()
        for index in 0..<cases {
            // Most cases mutate a tar (gzipping a third of the mutants); one in five mutates a
            // gzip stream itself, where zlib finds nearly every change.
            let compressed = random.next() % 5 == 0
            let pool = corpus.filter { $0.name.hasSuffix(".gz") == compressed }
            let base = pool[Int(random.next() % UInt64(pool.count))]
            var (bytes, description) = mutate(base.bytes, gzipped: base.name.hasSuffix(".gz"), using: &random, gzip: &gzipper)
            description = "case \(index) (\(base.name): \(description))"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            bytes = []
            // Generous: a case takes well under a millisecond; only a loop comes near this.
            let control = ScanControl(deadline: .now + .seconds(20))
            do {
                let scan = try ImageArchive.scan(path, control: control)
                report.valid += 1
                report.peakBytes = max(report.peakBytes, scan.statistics.peakBytes)
            } catch let error as DockerError where error.code == .invalidArchive {
                report.invalid += 1
            } catch {
                report.failures.append("\(description) ended in \(error)")
            }
        }
        return report
    }

    /// Compresses mutants in-process with zlib (a `gzip` process per case would dominate the run).
    struct Gzipper {
        mutating func gzip(_ bytes: [UInt8]) -> [UInt8]? {
            var stream = z_stream()
            // 15 + 16: the largest window, with a gzip header.
            guard deflateInit2_(&stream, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                return nil
            }
            defer { deflateEnd(&stream) }
            var input = bytes
            var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(bytes.count))) + 64)
            let produced = input.withUnsafeMutableBufferPointer { inBuffer in
                output.withUnsafeMutableBufferPointer { outBuffer -> Int in
                    stream.next_in = inBuffer.baseAddress
                    stream.avail_in = uInt(inBuffer.count)
                    stream.next_out = outBuffer.baseAddress
                    stream.avail_out = uInt(outBuffer.count)
                    guard deflate(&stream, Z_FINISH) == Z_STREAM_END else { return -1 }
                    return outBuffer.count - Int(stream.avail_out)
                }
            }
            return produced < 0 ? nil : Array(output.prefix(produced))
        }
    }

    // MARK: - Mutations

    /// Header offsets of a tar, walked leniently (a mutant may stop making sense anywhere).
    static func headers(_ bytes: [UInt8]) -> [Int] {
        var offsets: [Int] = []
        var offset = 0
        while offset + 512 <= bytes.count, offsets.count < 64 {
            let header = bytes[offset..<(offset + 512)]
            if header.allSatisfy({ $0 == 0 }) { break }
            offsets.append(offset)
            guard let size = TarReader.octal(bytes[(offset + 124)..<(offset + 136)]), size < Int64(bytes.count) else { break }
            let type = bytes[offset + 156]
            let contents = (UInt8(ascii: "1")...UInt8(ascii: "6")).contains(type) ? 0 : Int(size)
            offset += 512 + contents + (512 - contents % 512) % 512
        }
        return offsets
    }

    static let sizeFields: [[UInt8]] = [
        Array("-0000001000\0".utf8), Array("-1\0".utf8), Array("77777777777\0".utf8), Array("777777777777".utf8),
        Array("+0000001000\0".utf8), Array("0x100\0".utf8), Array("           ".utf8) + [0],
        [0x80] + [UInt8](repeating: 0xff, count: 11),  // base-256, larger than Int64
        [0x80, 0, 0, 0, 0x7f] + [UInt8](repeating: 0xff, count: 7),  // base-256 Int64.max
        [0x80] + [UInt8](repeating: 0, count: 9) + [0x10, 0x00],  // base-256 4096
        [UInt8](repeating: 0xff, count: 12),  // base-256 -1
        [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0x00],  // base-256 -512
    ]

    static let paxSizes = [
        "9223372036854775807", "9223372036854775296", "9223372036854775808", "-1", "-512", "", "1e9", "0x10",
        "4398046511104", "4398046511103", "17179869184", "512", "0", " 1", "1 ",
    ]

    static func paxRecords(using random: inout SplitMix64) -> [UInt8] {
        switch random.next() % 8 {
        case 0, 1:
            return TarFixtures.paxRecord("size", paxSizes[Int(random.next() % UInt64(paxSizes.count))])
        case 2:
            return TarFixtures.paxRecord("path", String(repeating: "p", count: Int(random.next() % 6000)))
        case 3:
            return TarFixtures.paxRecord("path", "a\0b")
        case 4:
            // A length that lies, by a little or a lot.
            let lies = ["1", "0", "5", "11", "12", "999999999", "-5", "abc", "99999999999999999999"]
            return Array("\(lies[Int(random.next() % UInt64(lies.count))]) size=512\n".utf8)
        case 5:
            return Array("12 size=512".utf8)  // no newline
        case 6:
            return TarFixtures.paxRecord("path", "manifest.json") + TarFixtures.paxRecord("size", "512")
        default:
            return (0..<Int(random.next() % 64)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        }
    }

    static func mutate(_ original: [UInt8], gzipped: Bool, using random: inout SplitMix64, gzip: inout Gzipper) -> ([UInt8], String) {
        var bytes = original
        var done: [String] = []
        if gzipped {
            // The compressed stream itself: flips, cuts, repeats.
            for _ in 0...(random.next() % 3) { done.append(byteMutation(&bytes, using: &random)) }
            return (bytes, done.joined(separator: ", "))
        }
        // Sometimes a pax header first (it changes the layout), then fields of headers, then bytes.
        if random.next() % 4 == 0 {
            let offsets = headers(bytes)
            let at = offsets.isEmpty ? 0 : offsets[Int(random.next() % UInt64(offsets.count))]
            let data = paxRecords(using: &random)
            var header = TarFixtures.header(name: "PaxHeaders/x", size: Int64(data.count), type: random.next() % 5 == 0 ? "g" : "x")
            if random.next() % 6 == 0 {
                TarFixtures.octal(Int64(random.next() % 2048), width: 12).enumerated().forEach { header[124 + $0.offset] = $0.element }
                TarFixtures.setChecksum(&header, at: 0)
            }
            bytes.insert(contentsOf: header + data + TarFixtures.padding(data.count), at: at)
            done.append("pax header at \(at)")
        }
        for _ in 0...(random.next() % 3) {
            let offsets = headers(bytes)
            guard !offsets.isEmpty, random.next() % 5 != 0 else {
                done.append(byteMutation(&bytes, using: &random))
                continue
            }
            let at = offsets[Int(random.next() % UInt64(offsets.count))]
            done.append(fieldMutation(&bytes, header: at, using: &random))
        }
        if random.next() % 3 == 0 {
            if let compressed = gzip.gzip(bytes) {
                done.append("gzipped")
                bytes = compressed
            }
        }
        return (bytes, done.joined(separator: ", "))
    }

    /// Writes something hostile into one field of the header at `offset`, usually with a
    /// checksum that matches (so the reader must look at the field itself).
    static func fieldMutation(_ bytes: inout [UInt8], header offset: Int, using random: inout SplitMix64) -> String {
        func write(_ field: [UInt8], at start: Int, width: Int) {
            for index in 0..<width { bytes[offset + start + index] = index < field.count ? field[index] : 0 }
        }
        let what: String
        switch random.next() % 7 {
        case 0, 1, 2:
            let field = sizeFields[Int(random.next() % UInt64(sizeFields.count))]
            write(field, at: 124, width: 12)
            what = "size \(field)"
        case 3:
            let types: [Character] = ["0", "1", "2", "5", "7", "x", "g", "L", "K", "S", "\0", "Z"]
            let type = types[Int(random.next() % UInt64(types.count))]
            bytes[offset + 156] = type.asciiValue!
            what = "type \(type)"
        case 4:
            let start = [100, 108, 116, 136][Int(random.next() % 4)]
            write((0..<8).map { _ in UInt8(truncatingIfNeeded: random.next()) }, at: start, width: 8)
            what = "numeric field at \(start)"
        case 5:
            write((0..<Int(random.next() % 100)).map { _ in UInt8(truncatingIfNeeded: random.next()) }, at: 0, width: 100)
            what = "name"
        default:
            let size = Int64(random.next() % 4096)
            write(TarFixtures.octal(size, width: 12), at: 124, width: 12)
            what = "size \(size)"
        }
        if random.next() % 6 == 0 {
            let garbage = [Array("-0000001\0".utf8), Array("77777777".utf8), [0xff, 0, 0, 0, 0, 0, 0, 1]][Int(random.next() % 3)]
            write(garbage, at: 148, width: 8)
            return "\(what) at \(offset), checksum \(garbage)"
        }
        TarFixtures.setChecksum(&bytes, at: offset)
        return "\(what) at \(offset)"
    }

    /// Flips, cuts, repeats or removes bytes anywhere.
    static func byteMutation(_ bytes: inout [UInt8], using random: inout SplitMix64) -> String {
        guard !bytes.isEmpty else { return "empty" }
        func position() -> Int { Int(random.next() % UInt64(bytes.count)) }
        switch random.next() % 5 {
        case 0, 1:
            let count = 1 + Int(random.next() % 8)
            for _ in 0..<count { bytes[position()] ^= UInt8(truncatingIfNeeded: 1 + random.next() % 255) }
            return "\(count) bytes flipped"
        case 2:
            let cut = position()
            bytes.removeSubrange(cut...)
            return "cut at \(cut)"
        case 3:
            let start = random.next() % 2 == 0 ? position() / 512 * 512 : position()
            let end = min(bytes.count, start + 1 + Int(random.next() % 4096))
            let at = position()
            bytes.insert(contentsOf: bytes[start..<end], at: at)
            return "\(start)..<\(end) repeated at \(at)"
        default:
            let start = position()
            let end = min(bytes.count, start + 1 + Int(random.next() % 2048))
            bytes.removeSubrange(start..<end)
            return "\(start)..<\(end) removed"
        }
    }

    /// This process's peak resident set, in KiB (`getrusage`).
    static func maxRSS() -> Int {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Int(usage.ru_maxrss)
    }
}
