import Foundation
import Yams

/// Reads pipeline definitions: bounded in size and in nodes (a billion-laughs alias bomb or a
/// huge file fails fast), every problem collected with its position, then planned.
public enum PipelineLoader {
    /// Larger definition files are refused before parsing.
    public static let maximumFileSize = 1 << 20
    /// Larger node trees (after expanding aliases) are refused before reading them.
    public static let maximumNodes = 20_000
    /// The name of the implicit first step that fetches and checks the source out.
    public static let checkoutStageName = "checkout"

    /// Reads, validates and plans the definition at `path`.
    ///
    /// - Parameter implementedKinds: the stage kinds this build can run; a definition using
    ///   another is refused at validation. nil accepts every kind the definition language knows.
    /// - Throws: `DefinitionError` listing every problem (a file that cannot be read is one
    ///   problem at 1:1).
    public static func load(path: String, implementedKinds: Set<String>? = nil) throws(DefinitionError) -> Plan {
        let url = URL(fileURLWithPath: path)
        let text = try readBounded(path: path)
        let definition = try parse(yaml: text, file: path, directory: url.deletingLastPathComponent())
        return try Planner.plan(definition, implementedKinds: implementedKinds)
    }

    static func readBounded(path: String) throws(DefinitionError) -> String {
        let start = SourcePosition(file: path, line: 1, column: 1)
        guard let handle = FileHandle(forReadingAtPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot be read (check its permissions)" : "does not exist"
            throw DefinitionError([Diagnostic(start, "the definition file \(reason)")])
        }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: maximumFileSize + 1)) ?? Data()
        guard data.count <= maximumFileSize else {
            throw DefinitionError([Diagnostic(start, "the definition is larger than \(ByteSize(bytes: Int64(maximumFileSize))); a pipeline definition is a few kilobytes")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw DefinitionError([Diagnostic(start, "the definition is not UTF-8 text")])
        }
        return text
    }

    /// Parses and checks a definition's text (no planning). `directory` resolves relative paths.
    /// - Throws: `DefinitionError` with every problem found.
    public static func parse(yaml: String, file: String, directory: URL) throws(DefinitionError) -> PipelineDefinition {
        let reader = DefinitionReader(file: file)
        // Counted on libyaml's events before composing: Yams hashes every mapping key while
        // composing, so a key aliasing an exponential tree would hang before a count on the tree.
        if let mark = ExpansionBudget.firstExcess(in: yaml, limit: maximumNodes) {
            throw DefinitionError([Diagnostic(SourcePosition(file: file, line: mark.line, column: mark.column),
                "the definition expands to more than \(maximumNodes) YAML nodes (an alias bomb?); refusing to read it")])
        }
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: yaml) else {
                throw DefinitionError([Diagnostic(reader.position(of: nil), "the definition is empty; start with 'version: 1'")])
            }
            root = node
        } catch let error as DefinitionError {
            throw error
        } catch {
            throw DefinitionError([syntaxDiagnostic(error, file: file)])
        }
        let definition = readDefinition(root, reader: reader, directory: directory)
        guard reader.diagnostics.isEmpty, let definition else {
            throw DefinitionError(reader.diagnostics)
        }
        return definition
    }

    private static func syntaxDiagnostic(_ error: any Error, file: String) -> Diagnostic {
        if let yamlError = error as? YamlError {
            switch yamlError {
            case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
                 .composer(_, let problem, let mark, _):
                return Diagnostic(SourcePosition(file: file, line: mark.line, column: mark.column), "YAML syntax: \(problem)")
            case .reader(let problem, _, let offset, _):
                return Diagnostic(SourcePosition(file: file, line: 1, column: 1), "YAML: \(problem) at byte \(offset)")
            case .duplicatedKeysInMapping(let duplicates, let context):
                // Yams refuses duplicate keys itself; its mark is the key's first occurrence.
                let keys = duplicates.map { "'\($0)'" }.joined(separator: ", ")
                return Diagnostic(SourcePosition(file: file, line: context.mark.line, column: context.mark.column),
                                  "\(keys) is given more than once in the same mapping; keep one")
            default:
                break
            }
        }
        return Diagnostic(SourcePosition(file: file, line: 1, column: 1), "YAML: \(error)")
    }

    private static let topLevelKeys = ["version", "name", "description", "source", "nix", "cache", "schedule", "stages"]
    private static let stageKeys = ["needs", "timeout", "description"]

    private static func readDefinition(_ root: Node, reader: DefinitionReader, directory: URL) -> PipelineDefinition? {
        guard let top = reader.mapping(root, path: "") else { return nil }
        top.rejectUnknownKeys(allowed: topLevelKeys)

        let version = top.int("version", in: 0...Int.max)
        if version == nil, !top.has("version") {
            top.reportMissing("version", "; add 'version: 1'")
        } else if let version, version != 1 {
            reader.report(top.value("version"), "'version' \(version) is not known to this Sutradhar; it reads version 1")
        }
        let name = top.string("name", required: true)
        if let name, !StageNames.isValid(name) {
            reader.report(top.value("name"), "'name' '\(name)' must be letters, digits, '-', '_' or '.'")
        }
        let source = top.mapping("source", required: true).flatMap { readSource($0, directory: directory) }
        var nixOptions: [NixOptionSpec] = []
        if let nix = top.mapping("nix") {
            nix.rejectUnknownKeys(allowed: ["options"])
            nixOptions = (nix.stringPairs("options") ?? []).map { NixOptionSpec(name: $0.name, value: $0.value) }
        }
        var cache = CacheSettings()
        if let block = top.mapping("cache") {
            block.rejectUnknownKeys(allowed: ["max-size", "max-age"])
            cache = CacheSettings(maxSize: block.size("max-size"), maxAge: block.duration("max-age"))
        }
        let schedule = top.string("schedule")
        let description = top.string("description")
        let stagesBlock = top.mapping("stages", required: true)
        let stages = stagesBlock.map { readStages($0) } ?? []
        if let stagesBlock, stagesBlock.order.isEmpty {
            reader.report(top.value("stages"), "'stages' is empty; a pipeline needs at least one stage")
        }

        guard let name, let source else { return nil }
        return PipelineDefinition(file: reader.file, directory: directory, version: version ?? 1, name: name,
                                  description: description, source: source, nixOptions: nixOptions,
                                  cache: cache, schedule: schedule, stages: stages)
    }

    private static func readSource(_ block: MappingReader, directory: URL) -> SourceSpec? {
        block.rejectUnknownKeys(allowed: ["git", "path", "ref"])
        let position = block.reader.position(of: block.node)
        let ref = block.string("ref")
        switch (block.string("git"), block.string("path")) {
        case (.some, .some):
            block.reader.report(block.keyNode("path"), "'source' has both 'git' and 'path'; keep one")
            return nil
        case (nil, nil):
            if !block.has("git") && !block.has("path") {
                block.reportMissing("git", " (a repository URL or path) or 'path' (a folder built as it is)")
            }
            return nil
        case (let git?, nil):
            let location = SourceSpec.isURL(git) ? git : absolutePath(git, relativeTo: directory)
            return SourceSpec(location: .git(location), ref: ref, position: position)
        case (nil, let path?):
            if ref != nil {
                block.reader.report(block.keyNode("ref"), "'source.ref' has no meaning with 'path' (the folder is built as it is); remove it or use 'git'")
            }
            return SourceSpec(location: .path(absolutePath(path, relativeTo: directory)), ref: nil, position: position)
        }
    }

    /// Resolves `~` and relative paths (against the definition's folder) to a clean absolute path.
    static func absolutePath(_ path: String, relativeTo directory: URL) -> String {
        if path.hasPrefix("~/") || path == "~" {
            let home = FileManager.default.homeDirectoryForCurrentUser.path
            return URL(fileURLWithPath: home).appendingPathComponent(String(path.dropFirst(2))).standardizedFileURL.path
        }
        if path.hasPrefix("/") { return URL(fileURLWithPath: path).standardizedFileURL.path }
        return directory.appendingPathComponent(path).standardizedFileURL.path
    }

    private static func readStages(_ block: MappingReader) -> [StageDefinition] {
        let reader = block.reader
        return block.order.compactMap { name -> StageDefinition? in
            let keyNode = block.keyNode(name)
            if !StageNames.isValid(name) {
                reader.report(keyNode, "stage name '\(name)' must be letters, digits, '-', '_' or '.'")
            }
            if name == checkoutStageName {
                reader.report(keyNode, "'\(checkoutStageName)' is the name of the implicit first step; call this stage something else")
            }
            guard let stage = reader.mapping(block.value(name)!, path: "stages.\(name)") else { return nil }
            let kindKeys = stage.order.filter { StageKinds.reader(for: $0) != nil }
            for key in stage.order where !stageKeys.contains(key) && StageKinds.reader(for: key) == nil {
                let known = stageKeys + StageKinds.names
                reader.report(stage.keyNode(key), "unknown key '\(key)' in stage '\(name)'" + DidYouMean.hint(for: key, among: known)
                    + (DidYouMean.suggestion(for: key, among: known) == nil
                        ? "; a stage has one kind (\(StageKinds.names.joined(separator: ", "))) and may have needs, timeout" : ""))
            }
            let needs = readNeeds(stage)
            let timeout = stage.duration("timeout")
            guard kindKeys.count == 1, let kind = kindKeys.first else {
                if kindKeys.isEmpty {
                    let typo = stage.order.contains { !stageKeys.contains($0) }
                    if !typo {
                        reader.report(keyNode, "stage '\(name)' has no kind; give it one of: \(StageKinds.names.joined(separator: ", "))")
                    }
                } else {
                    reader.report(stage.keyNode(kindKeys[1]), "stage '\(name)' has more than one kind (\(kindKeys.joined(separator: ", "))); split it into stages")
                }
                return nil
            }
            let kindNode = stage.value(kind)!
            let body: MappingReader?
            if case .scalar = kindNode, kindNode.null != nil {
                // `nix-build:` with nothing under it takes every default.
                body = MappingReader(reader: reader, node: kindNode, path: "stages.\(name).\(kind)", fields: [:], order: [])
            } else {
                body = reader.mapping(kindNode, path: "stages.\(name).\(kind)")
            }
            guard let body, let spec = StageKinds.reader(for: kind)!(body) else { return nil }
            return StageDefinition(name: name, position: reader.position(of: keyNode), needs: needs, timeout: timeout, spec: spec)
        }
    }

    private static func readNeeds(_ stage: MappingReader) -> [StageReference] {
        guard let node = stage.value("needs") else { return [] }
        let field = stage.fieldPath("needs")
        let items: [Node]
        switch node {
        case .sequence(let sequence): items = Array(sequence)
        case .scalar: items = [node]  // `needs: image` is read as `needs: [image]`
        default:
            stage.reader.report(node, "'\(field)' must be a list of stage names, e.g. [image]")
            return []
        }
        return items.compactMap { item in
            stage.reader.string(item, path: field).map {
                StageReference(name: $0, field: field, position: stage.reader.position(of: item))
            }
        }
    }
}

enum StageNames {
    static func isValid(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.properties.isAlphabetic || ("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0) }
    }
}
