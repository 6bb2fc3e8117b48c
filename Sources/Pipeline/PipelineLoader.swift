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
        let definition = try parse(yaml: text, file: path, directory: url.deletingLastPathComponent(),
                                   implementedKinds: implementedKinds)
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
    ///
    /// When anything is wrong, the checks between stages (unknown or wrong-kind references,
    /// cycles, kinds outside `implementedKinds`) run too, on every stage that could be read at
    /// all, so that one broken stage does not hide the problems of the others. A definition
    /// read without problems gets those checks from `Planner.plan`.
    /// - Throws: `DefinitionError` with every problem found.
    public static func parse(yaml: String, file: String, directory: URL,
                             implementedKinds: Set<String>? = nil) throws(DefinitionError) -> PipelineDefinition {
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
        let (definition, outlines) = readDefinition(root, reader: reader, directory: directory)
        guard reader.diagnostics.isEmpty, let definition else {
            let graph = Planner.check(outlines, implementedKinds: implementedKinds).diagnostics
            throw DefinitionError(reader.diagnostics + graph)
        }
        return definition
    }

    private static func syntaxDiagnostic(_ error: any Error, file: String) -> Diagnostic {
        if let yamlError = error as? YamlError {
            switch yamlError {
            case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
                 .composer(_, let problem, let mark, _):
                let position = SourcePosition(file: file, line: mark.line, column: mark.column)
                if problem.hasPrefix("Maximum nesting level reached") {
                    // libyaml's own text names its C setter and ends with a stray ')'.
                    return Diagnostic(position, "YAML syntax: nested more than \(maximumNesting) levels deep; a pipeline definition needs a handful")
                }
                return Diagnostic(position, "YAML syntax: \(problem)")
            case .reader(let problem, let offset, _, let yaml):
                return readerDiagnostic(problem: problem, offset: offset, yaml: yaml, file: file)
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

    /// libyaml's nesting limit (its `MAX_NESTING_LEVEL`), named in the message when it is reached.
    static let maximumNesting = 1000

    /// A problem found while decoding the text, before any token: libyaml's offset for it is
    /// where its scanner stood (usually 0, having decoded the whole buffer ahead), so a character
    /// YAML does not allow is found again here and reported where it really is.
    private static func readerDiagnostic(problem: String, offset: Int?, yaml: String, file: String) -> Diagnostic {
        var line = 1, column = 1
        var previous: Unicode.Scalar?
        for scalar in yaml.unicodeScalars {
            if !isAllowedInYAML(scalar) {
                let hex = String(scalar.value, radix: 16, uppercase: true)
                let code = "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
                return Diagnostic(SourcePosition(file: file, line: line, column: column),
                                  "YAML: the definition contains a control character (\(code)) that YAML does not allow; remove it")
            }
            // Line breaks as libyaml counts them: LF, CR, and CR LF once (at its CR).
            switch scalar {
            case "\n" where previous == "\r": break
            case "\n", "\r": (line, column) = (line + 1, 1)
            default: column += 1
            }
            previous = scalar
        }
        return Diagnostic(SourcePosition(file: file, line: 1, column: 1), "YAML: \(problem) at character \(offset ?? 0)")
    }

    /// YAML 1.1's printable characters, the set libyaml's reader accepts.
    static func isAllowedInYAML(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09, 0x0A, 0x0D, 0x20...0x7E, 0x85, 0xA0...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: return true
        default: return false
        }
    }

    static let topLevelKeys = ["version", "name", "description", "source", "nix", "cache", "schedule", "nightly", "stages"]
    static let sourceKeys = ["git", "ref", "path"]
    static let nixKeys = ["options", "builders", "max-jobs", "substituters", "trusted-public-keys"]
    static let cacheKeys = ["max-size", "max-age", "nix-push", "nix-push-key", "nix-push-attestations"]
    static let stageKeys = ["needs", "timeout", "description"]
    static let nightlyKeys = ["reproduce"]

    private static func readDefinition(_ root: Node, reader: DefinitionReader,
                                       directory: URL) -> (PipelineDefinition?, [StageOutline]) {
        guard let top = reader.mapping(root, path: "", schema: []) else { return (nil, []) }
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
        var distribution = NixDistribution()
        if let nix = top.mapping("nix") {
            nix.rejectUnknownKeys(allowed: nixKeys)
            nixOptions = (nix.stringPairs("options") ?? []).map { NixOptionSpec(name: $0.name, value: $0.value) }
            distribution = readDistribution(nix)
        }
        var cache = CacheSettings()
        if let block = top.mapping("cache") {
            block.rejectUnknownKeys(allowed: cacheKeys)
            cache = CacheSettings(maxSize: block.size("max-size"), maxAge: block.duration("max-age"),
                                  nixPush: readNixPush(block))
        }
        let schedule = top.string("schedule")
        var nightly = NightlySettings()
        if let block = top.mapping("nightly") {
            block.rejectUnknownKeys(allowed: nightlyKeys)
            nightly.reproduce = block.bool("reproduce") ?? false
        }
        let description = top.string("description")
        let stagesBlock = top.mapping("stages", required: true)
        let (stages, outlines) = stagesBlock.map { readStages($0) } ?? ([], [])
        if let stagesBlock, stagesBlock.order.isEmpty {
            reader.report(top.value("stages"), "'stages' is empty; a pipeline needs at least one stage")
        }

        guard let name, let source else { return (nil, outlines) }
        var definition = PipelineDefinition(file: reader.file, directory: directory, version: version ?? 1, name: name,
                                            description: description, source: source, nixOptions: nixOptions,
                                            nixDistribution: distribution, cache: cache, schedule: schedule, stages: stages)
        definition.nightly = nightly
        return (definition, outlines)
    }

    private static func readSource(_ block: MappingReader, directory: URL) -> SourceSpec? {
        block.rejectUnknownKeys(allowed: sourceKeys)
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

    /// The stages that could be read, and an outline of every stage, broken or not, for the
    /// checks between stages.
    private static func readStages(_ block: MappingReader) -> ([StageDefinition], [StageOutline]) {
        let reader = block.reader
        var stages: [StageDefinition] = []
        var outlines: [StageOutline] = []
        for name in block.order {
            let keyNode = block.keyNode(name)
            let position = reader.position(of: keyNode)
            if !StageNames.isValid(name) {
                reader.report(keyNode, "stage name '\(name)' must be letters, digits, '-', '_' or '.'")
            }
            if name == checkoutStageName {
                reader.report(keyNode, "'\(checkoutStageName)' is the name of the implicit first step; call this stage something else")
            }
            guard let stage = reader.mapping(block.value(name)!, path: "stages.\(name)", schema: DefinitionSchema.stage) else {
                // It exists, so naming it is no second problem; its kind is unknown.
                outlines.append(StageOutline(name: name, position: position, kind: nil, references: []))
                continue
            }
            let kindKeys = stage.order.filter { StageKinds.reader(for: $0) != nil }
            for key in stage.order where !stageKeys.contains(key) && StageKinds.reader(for: key) == nil {
                reader.report(stage.keyNode(key), stage.unknownKeyMessage(key, in: "stage '\(name)'", allowed: stageKeys + StageKinds.names,
                    listing: "; a stage has one kind (\(StageKinds.names.joined(separator: ", "))) and may have \(stageKeys.joined(separator: ", "))"))
            }
            let needs = readNeeds(stage)
            let timeout = stage.duration("timeout")
            guard kindKeys.count == 1, let kind = kindKeys.first else {
                if kindKeys.isEmpty {
                    // An unknown key may be the kind, misspelt (and reported so); a key of
                    // another level is not, and leaves the stage without a kind.
                    let typo = stage.order.contains {
                        !stageKeys.contains($0) && DefinitionSchema.placement(of: $0, at: stage.schema, siblings: stage.order) == nil
                    }
                    if !typo {
                        reader.report(keyNode, "stage '\(name)' has no kind; give it one of: \(StageKinds.names.joined(separator: ", "))")
                    }
                } else {
                    reader.report(stage.keyNode(kindKeys[1]), "stage '\(name)' has more than one kind (\(kindKeys.joined(separator: ", "))); split it into stages")
                }
                outlines.append(StageOutline(name: name, position: position, kind: nil, references: needs))
                continue
            }
            let kindNode = stage.value(kind)!
            let schema = DefinitionSchema.stage + [kind]
            let body: MappingReader?
            if case .scalar = kindNode, kindNode.null != nil {
                // `nix-build:` with nothing under it takes every default.
                body = MappingReader(reader: reader, node: kindNode, path: "stages.\(name).\(kind)", schema: schema, fields: [:], order: [])
            } else {
                body = reader.mapping(kindNode, path: "stages.\(name).\(kind)", schema: schema)
            }
            // The references the kind block names are kept even if the rest of it fails.
            let referencesBefore = reader.references.count
            let spec = body.flatMap { StageKinds.reader(for: kind)!($0) }
            outlines.append(StageOutline(name: name, position: position, kind: kind,
                                         references: needs + reader.references[referencesBefore...]))
            if let spec {
                stages.append(StageDefinition(name: name, position: position, needs: needs, timeout: timeout, spec: spec))
            }
        }
        return (stages, outlines)
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

/// The rules a stage name follows (letters, digits, `-`, `_`, `.`; not starting with a punctuation mark).
public enum StageNames {
    /// Whether `name` is a valid stage name.
    public static func isValidName(_ name: String) -> Bool { isValid(name) }
    static func isValid(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.properties.isAlphabetic || ("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0) }
    }
}
