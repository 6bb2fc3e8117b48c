import Foundation

/// A Dockerfile read as the daemon's classic builder reads it, for what a build would fetch from
/// outside the daemon: the images it starts from or copies from (which must be in the daemon,
/// since the builder pulls a missing one) and the URLs `ADD` downloads (in the daemon's own
/// network namespace, whatever the build's network mode). Also rewrites `FROM` lines to pin an
/// image ID.
///
/// The reading follows moby/buildkit's `frontend/dockerfile/parser` (which the classic builder
/// uses): lines split at `\n` only, parser directives (`# escape=`) before anything else, a
/// line ending with the escape character continued on the next, comment and empty lines inside
/// a continuation dropped, instructions in any case; `$VAR`, `${VAR}`, `${VAR:-word}` and
/// `${VAR:+word}` expanded from `ARG`s and `ENV`s, with quotes and escapes removed as the
/// builder's shell lexer does. Heredocs (BuildKit only) are read as the classic builder reads
/// them: their lines are instructions. When the reading is ambiguous (an `escape` directive
/// after another directive, which builders disagree on), both readings are checked.
public struct Dockerfile: Sendable {
    /// One `FROM` instruction.
    public struct From: Sendable, Equatable {
        /// The line it starts on (1-based).
        public let line: Int
        /// Its last line (after continuations).
        let endLine: Int
        /// The image as written (`$VAR` and `${VAR}` expanded from ARGs before the first FROM).
        public let image: String
        /// Its `AS name`, if any.
        public let alias: String?
        /// Its flags (`--platform=…`), kept when the line is rewritten.
        let flags: [String]
    }

    /// Something a build of the file reads from outside the build context, found on `line`.
    public struct Finding: Sendable, Hashable {
        /// What it is.
        public enum Kind: Sendable, Hashable {
            /// An image the builder would pull if the daemon lacked it (`FROM`, `COPY --from`,
            /// `RUN --mount=…,from=`), named by `value`.
            case image
            /// A source `ADD` downloads (`value`: an `http(s)://` or git URL).
            case remote
            /// A name or source whose variables have no value known before the build (`value`:
            /// the text as written), so it cannot be checked.
            case unresolved
            /// A line the builder refuses to read (`value`: why).
            case invalid
        }

        /// The line the instruction starts on (1-based).
        public let line: Int
        public let kind: Kind
        /// The instruction and flag that read it: `FROM`, `COPY --from`, `RUN --mount`, `ADD`.
        public let instruction: String
        /// The image, URL or text.
        public let value: String

        /// A finding of `kind` on `line` by `instruction` (`FROM`, `COPY --from`, `ADD`...).
        public init(line: Int, kind: Kind, instruction: String, value: String) {
            self.line = line
            self.kind = kind
            self.instruction = instruction
            self.value = value
        }
    }

    /// The file's lines as read (a `FROM` rewrite keeps every other line as it was).
    private let lines: [String]
    /// Every `FROM`, in order.
    public let froms: [From]
    /// What the build reads from outside its context, in line order, each once.
    public let findings: [Finding]

    /// Parses `text`; `buildArgs` override the defaults of `ARG`s.
    public init(_ text: String, buildArgs: [String: String] = [:]) {
        var lines = Self.split(text)
        if let first = lines.first, first.hasPrefix("\u{FEFF}") { lines[0] = String(first.dropFirst()) }
        self.lines = lines
        let directives = Self.directives(lines)
        var reading = Reading(lines: lines, escape: directives.escape, buildArgs: buildArgs)
        reading.run()
        froms = reading.froms
        var findings = directives.findings + reading.findings
        if let other = directives.alternative {
            var second = Reading(lines: lines, escape: other, buildArgs: buildArgs)
            second.run()
            findings += second.findings
        }
        var seen: Set<Finding> = []
        self.findings = findings.sorted { $0.line < $1.line }.filter { seen.insert($0).inserted }
    }

    /// The images the build starts from that must be in the daemon: not `scratch`, not an earlier
    /// stage's alias; each once, in order.
    public var baseImages: [String] {
        var images: [String] = []
        for finding in findings where finding.kind == .image && finding.instruction == "FROM" && !images.contains(finding.value) {
            images.append(finding.value)
        }
        return images
    }

