import Foundation

/// A pipeline name a caller may not use: not a name, or not one of the served folder's.
public struct PipelineRefused: Error, Sendable, Equatable, CustomStringConvertible {
    /// The name asked for, as given.
    public let name: String
    /// Why, and what the caller may name instead. Never quotes a file's content.
    public let message: String

    public var description: String { message }
}

/// The pipelines a caller who is not the operator may name (an agent over MCP, a page of the
/// dashboard): the definitions in one served `pipelines/` folder, **by name only**.
///
/// The operator's CLI takes any definition file (`sutradhar run ./x.yaml`); a tool argument or a
/// URL must not: a path would let a caller load any file as a definition (whose own `git:` or
/// `path:` then escapes `--allow-source`) and read parts of it back in the error messages. So
/// a name is checked as a name (no `/`, no leading `.`), looked up only as `NAME.yaml` or
/// `NAME.yml` in the folder, and the file it finds must really be there (a symbolic link out
/// of the folder is refused).
public struct PipelineCatalog: Sendable {
    /// The longest pipeline name accepted.
    public static let maximumNameLength = 128

    /// The `pipelines/` folder served: the nearest at or above the folder given; nil if none.
    public let folder: URL?

    /// The catalog of the nearest `pipelines/` folder at or above `directory`.
    public init(servedFrom directory: URL) {
        var candidate = directory.standardizedFileURL
        var found: URL?
        while true {
            let pipelines = candidate.appendingPathComponent("pipelines")
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: pipelines.path, isDirectory: &isFolder), isFolder.boolValue {
                found = pipelines
                break
            }
            let parent = candidate.deletingLastPathComponent()
            if parent.path == candidate.path { break }
            candidate = parent
        }
        folder = found
    }

    /// The names of the folder's definitions (`NAME.yaml`, `NAME.yml`), sorted.
    public var names: [String] {
        guard let folder, let files = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return [] }
        return files.compactMap { file -> String? in
            guard let dot = file.lastIndex(of: "."), [".yaml", ".yml"].contains(String(file[dot...])) else { return nil }
            let name = String(file[..<dot])
            return Self.isName(name) ? name : nil
        }.uniquedSorted()
    }

    /// Whether `text` has the shape of a pipeline name: letters, digits, `-`, `_` and `.`, not
    /// starting with `.`, at most `maximumNameLength` characters.
    public static func isName(_ text: String) -> Bool {
        guard let first = text.first, first != ".", text.count <= maximumNameLength else { return false }
        return text.allSatisfy { $0.isLetter || $0.isNumber || "-_.".contains($0) }
    }

    /// The definition file of pipeline `name`.
    /// - Throws: `PipelineRefused` for a path or anything else that is not a name, a name with no
    ///   definition in the folder (listing those that are), or a definition file that leads
    ///   out of the folder. The message names the folder and the known pipelines, nothing read
    ///   from any file.
    public func path(of name: String) throws(PipelineRefused) -> String {
        let known = names
        let hint = known.isEmpty ? "" : "; known pipelines: \(known.joined(separator: ", "))"
        guard Self.isName(name) else {
            let shown = String(name.prefix(80))
            throw PipelineRefused(name: name, message: "'\(shown)' is not a pipeline name: only the name of a definition in the served pipelines/ folder is accepted (letters, digits, - _ .), never a path\(hint)")
        }
        guard let folder else {
            throw PipelineRefused(name: name, message: "no pipeline '\(name)': there is no pipelines/ folder where the server was started")
        }
        for suffix in [".yaml", ".yml"] {
            let file = folder.appendingPathComponent(name + suffix)
            guard FileManager.default.fileExists(atPath: file.path) else { continue }
            let real = file.resolvingSymlinksInPath().path
            let realFolder = folder.resolvingSymlinksInPath().path
            var isFolder: ObjCBool = false
            guard real.hasPrefix(realFolder + "/"), FileManager.default.fileExists(atPath: real, isDirectory: &isFolder), !isFolder.boolValue else {
                throw PipelineRefused(name: name, message: "pipeline '\(name)' refused: its definition file leads out of \(folder.path) (a symbolic link); only definitions inside the folder are served")
            }
            return file.path
        }
        throw PipelineRefused(name: name, message: "no pipeline '\(name)' in \(folder.path)\(hint)")
    }
}

extension Sequence where Element: Comparable & Hashable {
    fileprivate func uniquedSorted() -> [Element] { Array(Set(self)).sorted() }
}
