import DockerEngine
import Foundation
import Reproduce
import SutradharTesting
import Testing

/// The file-level comparison of two builds' image tarballs, on synthetic docker-archives whose
/// layers are named by their digest (as `docker save` and dockerTools name them), so that a
/// changed layer has a different name in each build and must be paired by position.
@Suite struct ArchiveComparisonTests {
    /// One file of a layer: its path, contents and modification time.
    struct File {
        var path: String
        var contents: String
        var mtime: Int64 = 1
    }

    /// A layer tar holding `files` in the given order.
    static func layer(_ files: [File]) -> [UInt8] {
        var bytes: [UInt8] = []
        for file in files {
            var entry = TarFixtures.entry(name: file.path, contents: Array(file.contents.utf8))
            let mtime = TarFixtures.octal(file.mtime, width: 12)
            for (index, byte) in mtime.enumerated() { entry[136 + index] = byte }
            TarFixtures.setChecksum(&entry, at: 0)
            bytes += entry
        }
        return bytes + TarFixtures.endOfArchive
    }

    /// A docker-archive of `layers` (bottom first), each in a folder named by its SHA-256, with
    /// the manifest last as `docker save` writes it; gzipped when asked.
    static func archive(_ layers: [[File]], in folder: URL, name: String, gzipped: Bool = false) throws -> String {
        var tar: [UInt8] = []
        var layerNames: [String] = []
        for files in layers {
            let bytes = layer(files)
            let layerPath = folder.appendingPathComponent("layer-\(UUID().uuidString)")
            try Data(bytes).write(to: layerPath)
            let digest = try DockerTestSupport.sha256(ofFileAt: layerPath.path)
            layerNames.append("\(digest)/layer.tar")
            tar += TarFixtures.entry(name: "\(digest)/layer.tar", contents: bytes)
        }
        let config = Array(#"{"rootfs":{"type":"layers","diff_ids":["\#(layerNames.joined(separator: "\",\""))"]}}"#.utf8)
        tar += TarFixtures.entry(name: "config.json", contents: config)
        let manifest = #"[{"Config":"config.json","RepoTags":["t:1"],"Layers":["\#(layerNames.joined(separator: "\",\""))"]}]"#
        tar += TarFixtures.entry(name: "manifest.json", contents: Array(manifest.utf8)) + TarFixtures.endOfArchive
        if gzipped { tar = try TarFixtures.gzip(tar, in: folder.path) }
        let path = folder.appendingPathComponent(name).path
        try Data(tar).write(to: URL(fileURLWithPath: path))
        return path
    }

    static let base = [File(path: "etc/motd", contents: "welcome\n"), File(path: "etc/built-at", contents: "1\n"),
                       File(path: "data/a", contents: "a\n"), File(path: "data/b", contents: "b\n")]

    func compare(_ first: [[File]], _ second: [[File]], gzipped: Bool = false) async throws -> [OutputDifference] {
        try await GitFixtures.withTemporaryDirectory { folder in
            let a = try Self.archive(first, in: folder, name: "first.tar", gzipped: gzipped)
            let b = try Self.archive(second, in: folder, name: "second.tar", gzipped: gzipped)
            return try await OutputComparison.compare(a, b).differences
        }
    }

    @Test func identicalArchivesHaveNoDifference() async throws {
        let differences = try await compare([Self.base], [Self.base])
        #expect(differences.isEmpty, "\(differences)")
    }

    @Test func changedFileIsNamedInsideItsLayerAlthoughTheLayersAreNamedByDigest() async throws {
        var changed = Self.base
        changed[1].contents = "2\n"
        let differences = try await compare([Self.base], [changed])
        let file = try #require(differences.first { $0.file == "etc/built-at" }, "\(differences)")
        #expect(file.location.hasPrefix("layer 1 of 1 ("))
        #expect(file.detail.contains("contents differ"))
        // The other files of the layer are the same and are not reported.
        #expect(!differences.contains { $0.file == "etc/motd" || $0.file.hasPrefix("data/") })
        // The config records the layer's digest, so it follows; it is named as such.
        #expect(differences.contains { $0.location.hasPrefix("config ") && $0.detail.contains("follows") })
    }

    @Test func changedTimestampInTheTarHeaderIsNamed() async throws {
        var touched = Self.base
        touched[2].mtime = 1_700_000_000
        let differences = try await compare([Self.base], [touched])
        let file = try #require(differences.first { $0.file == "data/a" }, "\(differences)")
        #expect(file.detail == "mtime 1 vs 1700000000")
    }

    @Test func sameFilesInAnotherOrderAreReportedAsAnOrderDifference() async throws {
        let shuffled = [Self.base[0], Self.base[1], Self.base[3], Self.base[2]]
        let all = try await compare([Self.base], [shuffled])
        // The config follows the layer's digest; inside the layer, one difference: the order.
        let differences = all.filter { $0.location.hasPrefix("layer ") }
        #expect(differences.count == 1, "\(all)")
        #expect(differences.first?.file == "data/a")
        #expect(differences.first?.detail.contains("another order: entry 3 is data/a in the first build, data/b in the second") == true)
    }

    @Test func fileOnlyInOneBuildIsNamedWithTheBuildItIsIn() async throws {
        let more = Self.base + [File(path: "etc/random-id", contents: "x")]
        let differences = try await compare([Self.base], [more])
        #expect(differences.contains { $0.file == "etc/random-id" && $0.detail == "only in the second build" })
    }

    @Test func layersArePairedByPositionAndOnlyTheChangedOneIsReported() async throws {
        let bottom = [File(path: "bin/sh", contents: "sh")]
        var top = Self.base
        top[0].contents = "changed\n"
        let differences = try await compare([bottom, Self.base], [bottom, top])
        let file = try #require(differences.first { $0.file == "etc/motd" }, "\(differences)")
        #expect(file.location.hasPrefix("layer 2 of 2 ("))
        #expect(!differences.contains { $0.location.hasPrefix("layer 1 ") })
    }

    @Test func gzippedArchivesAreComparedTheSameWay() async throws {
        var changed = Self.base
        changed[1].contents = "2\n"
        let differences = try await compare([Self.base], [changed], gzipped: true)
        #expect(differences.contains { $0.file == "etc/built-at" && $0.location.hasPrefix("layer 1 of 1 (") })
    }

    @Test func filesThatAreNotTarsAreComparedByDigest() async throws {
        try await GitFixtures.withTemporaryDirectory { folder in
            let a = folder.appendingPathComponent("a.txt"), b = folder.appendingPathComponent("b.txt")
            try Data("one".utf8).write(to: a)
            try Data("two".utf8).write(to: b)
            let (differences, total) = try await OutputComparison.compare(a.path, b.path)
            #expect(total == 1)
            #expect(differences.first?.detail.hasPrefix("contents differ (sha256:") == true)
            let same = try await OutputComparison.compare(a.path, a.path)
            #expect(same.total == 0)
        }
    }

    @Test func foldersAreWalkedAndTheirDifferingFilesNamed() async throws {
        try await GitFixtures.withTemporaryDirectory { folder in
            let a = folder.appendingPathComponent("a"), b = folder.appendingPathComponent("b")
            for root in [a, b] {
                try FileManager.default.createDirectory(at: root.appendingPathComponent("share"), withIntermediateDirectories: true)
                try Data("same".utf8).write(to: root.appendingPathComponent("share/same"))
            }
            try Data("1".utf8).write(to: a.appendingPathComponent("share/stamp"))
            try Data("2".utf8).write(to: b.appendingPathComponent("share/stamp"))
            let differences = try await OutputComparison.compare(a.path, b.path).differences
            #expect(differences.map(\.file) == ["share/stamp"])
        }
    }
}

/// A build's output is whatever its builder wrote: a hostile layer inside an image tarball ends
/// the comparison of that layer with a clear difference (its digest), never a crash or a loop.
@Suite struct HostileLayerComparisonTests {
    /// A docker-archive whose one layer is `layer` (any bytes), named by position as usual.
    static func archive(layer: [UInt8], in folder: URL, name: String) throws -> String {
        let manifest = #"[{"Config":"config.json","Layers":["l/layer.tar"]}]"#
        let tar = TarFixtures.entry(name: "l/layer.tar", contents: layer)
            + TarFixtures.entry(name: "config.json", contents: Array("{}".utf8))
            + TarFixtures.entry(name: "manifest.json", contents: Array(manifest.utf8)) + TarFixtures.endOfArchive
        let path = folder.appendingPathComponent(name).path
        try Data(tar).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test(arguments: [
        ("a negative size", TarFixtures.header(name: "x", sizeField: [0xff] + [UInt8](repeating: 0xff, count: 11))),
        ("a pax size near Int64.max", TarFixtures.pax([("size", "9223372036854775800")]) + TarFixtures.header(name: "x")),
        ("a truncated entry", TarFixtures.header(name: "x", size: 4096) + [UInt8](repeating: 1, count: 100)),
        ("a bad checksum", { var bytes = TarFixtures.entry(name: "x", contents: [1]); bytes[148] = UInt8(ascii: "9"); return bytes }()),
    ])
    func hostileLayerIsComparedByDigest(_ what: String, _ layer: [UInt8]) async throws {
        try await GitFixtures.withTemporaryDirectory { folder in
            let good = try Self.archive(layer: TarFixtures.entry(name: "x", contents: [1]) + TarFixtures.endOfArchive,
                                        in: folder, name: "good.tar")
            let bad = try Self.archive(layer: layer, in: folder, name: "bad.tar")
            let differences = try await OutputComparison.compare(good, bad).differences
            #expect(differences.contains { $0.location.hasPrefix("layer 1 of 1") && $0.detail.hasPrefix("digest sha256:") },
                    "\(what): \(differences)")
        }
    }
}