    /// Every image the build reads that must be in the daemon (`FROM`, `COPY --from`, `RUN
    /// --mount`), each once, in order of first use.
    public var requiredImages: [String] {
        var images: [String] = []
        for finding in findings where finding.kind == .image && !images.contains(finding.value) {
            images.append(finding.value)
        }
        return images
    }

    /// What the `ONBUILD` triggers of a base image (its config's `OnBuild`, one instruction each)
    /// read from outside the context when a build starts `FROM` it: each finding's `line` is the
    /// trigger's index plus one.
    public static func findings(ofTriggers triggers: [String]) -> [Finding] {
        // Each trigger is one instruction, read after a FROM with the base's environment (unknown
        // here, so a variable is unresolved), never naming a stage of this file.
        triggers.enumerated().flatMap { index, trigger in
            let text = "FROM scratch\n" + trigger.replacingOccurrences(of: "\n", with: " ")
            return Dockerfile(text).findings.map {
                Finding(line: index + 1, kind: $0.kind, instruction: $0.instruction, value: $0.value)
            }
        }
    }

    /// The file with every `FROM` naming one of `names` pointing at `image` instead (its `AS`
    /// and flags kept). The instruction is written on its first line and its continuation lines
    /// left empty, so every other instruction keeps its line number.
    public func replacingBases(_ names: Set<String>, with image: String) -> String {
        var lines = self.lines
        for from in froms where names.contains(from.image) {
            var words = ["FROM"] + from.flags + [image]
            if let alias = from.alias { words += ["AS", alias] }
            lines[from.line - 1] = words.joined(separator: " ")
            for index in from.line..<from.endLine { lines[index] = "" }
        }
        return lines.joined(separator: "\n")
    }

    // MARK: - Lines and directives

    /// Lines as Go's `bufio.ScanLines` makes them: split at `\n` only, a trailing `\r` dropped.
    private static func split(_ text: String) -> [String] {
        var lines: [String] = []
        for raw in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            var bytes = raw
            if bytes.last == UInt8(ascii: "\r") { bytes = bytes.dropLast() }
            lines.append(String(decoding: bytes, as: UTF8.self))
        }
        if text.utf8.last == UInt8(ascii: "\n") { lines.removeLast() }
        return lines
    }

    /// The escape character the parser directives set, a second one to check too when builders
    /// read them differently, and any directive the builder refuses.
    private static func directives(_ lines: [String]) -> (escape: Unicode.Scalar, alternative: Unicode.Scalar?, findings: [Finding]) {
        var escape: Unicode.Scalar = "\\"
        var seen: Set<String> = []
        var findings: [Finding] = []
        for (index, raw) in lines.enumerated() {
            // `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` on the line without its leading blanks.
            let line = Substring(raw).drop(while: \.isWhitespace)
            guard line.hasPrefix("#"), let equals = line.firstIndex(of: "=") else { break }
            let key = line[line.index(after: line.startIndex)..<equals].trimmingBlanks()
            let value = line[line.index(after: equals)...].trimmingBlanks()
            guard let first = key.first, first.isASCII, first.isLetter,
                  key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }), !value.isEmpty else { break }
            let name = key.lowercased()
            guard name == "escape" || name == "syntax" else { break }
            guard seen.insert(name).inserted else {
                findings.append(Finding(line: index + 1, kind: .invalid, instruction: "#",
                                        value: "only one \(name) parser directive can be used"))
                break
            }
            if name == "escape" {
                guard value == "\\" || value == "`" else {
                    findings.append(Finding(line: index + 1, kind: .invalid, instruction: "#",
                                            value: "invalid escape token '\(value)' does not match ` or \\"))
                    break
                }
                escape = value.unicodeScalars.first!
            }
        }
        // A builder that knows only `escape` (Podman's imagebuilder) stops at a `syntax` line
        // before it and keeps `\`: check that reading too.
        let alternative: Unicode.Scalar? = escape != "\\" && seen.contains("syntax") ? "\\" : nil
        return (escape, alternative, findings)
    }
}

