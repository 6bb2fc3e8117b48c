/// The patterns of a `.dockerignore`, matched with Docker's rules (moby/patternmatcher): `*` and
/// `?` never cross a `/`, `**` matches any number of folders (none included), `[…]` is a class
/// (`[!…]` or `[^…]` negated, `a-z` ranges, `\` escapes), `!` re-includes, the last matching
/// pattern wins, a leading or trailing `/` is ignored, and a pattern that matches a folder
/// excludes everything in it.
///
/// Matching never backtracks: each pattern is a small automaton whose set of live states is
/// advanced one character at a time (Thompson's construction), so a path costs at most its length
/// times the pattern's, whatever the pattern. A regex engine took minutes, not microseconds, on
/// `*a*a*a*a*a*a*a*a*c` against long names.
public struct DockerIgnore: Sendable {
    struct Pattern: Sendable {
        let text: String
        let exclusion: Bool
        let glob: Glob
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
            var line = rawLine.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            var exclusion = true
            if line.hasPrefix("!") {
                exclusion = false
                line = line.dropFirst().trimmingWhitespace()
            }
            let cleaned = Self.clean(String(line))
            if cleaned.isEmpty { continue }
            patterns.append(Pattern(text: cleaned, exclusion: exclusion, glob: Glob(cleaned)))
        }
        self.init(patterns: patterns)
    }

    /// Whether `path` (relative to the context, `/`-separated, no leading `/`) is left out: the
    /// last pattern matching it or one of its parent folders decides.
    public func excludes(_ path: String) -> Bool {
        excludes(path, stopping: { false })!
    }

    /// ``excludes(_:)``, asking `stop` every 64 patterns: nil once it says yes (a file's patterns
    /// can be many thousands, and a cancelled walk should not finish them first).
    func excludes(_ path: String, stopping stop: () -> Bool) -> Bool? {
        var excluded = false
        let scalars = Array(path.unicodeScalars)
        // Only a pattern that would change the answer needs matching.
        for (index, pattern) in patterns.enumerated() where pattern.exclusion != excluded {
            if index & 63 == 63, stop() { return nil }
            if pattern.glob.matchesSelfOrParent(scalars) {
                excluded = pattern.exclusion
            }
        }
        return excluded
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
}

extension Substring {
    fileprivate func trimmingWhitespace() -> Substring {
        var result = self
        while let first = result.first, first == " " || first == "\t" { result = result.dropFirst() }
        while let last = result.last, last == " " || last == "\t" || last == "\r" { result = result.dropLast() }
        return result
    }
}

/// One `.dockerignore` pattern as a nondeterministic automaton: node `i` is "the first `i`
/// elements have matched"; node `elements.count` accepts.
struct Glob: Sendable, Equatable {
    enum Element: Sendable, Equatable {
        /// This character.
        case literal(Unicode.Scalar)
        /// `?`: any one character but `/`.
        case one
        /// `[…]`: one character in (or, negated, not in) the ranges; `/` never listed.
        case set([ClosedRange<Unicode.Scalar>], negated: Bool)
        /// `*`: any run of characters without `/`, none included.
        case star
        /// `**` at the end: anything at all.
        case anything
        /// The start of `**`'s `(.*/)?`: either skip it (`skip` elements) or go on into it.
        case optional(skip: Int)
    }

    let elements: [Element]
    /// The same automaton as bit masks (bit `i`: node `i`) when it has fewer than 64 nodes, as
    /// almost every pattern has: a step is then a few machine instructions (Shift-And).
    let masks: Masks?

    struct Masks: Sendable, Equatable {
        /// Nodes each literal character moves on from.
        var literals: [Unicode.Scalar: UInt64] = [:]
        /// `?` nodes; `[…]` nodes (checked one by one); `*`; `**` at the end; `(.*/)?` starts.
        var one: UInt64 = 0, sets: UInt64 = 0, star: UInt64 = 0, anything: UInt64 = 0, optional: UInt64 = 0
        var accept: UInt64 = 0
    }

    init(_ pattern: String) {
        elements = Self.compile(Array(pattern.unicodeScalars))
        guard elements.count < 64 else { masks = nil; return }
        var masks = Masks()
        for (node, element) in elements.enumerated() {
            let bit = UInt64(1) << node
            switch element {
            case .literal(let character): masks.literals[character, default: 0] |= bit
            case .one: masks.one |= bit
            case .set: masks.sets |= bit
            case .star: masks.star |= bit
            case .anything: masks.anything |= bit
            case .optional(let skip):
                precondition(skip == 2)  // `(.*/)?` is the only group
                masks.optional |= bit
            }
        }
        masks.accept = UInt64(1) << elements.count
        self.masks = masks
    }

