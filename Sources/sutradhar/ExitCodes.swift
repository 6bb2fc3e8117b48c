import ArgumentParser
import Foundation
import SutradharKit

/// The documented exit codes, and the one place where every way out of a command (a summary, a
/// library error, a usage error) becomes an exit code and what is printed.
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

    /// How the CLI ends when a command throws `error`.
    struct Outcome {
        /// The process's exit status.
        var code: Int32
        /// What to print, if anything (already ends with no newline).
        var message: String?
        /// Whether `message` goes to stdout (help and version text) rather than stderr.
        var toStandardOutput = false
    }

    /// The exit code and message for any error a command throws: the library's typed errors, the
    /// CLI's own `CommandFailure`, a bare `ExitCode`, and ArgumentParser's errors (usage errors
    /// exit 2, not its default 64; help and version exit 0 on stdout).
    static func outcome(for error: any Error, command: any ParsableCommand.Type = Sutradhar.self) -> Outcome {
        switch error {
        case let failure as CommandFailure:
            return Outcome(code: failure.code.rawValue, message: "error: \(failure.message)")
        case let code as ExitCode:
            return Outcome(code: code.rawValue)
        case let notFound as PipelineNotFound:
            return Outcome(code: invalidDefinition.rawValue, message: "error: \(notFound.message)")
        case let failure as DefinitionLoadFailure:
            let count = failure.error.diagnostics.count
            return Outcome(code: invalidDefinition.rawValue, message:
                "error: \(failure.error.description)\n\(failure.path): \(count) problem\(count == 1 ? "" : "s") found; nothing was run")
        case let error as CacheError:
            return Outcome(code: environmentProblem.rawValue, message: "error: \(error.message)")
        default:
            let code = command.exitCode(for: error)
            let message = command.fullMessage(for: error)
            if code == .validationFailure {
                return Outcome(code: invalidDefinition.rawValue, message: message)
            }
            return Outcome(code: code.rawValue, message: message.isEmpty ? nil : message, toStandardOutput: code == .success)
        }
    }
}

/// A failure the CLI reports in one line on stderr before exiting with `code`.
struct CommandFailure: Error, CustomStringConvertible {
    let code: ExitCode
    let message: String

    init(_ code: ExitCode, _ message: String) {
        self.code = code
        self.message = message
    }

    var description: String { message }
}