extension Substring {
    fileprivate func trimmingBlanks() -> Substring {
        var result = drop(while: \.isWhitespace)
        while let last = result.last, last.isWhitespace { result = result.dropLast() }
        return result
    }
}

// MARK: - Reading the instructions

/// One pass over the instructions with one escape character.
private struct Reading {
    /// A variable as the builder would see it.
    enum Value {
        case set(String)
        /// Declared without a value, or not declared where that means empty (before any FROM).
        case unset
        /// Its value comes from outside the Dockerfile (the base image's environment) or from
        /// something that could not be read.
        case unknown
    }

    let lines: [String]
    let escape: Unicode.Scalar
    let buildArgs: [String: String]
    var froms: [Dockerfile.From] = []
    var findings: [Dockerfile.Finding] = []

    /// ARGs before the first FROM.
    private var meta: [String: Value] = [:]
    /// The current stage's ARGs and ENVs.
    private var scope: [String: Value] = [:]
    /// Names the current stage's ENVs set.
    private var environmentNames: Set<String> = []
    /// Earlier stages' names (lowercased).
    private var stageNames: Set<String> = []
    /// The current stage's name.
    private var currentAlias: String?

    init(lines: [String], escape: Unicode.Scalar, buildArgs: [String: String]) {
        self.lines = lines
        self.escape = escape
        self.buildArgs = buildArgs
    }

    mutating func run() {
        var index = 0
        while index < lines.count {
            let start = index
            var line = String(Substring(lines[index]).drop(while: \.isWhitespace))
            index += 1
            if line.hasPrefix("#") { continue }
            var (text, ended) = trimmingContinuation(line)
            if ended && text.isEmpty { continue }
            while !ended && index < lines.count {
                line = lines[index]
                index += 1
                let blank = Substring(line).drop(while: \.isWhitespace)
                if blank.hasPrefix("#") || blank.isEmpty { continue }
                let (more, end) = trimmingContinuation(line)
                text += more
                ended = end
            }
            instruction(text, line: start + 1, endLine: index)
        }
    }

    /// The line without a final escape character (and blanks after it), and whether the
    /// instruction ends on it.
    private func trimmingContinuation(_ line: String) -> (String, Bool) {
        var scalars = Substring(line).unicodeScalars
        while let last = scalars.last, last == " " || last == "\t" { scalars = scalars.dropLast() }
        guard scalars.last == escape else { return (line, true) }
        return (String(scalars.dropLast()), false)
    }

    private mutating func instruction(_ text: String, line: Int, endLine: Int) {
        let trimmed = Substring(text).drop(while: \.isWhitespace)
        let written = trimmed.prefix(while: { !$0.isWhitespace })
        let keyword = written.uppercased()
        let rest = trimmed.dropFirst(written.count)
        var words = rest.split(whereSeparator: \.isWhitespace).map(String.init)
        var flags: [String] = []
        while let first = words.first, first.hasPrefix("--") {
            words.removeFirst()
            if first == "--" { break }
            flags.append(first)
        }
        let arguments = rest.drop(while: \.isWhitespace)
        switch keyword {
        case "ARG":
            declareArguments(words)
        case "ENV":
            declareEnvironment(words)
        case "FROM":
            from(words, flags: flags, line: line, endLine: endLine)
        case "COPY":
            for value in flagValues("from", in: flags) { imageSource(value, instruction: "COPY --from", line: line) }
        case "ADD":
            for value in flagValues("from", in: flags) { imageSource(value, instruction: "ADD --from", line: line) }
            for source in addSources(arguments: String(arguments), words: words) { remoteCheck(source, line: line) }
        case "RUN":
            for mount in flagValues("mount", in: flags) {
                for field in mount.split(separator: ",") {
                    let pair = field.split(separator: "=", maxSplits: 1).map(String.init)
                    if pair.count == 2, pair[0].lowercased() == "from" {
                        imageSource(pair[1], instruction: "RUN --mount", line: line)
                    }
                }
            }
        default:
            break
        }
    }

    private func flagValues(_ name: String, in flags: [String]) -> [String] {
        flags.compactMap { flag in
            let body = flag.dropFirst(2)
            guard let equals = body.firstIndex(of: "="), body[..<equals].lowercased() == name else { return nil }
            return String(body[body.index(after: equals)...])
        }
    }

