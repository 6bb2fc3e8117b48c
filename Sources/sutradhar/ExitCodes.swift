import ArgumentParser
import Engine

/// The documented exit codes, mapped in one place.
enum Exit {
    static let passed = ExitCode(0)
    static let stageFailed = ExitCode(1)
    static let invalidDefinition = ExitCode(2)
    static let environmentProblem = ExitCode(3)
    static let interrupted = ExitCode(130)

    /// The exit code of a finished run.
    static func code(for summary: RunSummary) -> ExitCode {
        if summary.status == .cancelled { return interrupted }
        if summary.environmentProblem != nil { return environmentProblem }
        return summary.status == .passed ? passed : stageFailed
    }
}
