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

    /// - Parameter allowed: folders (`--allow-source PATH`), relative to `base`.
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
        guard allowedFolders.contains(where: { folder == $0 || folder.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }) else {
            throw SourceRefused(source: source, message: "source '\(source)' (\(folder)) refused: not under an allowed folder; \(hint)")
        }
        return folder
    }

    /// `path` made absolute against `base`, `.`/`..` removed and symbolic links followed.
    static func resolved(_ path: String, base: URL) -> String {
        let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : base.appendingPathComponent(path)
        return url.standardizedFileURL.resolvingSymlinksInPath().path
    }
}
