import Foundation

/// Hand-made tar bytes for tests of hostile image archives: headers whose every field a test
/// chooses (a negative size, a pax `size` near `Int64.max`), small docker-archives, and gzip
/// bombs that inflate to many GiB from a few MiB on disk.
public enum TarFixtures {
    /// A 512-byte ustar header with a valid checksum.
    ///
    /// - Parameters:
    ///   - sizeField: the 12 bytes of the size field, to write what no honest tar writes;
    ///     `size` as octal by default.
    ///   - type: the type flag (`0` file, `5` folder, `x` pax, `L` GNU long name).
    public static func header(name: String, size: Int64 = 0, type: Character = "0", sizeField: [UInt8]? = nil) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 512)
        put(Array(name.utf8.prefix(100)), at: 0, in: &header)
        put(Array("0000644\0".utf8), at: 100, in: &header)
        put(Array("0000000\0".utf8), at: 108, in: &header)
        put(Array("0000000\0".utf8), at: 116, in: &header)
        put(sizeField ?? octal(size, width: 12), at: 124, in: &header)
        put(Array("00000000001\0".utf8), at: 136, in: &header)
        header[156] = type.asciiValue!
        put(Array("ustar\0".utf8) + Array("00".utf8), at: 257, in: &header)
        setChecksum(&header, at: 0)
        return header
    }

    /// Recomputes the checksum of the header at `offset` in `bytes` (after a test changed a field).
    public static func setChecksum(_ bytes: inout [UInt8], at offset: Int) {
        for index in (offset + 148)..<(offset + 156) { bytes[index] = UInt8(ascii: " ") }
        let sum = bytes[offset..<(offset + 512)].reduce(0) { $0 + Int64($1) }
        put(octal(sum, width: 7) + [UInt8(ascii: " ")], at: offset + 148, in: &bytes)
    }

    /// `value` as zero-padded octal digits and a NUL, `width` bytes in all.
    public static func octal(_ value: Int64, width: Int) -> [UInt8] {
        let digits = String(value, radix: 8)
        return Array((String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits).utf8) + [0]
    }

    /// A file entry: its header, its contents and the padding to the next 512-byte block.
    public static func entry(name: String, contents: [UInt8], type: Character = "0") -> [UInt8] {
        header(name: name, size: Int64(contents.count), type: type) + contents + padding(contents.count)
    }

    /// A pax extended header (type `x`) holding `records` (`key`, `value`), each written as
    /// `LENGTH key=value\n` with the length that counts itself.
    public static func pax(_ records: [(String, String)]) -> [UInt8] {
        let data = records.flatMap { paxRecord($0.0, $0.1) }
        return header(name: "PaxHeaders/entry", size: Int64(data.count), type: "x") + data + padding(data.count)
    }

    /// One `LENGTH key=value\n` record with its true length.
    public static func paxRecord(_ key: String, _ value: String) -> [UInt8] {
        let body = " \(key)=\(value)\n"
        var length = body.utf8.count + 1
        while String(length).count + body.utf8.count != length { length += 1 }
        return Array("\(length)\(body)".utf8)
    }

    /// Zeros up to the next multiple of 512 after `count` bytes.
    public static func padding(_ count: Int) -> [UInt8] {
        [UInt8](repeating: 0, count: (512 - count % 512) % 512)
    }

    /// The two zero blocks that end a tar.
    public static let endOfArchive = [UInt8](repeating: 0, count: 1024)

    /// A small docker-archive, built in memory: `manifest.json` naming `config.json` and one
    /// layer, all valid. Returns the tar and the image ID a reader must find (`sha256:` + the
    /// SHA-256 of the config, from coreutils' `sha256sum`).
    public static func smallDockerArchive(tag: String = "fixture:small", in folder: String) throws -> (tar: [UInt8], imageID: String) {
        let config = Array(#"{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/true"]},"rootfs":{"type":"layers","diff_ids":[]}}"#.utf8)
        let configPath = folder + "/small-config.json"
        try Data(config).write(to: URL(fileURLWithPath: configPath))
        let hash = try DockerTestSupport.sha256(ofFileAt: configPath)
        let layer = entry(name: "hello.txt", contents: Array("hello\n".utf8)) + endOfArchive
        let manifest = Array(#"[{"Config":"\#(hash).json","RepoTags":["\#(tag)"],"Layers":["layer/layer.tar"]}]"#.utf8)
        let tar = header(name: "layer/", type: "5")
            + entry(name: "layer/layer.tar", contents: layer)
            + entry(name: "\(hash).json", contents: config)
            + entry(name: "manifest.json", contents: manifest)
            + endOfArchive
        return (tar, "sha256:" + hash)
    }

    /// Writes a gzip bomb at `path`: a tar whose `layer.tar` (declared in a pax `size` record)
    /// is `gibibytes` GiB of zeros, then a valid manifest and config. On disk it is about 1 MiB
    /// per GiB: one gzip member of 64 MiB of zeros, written again and again (concatenated gzip
    /// members are one stream), so no GiB is ever written or compressed.
    ///
    /// Reading it to the end means inflating all of it: several seconds per 10 GiB.
    public static func writeGzipBomb(at path: String, gibibytes: Int) throws {
        let folder = (path as NSString).deletingLastPathComponent
        let size = Int64(gibibytes) << 30
        let head = pax([("size", String(size))]) + header(name: "layer.tar", size: 0)
        let small = try smallDockerArchive(in: folder).tar
        let tail = TarFixtures.padding(Int(size % 512)) + small
        let zeros = try gzip([UInt8](repeating: 0, count: 64 << 20), in: folder)
        let headMember = try gzip(head, in: folder)
        let tailMember = try gzip(tail, in: folder)
        guard FileManager.default.createFile(atPath: path, contents: Data(headMember)),
              let handle = FileHandle(forWritingAtPath: path)
        else {
            throw DockerTestSupportError(message: "cannot write the gzip bomb at \(path)")
        }
        defer { try? handle.close() }
        try handle.seekToEnd()
        let zerosData = Data(zeros)
        for _ in 0..<(size / (64 << 20)) { try handle.write(contentsOf: zerosData) }
        try handle.write(contentsOf: Data(tailMember))
    }

    /// `bytes` compressed by `gzip -n` (an implementation independent of the code under test).
    public static func gzip(_ bytes: [UInt8], in folder: String) throws -> [UInt8] {
        let input = folder + "/gzip-input-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: input) }
        try Data(bytes).write(to: URL(fileURLWithPath: input))
        try DockerTestSupport.run("/usr/bin/gzip", ["-n", "-9", "-f", input])
        defer { try? FileManager.default.removeItem(atPath: input + ".gz") }
        return try Array(Data(contentsOf: URL(fileURLWithPath: input + ".gz")))
    }

    private static func put(_ field: [UInt8], at offset: Int, in bytes: inout [UInt8]) {
        for (index, byte) in field.enumerated() { bytes[offset + index] = byte }
    }
}
