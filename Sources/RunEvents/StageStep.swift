import Foundation

/// A timed piece of a stage's work (the nix build, the image upload, the server's start, the
/// probe), reported beside the events for traces: a slow stage is explained by its steps. Not an
/// event: nothing is recorded or printed, and a run with no sink pays one nil check per step.
public struct StageStep: Sendable, Equatable {
    /// The stage it belongs to.
    public let stage: String
    /// What it was: `nix build`, `image upload`, `container start`, `probe`.
    public let name: String
    public let start: Date
    public let end: Date
    /// Whether it ended with an error (or was cancelled).
    public let failed: Bool

    public init(stage: String, name: String, start: Date, end: Date, failed: Bool) {
        self.stage = stage
        self.name = name
        self.start = start
        self.end = end
        self.failed = failed
    }
}

/// Receives each step when it ends.
public typealias StageStepSink = @Sendable (StageStep) -> Void
