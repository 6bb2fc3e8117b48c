import Foundation

/// The `FROM` lines of a Dockerfile: which images a build starts from (to check they are in the
/// daemon, and to key a cache on their IDs) and rewriting them to pin an image ID.
public struct Dockerfile: Sendable {
    /// One `FROM` instruction.
    public struct From: Sendable, Equatable {
        /// The line's index among the file's logical lines.
        let line: Int
        /// The image as written (`$VAR` and `${VAR}` expanded from ARGs before the first FROM).
        public let image: String
        /// Its `AS name`, if any.
        public let alias: String?
    }

    /// The instructions' text, continuation lines joined.
    private let lines: [String]
    /// Every `FROM`, in order.
    public let froms: [From]

    /// Parses `text`; `buildArgs` override the defaults of `ARG`s declared before the first `FROM`.
    public init(_ text: String, buildArgs: [String: String] = [:]) {
        var lines: [String] = []
        var current = ""
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            let trimmed = raw.trimmingCharacters(in: .whitespaces)
            if current.isEmpty && trimmed.hasPrefix("#") { lines.append(String(raw)); continue }
            if trimmed.hasSuffix("\\") {
                current += trimmed.dropLast() + " "
                continue
            }
            lines.append(current + raw)
            current = ""
        }
        if !current.isEmpty { lines.append(current) }
        self.lines = lines

        var arguments: [String: String] = [:]
        var froms: [From] = []
        for (index, line) in lines.enumerated() {
            let words = line.split(whereSeparator: \.isWhitespace).map(String.init)
            guard let instruction = words.first?.uppercased() else { continue }
            if instruction == "ARG", froms.isEmpty, words.count >= 2 {
                let declaration = words[1]
                let (name, value) = declaration.firstIndex(of: "=").map {
                    (String(declaration[..<$0]), String(declaration[declaration.index(after: $0)...]).trimmingCharacters(in: CharacterSet(charactersIn: "\"'")))
                } ?? (declaration, "")
                arguments[name] = buildArgs[name] ?? value
            }
            guard instruction == "FROM" else { continue }
            let operands = words.dropFirst().filter { !$0.hasPrefix("--") }
            guard let image = operands.first else { continue }
            let alias = operands.count >= 3 && operands[operands.startIndex + 1].uppercased() == "AS" ? operands[operands.startIndex + 2] : nil
            froms.append(From(line: index, image: Self.expand(image, arguments), alias: alias))
        }
        self.froms = froms
    }

    /// The images the build starts from that must be in the daemon: not `scratch`, not an earlier
    /// stage's alias; each once, in order.
    public var baseImages: [String] {
        var aliases: Set<String> = []
        var images: [String] = []
        for from in froms {
            // An image left empty by an ARG without a value is the daemon's to report.
            if !from.image.isEmpty, from.image.lowercased() != "scratch", !aliases.contains(from.image.lowercased()), !images.contains(from.image) {
                images.append(from.image)
            }
            if let alias = from.alias { aliases.insert(alias.lowercased()) }
        }
        return images
    }

    /// The file with every `FROM` naming one of `names` pointing at `image` instead (its `AS`
    /// and flags kept).
    public func replacingBases(_ names: Set<String>, with image: String) -> String {
        var lines = self.lines
        for from in froms where names.contains(from.image) {
            let words = lines[from.line].split(whereSeparator: \.isWhitespace).map(String.init)
            var replaced = false
            lines[from.line] = words.map { word in
                guard !replaced, word.uppercased() != "FROM", !word.hasPrefix("--") else { return word }
                replaced = true
                return image
            }.joined(separator: " ")
        }
        return lines.joined(separator: "\n")
    }

    /// `$NAME` and `${NAME}` replaced by their values (unknown ones by nothing, as Docker does).
    static func expand(_ text: String, _ arguments: [String: String]) -> String {
        guard text.contains("$") else { return text }
        var result = ""
        var index = text.startIndex
        while index < text.endIndex {
            guard text[index] == "$" else { result.append(text[index]); index = text.index(after: index); continue }
            var cursor = text.index(after: index)
            let braced = cursor < text.endIndex && text[cursor] == "{"
            if braced { cursor = text.index(after: cursor) }
            let start = cursor
            while cursor < text.endIndex, text[cursor].isLetter || text[cursor].isNumber || text[cursor] == "_" { cursor = text.index(after: cursor) }
            let name = String(text[start..<cursor])
            if braced, cursor < text.endIndex, text[cursor] == "}" { cursor = text.index(after: cursor) }
            result += arguments[name] ?? ""
            index = cursor
        }
        return result
    }
}