    // MARK: Instructions

    private mutating func declareArguments(_ words: [String]) {
        for word in words {
            let (name, written) = word.firstIndex(of: "=").map { (String(word[..<$0]), String(word[word.index(after: $0)...]) as String?) }
                ?? (word, nil)
            let value: Value
            if let given = buildArgs[name] {
                value = .set(given)
            } else if let written {
                value = expand(written, in: froms.isEmpty ? meta : scope, outsideKnown: froms.isEmpty).map(Value.set) ?? .unknown
            } else if !froms.isEmpty, case .set(let inherited)? = meta[name] {
                value = .set(inherited)  // a global ARG declared again in the stage
            } else {
                value = froms.isEmpty ? .unset : .unknown
            }
            if froms.isEmpty {
                meta[name] = value
            } else if !environmentNames.contains(name) {
                scope[name] = value  // an ENV of the same name wins over an ARG
            }
        }
    }

    private mutating func declareEnvironment(_ words: [String]) {
        guard let first = words.first else { return }
        if !first.contains("=") {
            // `ENV NAME value with spaces`.
            let value = words.dropFirst().joined(separator: " ")
            scope[first] = expand(value, in: scope, outsideKnown: false).map(Value.set) ?? .unknown
            environmentNames.insert(first)
            return
        }
        for word in words {
            guard let equals = word.firstIndex(of: "=") else { continue }
            let name = String(word[..<equals])
            scope[name] = expand(String(word[word.index(after: equals)...]), in: scope, outsideKnown: false).map(Value.set) ?? .unknown
            environmentNames.insert(name)
        }
    }

    private mutating func from(_ words: [String], flags: [String], line: Int, endLine: Int) {
        // The stage before is named from now on; a stage's own name is not yet (the builder
        // names a stage once it is built, so `COPY --from=` its own name looks for an image).
        if let finished = currentAlias { stageNames.insert(finished.lowercased()) }
        guard let written = words.first else { currentAlias = nil; return }
        let alias = words.count >= 3 && words[1].uppercased() == "AS" ? words[2] : nil
        let image = expand(written, in: meta, outsideKnown: true)
        froms.append(Dockerfile.From(line: line, endLine: endLine, image: image ?? written, alias: alias, flags: flags))
        if let image, !image.isEmpty {
            if image.lowercased() != "scratch", !stageNames.contains(image.lowercased()) {
                findings.append(.init(line: line, kind: .image, instruction: "FROM", value: image))
            }
        } else {
            findings.append(.init(line: line, kind: .unresolved, instruction: "FROM", value: written))
        }
        currentAlias = alias
        scope = [:]
        environmentNames = []
    }

