/// A place in a pipeline definition file, as a compiler reports it.
public struct SourcePosition: Sendable, Hashable, CustomStringConvertible {
    /// The definition file's path as the user named it.
    public let file: String
    /// 1-based line.
    public let line: Int
    /// 1-based column, counted in Unicode scalars (as libyaml counts).
    public let column: Int

    /// Creates a position.
    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// `FILE:LINE:COLUMN`.
    public var description: String { "\(file):\(line):\(column)" }
}

/// One problem found in a definition: where, and what to do about it.
public struct Diagnostic: Sendable, Hashable, CustomStringConvertible {
    /// Where the problem is.
    public let position: SourcePosition
    /// What is wrong, naming the field, and the fix where one is known.
    public let message: String

    /// Creates a diagnostic.
    public init(_ position: SourcePosition, _ message: String) {
        self.position = position
        self.message = message
    }

    /// `FILE:LINE:COLUMN: message`, the form editors and CI logs understand.
    public var description: String { "\(position): \(message)" }
}

extension Diagnostic: Codable {
    private enum CodingKeys: String, CodingKey { case file, line, column, message }

    /// `{"file", "line", "column", "message"}`: how `validate --json` and MCP report a problem.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(position.file, forKey: .file)
        try container.encode(position.line, forKey: .line)
        try container.encode(position.column, forKey: .column)
        try container.encode(message, forKey: .message)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(SourcePosition(file: try container.decode(String.self, forKey: .file), line: try container.decode(Int.self, forKey: .line),
                                 column: try container.decode(Int.self, forKey: .column)),
                  try container.decode(String.self, forKey: .message))
    }
}

/// What checking one definition found, as every front end reports it (`validate --json`, MCP
/// `validate_pipeline`): the file, whether it is valid, and each problem.
public struct DefinitionCheck: Codable, Sendable, Hashable {
    /// The definition's path as named (or a placeholder for text given inline).
    public let file: String
    /// True when there is no problem.
    public let valid: Bool
    /// The problems, in file order.
    public let problems: [Diagnostic]

    /// The check of `file` that found `problems`.
    public init(file: String, problems: [Diagnostic]) {
        self.file = file
        self.valid = problems.isEmpty
        self.problems = problems
    }
}

/// A definition that cannot be run, with every problem found (not only the first).
public struct DefinitionError: Error, Sendable, CustomStringConvertible {
    /// The problems, in file order.
    public let diagnostics: [Diagnostic]

    /// Creates the error from its problems, sorted by position (problems at one position keep
    /// the order they were found in: the sort is stable).
    public init(_ diagnostics: [Diagnostic]) {
        self.diagnostics = diagnostics.sorted {
            ($0.position.file, $0.position.line, $0.position.column)
                < ($1.position.file, $1.position.line, $1.position.column)
        }
    }

    /// One line per problem.
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}
