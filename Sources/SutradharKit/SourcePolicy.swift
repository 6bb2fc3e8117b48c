import Foundation
import Pipeline

/// A `source` a front end refused: outside every folder the operator allowed.
public struct SourceRefused: Error, Sendable, Equatable, CustomStringConvertible {
    /// The source asked for, as given.
    public let source: String
    /// Why, and what the operator can do about it.
    public let message: String

    public var description: String { message }
}

/// Which `source` overrides a front end driven by someone else (an agent over MCP) may build:
/// only folders under the paths the operator allowed when starting it. None by default, so
/// that a prompt-injected caller cannot make Sutradhar fetch and build arbitrary code; then only
/// the definitions' own sources are built.
public struct SourcePolicy: Sendable, Equatable {
    /// The allowed folders, resolved (absolute, symbolic links followed).
    public let allowedFolders: [String]

    /// - Parameters:
    ///   - allowed: folders (`--allow-source PATH`), relative to `base`.
    ///   - base: the folder relative paths start from (the current one by default).
    public init(allowed: [String], base: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)) {
        allowedFolders = allowed.map { Self.resolved($0, base: base) }
    }

    /// The folder `source` names, resolved, if it may be built.
    /// - Throws: `SourceRefused` for a URL (never allowed: the caller would pick what is fetched),
    ///   or a path outside every allowed folder (symbolic links are followed first, so a link
    ///   inside an allowed folder pointing out of it is refused).
    public func check(_ source: String, base: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        throws(SourceRefused) -> String {
        let hint = allowedFolders.isEmpty
            ? "no source folder is allowed: the server was started without --allow-source, so only the definitions' own sources are built"
            : "allowed: \(allowedFolders.joined(separator: ", ")) (the operator's --allow-source)"
        if SourceSpec.isURL(source) {
            throw SourceRefused(source: source, message: "source '\(source)' refused: a repository URL is never accepted from a tool call; \(hint)")
        }
        let folder = Self.resolved(source, base: base)
        guard isAllowed(folder) else {
            throw SourceRefused(source: source, message: "source '\(source)' (\(folder)) refused: not under an allowed folder; \(hint)")
        }
        // The folder may only borrow a repository: libgit2 follows a `.git` file's `gitdir:`, a
        // worktree's `commondir` and `objects/info/alternates` wherever they point. Each of those
        // must be allowed too, or an allowed folder would open a repository from anywhere.
        for place in Self.repositoryPlaces(of: folder) where !isAllowed(place.path) {
            throw SourceRefused(source: source, message: "source '\(source)' refused: its repository reaches \(place.path) through \(place.through), which is not under an allowed folder; \(hint)")
        }
        return folder
    }

    private func isAllowed(_ folder: String) -> Bool {
        allowedFolders.contains { folder == $0 || folder.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }
    }

    /// The most links followed from one folder (gitdir, commondir, alternates of alternates).
    static let maximumRepositoryLinks = 16

    /// Every folder the repository at `folder` reads from, resolved: its git folder (`.git`, or
    /// where a `.git` file's `gitdir:` points), that folder's `commondir`, and the object stores
    /// listed in `objects/info/alternates` (recursively), each with the file that pointed there.
    static func repositoryPlaces(of folder: String) -> [(path: String, through: String)] {
        var places: [(path: String, through: String)] = []
        var gitFolders: [String] = []
        let dotGit = folder + "/.git"
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: dotGit, isDirectory: &isFolder) {
            if isFolder.boolValue {
                gitFolders.append(resolved(dotGit, base: URL(fileURLWithPath: folder)))
            } else if let target = firstLine(of: dotGit, prefix: "gitdir:") {
                let path = resolved(target, base: URL(fileURLWithPath: folder))
                places.append((path, "\(dotGit) (gitdir)"))
                gitFolders.append(path)
            }
        } else {
            gitFolders.append(folder)  // a bare repository, or a folder without one
        }
        var objectStores: [String] = []
        for gitFolder in gitFolders {
            objectStores.append(gitFolder + "/objects")
            if let common = firstLine(of: gitFolder + "/commondir", prefix: "") {
                let path = resolved(common, base: URL(fileURLWithPath: gitFolder))
                places.append((path, "\(gitFolder)/commondir"))
                objectStores.append(path + "/objects")
            }
        }
        var seen = Set<String>()
        while let store = objectStores.popLast(), seen.count < maximumRepositoryLinks {
            guard seen.insert(store).inserted else { continue }
            let list = store + "/info/alternates"
            guard let text = try? String(contentsOfFile: list, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n").prefix(maximumRepositoryLinks) {
                let entry = line.trimmingCharacters(in: .whitespaces)
                guard !entry.isEmpty, !entry.hasPrefix("#") else { continue }
                let path = resolved(entry, base: URL(fileURLWithPath: store))
                places.append((path, list))
                objectStores.append(path)
            }
        }
        return places
    }

    /// The first line of `file` after `prefix`, trimmed; nil when the file is missing or does not start so.
    private static func firstLine(of file: String, prefix: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: file) else { return nil }
        defer { try? handle.close() }
        // A pointer file is one short line; a huge one is not a pointer.
        let data = (try? handle.read(upToCount: 4096)) ?? Data()
        guard let line = String(decoding: data, as: UTF8.self).split(separator: "\n").first, line.hasPrefix(prefix) else { return nil }
        let value = line.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces)
        return value.isEmpty ? nil : value
    }

    /// `path` made absolute against `base`, `.`/`..` removed and symbolic links followed.
    static func resolved(_ path: String, base: URL) -> String {
        let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : base.appendingPathComponent(path)
        return url.standardizedFileURL.resolvingSymlinksInPath().path
    }
}
