import DockerEngine
import Synchronization

/// What the run knows about its daemon's death: set once a stream ended and the daemon then
/// failed a liveness check. Shared by every copy of the run's ``DockerSession``.
///
/// Why it exists: once the daemon is gone, each further call — stopping
/// and removing the stage's containers, reading the audit trail — waits for AsyncHTTPClient's
/// connect timeout (it retries a refused connection), which made a dead daemon cost 15 s before
/// the run reported it. Known gone, those calls are skipped.
final class DaemonFate: Sendable {
    private let gone = Mutex<DockerError?>(nil)

    /// The error saying the daemon went away, or nil while it is not known to have.
    var goneError: DockerError? { gone.withLock { $0 } }

    func noteGone(_ error: DockerError) -> DockerError {
        gone.withLock { current in
            if let current { return current }
            current = error
            return error
        }
    }
}

extension DockerSession {
    /// Whether the daemon is known to be gone (then nothing more is asked of it).
    var daemonIsGone: Bool { daemonFate.goneError != nil }

    /// After `error` ended a stage's work with the daemon, checks at once (a `connect(2)`, then
    /// a ping bounded by 1 s, so that a death is reported within 2 s) whether the daemon is still there.
    /// - Returns: the error to report instead (`.unreachable`, an environment problem), if the
    ///   daemon is gone; nil if it answers, if `error` was no transport failure, or if the task
    ///   was cancelled (a timeout or Ctrl-C is reported as such).
    func daemonGone(after error: any Error) async -> DockerError? {
        if let known = daemonFate.goneError { return known }
        guard !Task.isCancelled, let error = error as? DockerError,
              [.unreachable, .badResponse, .timeout].contains(error.code),
              let gone = await client.unreachableError(within: .seconds(1))
        else { return nil }
        return daemonFate.noteGone(DockerError(
            .unreachable,
            "\(gone.message). This run's containers could not be removed; the next run on this daemon removes them",
            endpoint: error.endpoint, underlying: error))
    }
}
