import BuildCache
import DockerEngine
import Foundation
import GitMirror
import NixBuild
import RunEvents

/// What a failure means, decided in one place for the checkout and every stage: its code, the
/// words the stage's `error` shows, and whether it blames the machine.
public struct ClassifiedFailure: Sendable {
    /// The stable code.
    public let code: StageErrorCode
    /// The stage's `error` text.
    public let message: String
    /// The short text for the summary's `environment_problem` when the code blames the machine.
    public let environmentProblem: String?
    /// The setting that would avoid the failure, if one would (the `remedy` beside `code`).
    public let remedy: Remedy?

    /// Classifies `error`. `StageTimeout` and cancellation are recognised here too, so that the
    /// callers only add their own wording.
    public init(_ error: any Error) {
        let (code, short) = Self.classify(error)
        self.code = code
        self.message = "\(error)"
        self.environmentProblem = code.isEnvironmentProblem ? short : nil
        self.remedy = Self.remedy(of: error, code: code)
    }

    /// Errors of the engine say their remedy; those of the modules below it (which know no run
    /// settings) get it from their code.
    private static func remedy(of error: any Error, code: StageErrorCode) -> Remedy? {
        switch error {
        case let error as StageFailure: return error.remedy
        case let error as EnvironmentError: return error.remedy
        case let error as CacheError where error.code == .io: return .chooseCacheRoot
        case let error as DockerError where error.code == .unreachable || error.code == .invalidHost: return .chooseDockerHost
        default: return code == .diskFull ? .freeCacheSpace : nil
        }
    }

    private static func classify(_ error: any Error) -> (StageErrorCode, String) {
        switch error {
        case let error as StageFailure:
            return (error.code, error.message)
        case let error as EnvironmentError:
            return (error.code, error.message)
        case is StageTimeout:
            return (.timeout, "\(error)")
        case is CancellationError:
            return (.cancelled, "the run was interrupted")
        case let error as CacheError:
            return (error.code == .diskFull ? .diskFull : .cacheFailed, error.message)
        case let error as NixError:
            switch error.code {
            case .storeUnreachable: return (.storeUnreachable, error.message)
            case .builderUnreachable: return (.builderUnreachable, error.message)
            case .pushFailed: return (.cacheFailed, error.message)
            case .nixMissing, .nixTooOld, .flakesUnavailable: return (.nixMissing, error.message)
            case .buildFailed, .evalFailed: return (.nixBuildFailed, error.message)
            case .cancelled: return (.cancelled, error.message)
            case .unexpectedOutput: return (.internal, error.message)
            }
        case let error as DockerError:
            switch error.code {
            case .unreachable: return (.daemonUnreachable, error.message)
            case .invalidArchive: return (.archiveInvalid, error.message)
            case .loadFailed: return (.loadFailed, error.message)
            case .buildFailed: return (.buildFailed, error.message)
            case .cancelled: return (.cancelled, error.message)
            case .invalidHost: return (.environment, error.message)
            case .badResponse, .notFound, .conflict, .daemonError, .timeout: return (.daemonError, error.message)
            }
        case let error as GitError:
            // libgit2 names the system error of a failed write (GIT_ERROR_OS appends strerror).
            let cause = error.cause ?? ""
            if Self.diskFullTexts.contains(where: cause.contains) {
                return (.diskFull, "\(error)")  // with its cause, which says the disk is full
            }
            return (.checkoutFailed, error.message)
        default:
            if Self.isDiskFull(error) { return (.diskFull, "\(error)") }
            return (.internal, "\(error)")
        }
    }

    /// What strerror(3) says for ENOSPC and EDQUOT.
    private static let diskFullTexts = [ENOSPC, EDQUOT].map { String(cString: strerror($0)) }

    private static func isDiskFull(_ error: any Error) -> Bool {
        if let error = error as? POSIXError { return error.code == .ENOSPC || error.code == .EDQUOT }
        let bridged = error as NSError
        if bridged.domain == NSPOSIXErrorDomain { return bridged.code == Int(ENOSPC) || bridged.code == Int(EDQUOT) }
        return bridged.domain == NSCocoaErrorDomain && bridged.code == NSFileWriteOutOfSpaceError
    }
}