    /// What moby/patternmatcher's regular expression for the pattern holds, as elements.
    static func compile(_ pattern: [Unicode.Scalar]) -> [Element] {
        var elements: [Element] = []
        var index = 0
        while index < pattern.count {
            let character = pattern[index]
            switch character {
            case "*":
                guard index + 1 < pattern.count, pattern[index + 1] == "*" else {
                    elements.append(.star)
                    break
                }
                index += 1
                // `**/` is read as `**`.
                if index + 1 < pattern.count, pattern[index + 1] == "/" { index += 1 }
                if index + 1 >= pattern.count {
                    elements.append(.anything)  // `**` at the end matches everything
                } else {
                    // Elsewhere any number of folders: `(.*/)?`.
                    elements += [.optional(skip: 2), .anything, .literal("/")]
                }
            case "?":
                elements.append(.one)
            case "\\":
                // A trailing `\` stands for itself.
                index += 1
                elements.append(.literal(index < pattern.count ? pattern[index] : "\\"))
            case "[":
                if let (set, end) = Self.set(pattern, openingAt: index) {
                    elements.append(set)
                    index = end
                } else {
                    elements.append(.literal("["))  // unclosed: the character itself
                }
            default:
                elements.append(.literal(character))
            }
            index += 1
        }
        return elements
    }

    /// The class opening at `start`, and the index of its `]`; nil if it never closes.
    private static func set(_ pattern: [Unicode.Scalar], openingAt start: Int) -> (Element, Int)? {
        var index = start + 1
        var negated = false
        if index < pattern.count, pattern[index] == "!" || pattern[index] == "^" {
            negated = true
            index += 1
        }
        var ranges: [ClosedRange<Unicode.Scalar>] = []
        func character(at position: inout Int) -> Unicode.Scalar? {
            guard position < pattern.count, pattern[position] != "]" else { return nil }
            if pattern[position] == "\\", position + 1 < pattern.count {
                position += 2
                return pattern[position - 1]
            }
            position += 1
            return pattern[position - 1]
        }
        while index < pattern.count, pattern[index] != "]" {
            guard let low = character(at: &index) else { break }
            var high = low
            if index + 1 < pattern.count, pattern[index] == "-", pattern[index + 1] != "]" {
                index += 1
                guard let end = character(at: &index) else { break }
                high = end
            }
            if low <= high, !(low == "/" && high == "/") { ranges.append(low...high) }
        }
        guard index < pattern.count, pattern[index] == "]" else { return nil }
        return (.set(ranges, negated: negated), index)
    }

    /// Whether the pattern matches `path` or one of its parent folders (`a/b/c`: `a`, `a/b`,
    /// `a/b/c`), in one pass: a parent is a prefix ending before a `/`.
    func matchesSelfOrParent(_ path: [Unicode.Scalar]) -> Bool {
        if let masks { return matchesSelfOrParent(path, masks) }
        let count = elements.count
        var live = [Bool](repeating: false, count: count + 1)
        var next = live
        live[0] = true
        close(&live)
        for character in path {
            if character == "/", live[count] { return true }  // a parent folder matched
            var any = false
            for node in 0..<count where live[node] {
                switch elements[node] {
                case .literal(let wanted):
                    if character == wanted { next[node + 1] = true; any = true }
                case .one:
                    if character != "/" { next[node + 1] = true; any = true }
                case .set(let ranges, let negated):
                    let listed = character != "/" && ranges.contains { $0.contains(character) }
                    if listed != negated { next[node + 1] = true; any = true }
                case .star:
                    if character != "/" { next[node] = true; any = true }
                case .anything:
                    next[node] = true; any = true
                case .optional:
                    break
                }
            }
            guard any else { return false }
            close(&next)
            swap(&live, &next)
            for node in next.indices { next[node] = false }
        }
        return live[count]
    }

    /// ``matchesSelfOrParent(_:)`` with the live nodes as bits.
    private func matchesSelfOrParent(_ path: [Unicode.Scalar], _ masks: Masks) -> Bool {
        var live = close(1, masks)
        for character in path {
            if character == "/", live & masks.accept != 0 { return true }
            var moving = masks.literals[character] ?? 0
            var staying = masks.anything
            if character != "/" {
                moving |= masks.one
                staying |= masks.star
            }
            var sets = live & masks.sets
            while sets != 0 {
                let node = sets.trailingZeroBitCount
                sets &= sets - 1
                if case .set(let ranges, let negated) = elements[node],
                   (character != "/" && ranges.contains { $0.contains(character) }) != negated {
                    moving |= UInt64(1) << node
                }
            }
            live = ((live & moving) << 1) | (live & staying)
            if live == 0 { return false }
            live = close(live, masks)
        }
        return live & masks.accept != 0
    }

    /// Adds the nodes reachable without reading a character, until nothing changes (each pass
    /// crosses at least one more node of a run of `*`s).
    private func close(_ live: UInt64, _ masks: Masks) -> UInt64 {
        var live = live
        while true {
            let next = live | ((live & (masks.star | masks.anything | masks.optional)) << 1) | ((live & masks.optional) << 3)
            if next == live { return live }
            live = next
        }
    }

    /// Adds the nodes reachable without reading a character. Every such step goes forward, so
    /// one pass in order reaches them all.
    private func close(_ live: inout [Bool]) {
        for node in elements.indices where live[node] {
            switch elements[node] {
            case .star, .anything:
                live[node + 1] = true
            case .optional(let skip):
                live[node + 1] = true
                live[node + 1 + skip] = true
            default:
                break
            }
        }
    }
}
