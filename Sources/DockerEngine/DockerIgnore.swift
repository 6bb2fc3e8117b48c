import Foundation

/// The patterns of a `.dockerignore`, matched with Docker's rules (moby/patternmatcher): `*` and
/// `?` never cross a `/`, `**` matches any number of folders (none included), `!` re-includes,
/// the last matching pattern wins, a leading or trailing `/` is ignored, and a pattern that
/// matches a folder excludes everything in it.
public struct DockerIgnore: Sendable {
    struct Pattern: @unchecked Sendable {  // NSRegularExpression is immutable once made
        let text: String
        let exclusion: Bool
        let regex: NSRegularExpression
    }

    let patterns: [Pattern]

    /// Whether any pattern is a `!` exception (then an excluded folder must still be walked).
    public var hasExceptions: Bool { patterns.contains { !$0.exclusion } }

    /// No patterns: everything is sent.
    public static let none = DockerIgnore(patterns: [])

    private init(patterns: [Pattern]) {
        self.patterns = patterns
    }

    /// Reads the text of a `.dockerignore`: one pattern a line, `#` comments, blank lines skipped.
    public init(_ text: String) {
        var patterns: [Pattern] = []
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            var line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            var exclusion = true
            if line.hasPrefix("!") {
                exclusion = false
                line = String(line.dropFirst()).trimmingCharacters(in: .whitespaces)
            }
            let cleaned = Self.clean(line)
            if cleaned.isEmpty { continue }
            guard let regex = try? NSRegularExpression(pattern: Self.regex(for: cleaned)) else { continue }
            patterns.append(Pattern(text: cleaned, exclusion: exclusion, regex: regex))
        }
        self.init(patterns: patterns)
    }

    /// Whether `path` (relative to the context, `/`-separated, no leading `/`) is left out: the
    /// last pattern matching it or one of its parent folders decides.
    public func excludes(_ path: String) -> Bool {
        var excluded = false
        let parents = Self.selfAndParents(of: path)
        // Only a pattern that would change the answer needs matching.
        for pattern in patterns where pattern.exclusion != excluded {
            if parents.contains(where: { pattern.matches($0) }) {
                excluded = pattern.exclusion
            }
        }
        return excluded
    }

    /// `a/b/c` → `a/b/c`, `a/b`, `a`.
    private static func selfAndParents(of path: String) -> [String] {
        var result = [path]
        var current = Substring(path)
        while let slash = current.lastIndex(of: "/") {
            current = current[..<slash]
            result.append(String(current))
        }
        return result
    }

    /// Go's `filepath.Clean` as Docker applies it, then the leading `/` dropped: `./a//b/` → `a/b`.
    static func clean(_ pattern: String) -> String {
        var parts: [Substring] = []
        for part in pattern.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == "..", let last = parts.last, last != ".." { parts.removeLast(); continue }
            if part == "..", parts.isEmpty, pattern.hasPrefix("/") { continue }
            parts.append(part)
        }
        return parts.joined(separator: "/")
    }

    /// The anchored regular expression Docker compiles a pattern to.
    static func regex(for pattern: String) -> String {
        var result = "^"
        let characters = Array(pattern)
        var index = 0
        while index < characters.count {
            let character = characters[index]
            switch character {
            case "*":
                if index + 1 < characters.count, characters[index + 1] == "*" {
                    index += 1
                    // `**/` is read as `**`.
                    if index + 1 < characters.count, characters[index + 1] == "/" { index += 1 }
                    // `**` at the end matches everything; elsewhere any number of folders.
                    result += index + 1 >= characters.count ? ".*" : "(.*/)?"
                } else {
                    result += "[^/]*"
                }
            case "?":
                result += "[^/]"
            case "\\":
                index += 1
                if index < characters.count { result += NSRegularExpression.escapedPattern(for: String(characters[index])) }
            case "[":
                // A character class, as in Go's filepath.Match; `[!…]` or `[^…]` negate.
                if let close = characters[(index + 1)...].firstIndex(of: "]") {
                    var body = String(characters[(index + 1)..<close])
                    if body.hasPrefix("!") { body = "^" + body.dropFirst() }
                    result += "[" + body.replacingOccurrences(of: "/", with: "") + "]"
                    index = close
                } else {
                    result += "\\["
                }
            default:
                result += NSRegularExpression.escapedPattern(for: String(character))
            }
            index += 1
        }
        return result + "$"
    }
}

extension DockerIgnore.Pattern {
    func matches(_ path: String) -> Bool {
        regex.firstMatch(in: path, range: NSRange(path.startIndex..., in: path)) != nil
    }
}
