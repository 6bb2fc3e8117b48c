/// Who holds a stage's lock: a run and its stage, written into the lock file as `RUN STAGE`.
public struct LockHolder: Sendable, Equatable, CustomStringConvertible {
    /// The run's ID.
    public let run: String
    /// The stage's name.
    public let stage: String

    public init(run: String, stage: String) {
        self.run = run
        self.stage = stage
    }

    /// Reads `RUN STAGE` (stage names have no spaces).
    public init?(parsing line: String) {
        let fields = line.split(separator: " ")
        guard fields.count == 2 else { return nil }
        self.init(run: String(fields[0]), stage: String(fields[1]))
    }

    public var description: String { "\(run) \(stage)" }
}