    /// `--from=` of COPY/ADD and `from=` of a RUN mount: an earlier stage by name or index, or an image.
    private mutating func imageSource(_ written: String, instruction: String, line: Int) {
        guard let value = expand(written, in: scope, outsideKnown: false), !value.isEmpty else {
            findings.append(.init(line: line, kind: .unresolved, instruction: instruction, value: written))
            return
        }
        // A number is a stage index (the builder refuses one out of range; it never pulls).
        let digits = value.hasPrefix("-") || value.hasPrefix("+") ? value.dropFirst() : Substring(value)
        if !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) { return }
        if stageNames.contains(value.lowercased()) { return }
        findings.append(.init(line: line, kind: .image, instruction: instruction, value: value))
    }

    /// ADD's sources: every argument but the last, from its JSON form if it has one.
    private func addSources(arguments: String, words: [String]) -> [String] {
        var rest = Substring(arguments)
        // Skip the flags again, as written.
        while rest.hasPrefix("--") {
            let word = rest.prefix(while: { !$0.isWhitespace })
            rest = rest.dropFirst(word.count).drop(while: \.isWhitespace)
            if word == "--" { break }
        }
        if rest.hasPrefix("["), let data = String(rest).data(using: .utf8),
           let array = try? JSONDecoder().decode([String].self, from: data) {
            return Array(array.dropLast())
        }
        return Array(words.dropLast())
    }

    private mutating func remoteCheck(_ written: String, line: Int) {
        guard let source = expand(written, in: scope, outsideKnown: false) else {
            findings.append(.init(line: line, kind: .unresolved, instruction: "ADD", value: written))
            return
        }
        let lowered = source.lowercased()
        if lowered.contains("://") || lowered.hasPrefix("git@") {
            findings.append(.init(line: line, kind: .remote, instruction: "ADD", value: source))
        }
    }

    // MARK: Words

    /// `text` as the builder's shell lexer makes it one word: quotes removed, escapes applied,
    /// variables expanded. Nil if it needs a variable whose value is unknown (or an expansion
    /// this reading does not model). `outsideKnown`: a variable not declared is empty (before
    /// any FROM) rather than unknown (in a stage, where the base image's environment counts).
    func expand(_ text: String, in variables: [String: Value], outsideKnown: Bool) -> String? {
        let scalars = Array(text.unicodeScalars)
        var index = 0
        return word(scalars, &index, variables, outsideKnown, until: nil)
    }

    private func word(_ s: [Unicode.Scalar], _ index: inout Int, _ variables: [String: Value], _ outsideKnown: Bool,
                      until stop: Unicode.Scalar?) -> String? {
        var result = String.UnicodeScalarView()
        var quote: Unicode.Scalar?
        while index < s.count {
            let character = s[index]
            if quote == nil, let stop, character == stop { return String(result) }
            if quote == "'" {
                index += 1
                if character == "'" { quote = nil } else { result.append(character) }
                continue
            }
            if character == escape {
                index += 1
                guard index < s.count else { result.append(character); break }
                // Inside double quotes only `"`, `$` and the escape itself are escaped.
                if quote == "\"", !["\"", "$", escape].contains(s[index]) { result.append(character) }
                result.append(s[index])
                index += 1
                continue
            }
            if character == "'" && quote == nil || character == "\"" && (quote == nil || quote == "\"") {
                quote = quote == nil ? character : nil
                index += 1
                continue
            }
            if character == "$" {
                index += 1
                guard let value = variable(s, &index, variables, outsideKnown) else { return nil }
                result.append(contentsOf: value.unicodeScalars)
                continue
            }
            result.append(character)
            index += 1
        }
        return stop == nil ? String(result) : nil
    }

    /// The value of the `$…` starting at `index` (after the `$`).
    private func variable(_ s: [Unicode.Scalar], _ index: inout Int, _ variables: [String: Value], _ outsideKnown: Bool) -> String? {
        func isName(_ c: Unicode.Scalar) -> Bool { c == "_" || c.properties.isAlphabetic && c.isASCII || ("0"..."9").contains(c) }
        func lookup(_ name: String) -> Value {
            variables[name] ?? (outsideKnown ? .unset : .unknown)
        }
        guard index < s.count else { return "$" }
        if s[index] != "{" {
            var name = ""
            while index < s.count, isName(s[index]) { name.unicodeScalars.append(s[index]); index += 1 }
            if name.isEmpty { return "$" }
            switch lookup(name) {
            case .set(let value): return value
            case .unset: return ""
            case .unknown: return nil
            }
        }
        index += 1
        var name = ""
        while index < s.count, isName(s[index]) { name.unicodeScalars.append(s[index]); index += 1 }
        guard index < s.count, !name.isEmpty else { return nil }
        if s[index] == "}" {
            index += 1
            switch lookup(name) {
            case .set(let value): return value
            case .unset: return ""
            case .unknown: return nil
            }
        }
        // `${NAME:-word}`, `${NAME:+word}` (and the forms without `:`, which test "set" rather than "non-empty").
        var colon = false
        if s[index] == ":" { colon = true; index += 1 }
        guard index < s.count, s[index] == "-" || s[index] == "+" else { return nil }
        let modifier = s[index]
        index += 1
        guard let alternative = word(s, &index, variables, outsideKnown, until: "}") else { return nil }
        index += 1  // the `}`
        let value: String?
        switch lookup(name) {
        case .set(let text): value = text
        case .unset: value = nil
        case .unknown: return nil
        }
        let present = colon ? !(value ?? "").isEmpty : value != nil
        if modifier == "-" { return present ? value! : alternative }
        return present ? alternative : ""
    }
}
