import Crypto
import Foundation

/// The persistent cache under one root folder:
///
/// ```
/// ROOT/git/mirrors/NAME-HASH.git     bare mirrors of sources (GitMirror)
/// ROOT/checkouts/TREE/               a commit's tree, written once, named by its tree ID
/// ROOT/nix/roots/KEY                 out-links of nix builds: GC roots while the entry lives
/// ROOT/entries/KIND/KEY.json         one completed stage result per key
/// ROOT/locks/NAME.lock               flock(2) files: per key, per mirror
/// ROOT/runs/RUN/                     per-run records and logs
/// ```
/// Every entry is written under a temporary name, fsynced and renamed, so a reader sees a whole
/// entry or none; a crash at any moment leaves nothing a later run trusts.
public struct BuildCache: Sendable {
    /// The cache root.
    public let root: URL

    /// Opens (creating if needed) the cache at `root`.
    /// - Throws: `CacheError` if the folders cannot be created (permissions, full disk).
    public init(root: URL) throws(CacheError) {
        self.root = root.standardizedFileURL
        for area in CacheArea.allCases {
            let folder = self.root.appendingPathComponent(area.rawValue)
            do {
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            } catch {
                throw CacheError(.io, "cannot create the cache folder \(folder.path): \(error.localizedDescription); "
                    + "choose a writable cache with --cache-dir or $SUTRADHAR_CACHE", root: self.root.path)
            }
        }
    }

    /// The folder of one part of the cache.
    public func folder(_ area: CacheArea) -> URL { root.appendingPathComponent(area.rawValue) }

    /// Where the completed entry of `key` for stage kind `kind` lives.
    func entryURL(kind: String, key: CacheKey) -> URL {
        folder(.entries).appendingPathComponent(kind).appendingPathComponent("\(key.hex).json")
    }

    /// The entry for `key`, if one was completed; an unreadable or malformed entry is treated
    /// as absent (and removed), never trusted.
    public func entry(kind: String, key: CacheKey) -> CacheEntry? {
        let url = entryURL(kind: kind, key: key)
        guard let data = try? Data(contentsOf: url) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        guard let entry = try? decoder.decode(CacheEntry.self, from: data), entry.key == key.hex, entry.kind == kind else {
            try? FileManager.default.removeItem(at: url)
            return nil
        }
        return entry
    }

    /// Records a completed stage result: written to a temporary file, fsynced, renamed into
    /// place, and the folder fsynced, so it is visible only when complete.
    /// - Throws: `CacheError` naming the cache root (e.g. a full disk); no partial entry remains.
    public func store(kind: String, key: CacheKey, pipeline: String, outputs: [String: String]) throws(CacheError) {
        let entry = CacheEntry(key: key.hex, kind: kind, pipeline: pipeline, outputs: outputs, created: Date())
        let url = entryURL(kind: kind, key: key)
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            try AtomicFile.write(try encoder.encode(entry), to: url)
        } catch {
            throw CacheError(.io, "cannot write a cache entry under \(root.path): \(error.localizedDescription); "
                + "free space there (or run 'sutradhar cache gc') and run again", root: root.path)
        }
    }

    /// Forgets an entry (e.g. one whose store path was garbage-collected).
    public func remove(kind: String, key: CacheKey) {
        try? FileManager.default.removeItem(at: entryURL(kind: kind, key: key))
    }
}

/// The parts of the cache root.
public enum CacheArea: String, CaseIterable, Sendable {
    case mirrors = "git/mirrors"
    case checkouts
    case nixRoots = "nix/roots"
    case entries
    case locks
    case runs
}

/// A cache key: the SHA-256 of everything that determines a stage's result.
public struct CacheKey: Sendable, Hashable, CustomStringConvertible {
    /// 64 lowercase hex digits.
    public let hex: String

    /// The key of these parts, each length-prefixed so that no two lists collide.
    public init(_ parts: [String]) {
        var hasher = SHA256()
        for part in parts {
            let bytes = Array(part.utf8)
            hasher.update(data: Array("\(bytes.count):".utf8))
            hasher.update(data: bytes)
        }
        hex = hasher.finalize().map { byte in
            let text = String(byte, radix: 16)
            return byte < 16 ? "0" + text : text
        }.joined()
    }

    /// The first 16 hex digits, enough to name files.
    public var short: String { String(hex.prefix(16)) }
    public var description: String { hex }
}

/// One completed stage result.
public struct CacheEntry: Codable, Sendable {
    public let key: String
    public let kind: String
    public let pipeline: String
    public let outputs: [String: String]
    public let created: Date
}

/// A cache operation that failed, naming the cache root and what to do.
public struct CacheError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure.
    public enum Code: String, Sendable { case io, lockFailed }
    public let code: Code
    public let message: String
    public let root: String

    init(_ code: Code, _ message: String, root: String) {
        self.code = code
        self.message = message
        self.root = root
    }

    public var description: String { message }
}
