import Foundation
import NixBuild
import Pipeline
import RunEvents
import Synchronization

/// The pushes of a run's nix-build outputs to `cache.nix-push`: each starts when a nix-build
/// stage passes and goes on while the later stages run; the run awaits them all (or, when it is
/// cancelled, cancels them, which stops their nix) before it finishes. A push never changes a
/// verdict: it ends in a log line of the pseudo-stage `nix-push` or, if it fails, a warning.
final class NixPushQueue: Sendable {
    /// The stage name push events carry: a push belongs to the run, not to the stage it follows.
    static let stage = "nix-push"

    private let spec: NixPushSpec
    private let nix: Nix
    private let recorder: RunRecorder
    private let pushes = Mutex<[Task<Void, Never>]>([])

    init(spec: NixPushSpec, nix: Nix, recorder: RunRecorder) {
        self.spec = spec
        self.nix = nix
        self.recorder = recorder
    }

    /// Starts copying the closure of `path` (the output of stage `stage`) to the binary cache.
    func push(_ path: String, after stage: String) {
        // An unstructured task on purpose: the push must outlive the stage that started it (the
        // scheduler goes on with the stages that need that stage), and `finish()` is the scope
        // that awaits or cancels it before the run ends.
        let task = Task { [spec, nix, recorder] in
            let clock = ContinuousClock()
            let started = clock.now
            do {
                let copied = try await nix.copy(closureOf: path, to: spec.destination)
                let elapsed = (clock.now - started).components
                let seconds = String(format: "%.1f s", Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18)
                recorder.emit(.log(stage: Self.stage, stream: "stdout",
                                   line: "pushed \(path) (from '\(stage)': \(copied.paths) paths, \(copied.bytes) bytes) "
                                       + "to \(spec.uri) in \(seconds)"))
            } catch let error as NixError where error.code == .cancelled {
                recorder.warn("nix-push: the push of \(path) to \(spec.uri) was cancelled with the run")
            } catch {
                recorder.warn("nix-push: could not push \(path) (from '\(stage)') to \(spec.uri); the verdict stands. \(error)")
            }
        }
        pushes.withLock { $0.append(task) }
    }

    /// Waits for every push started; cancelling the caller cancels them (their nix is stopped
    /// and reaped) and still waits for them to end, so nothing is left running.
    func finish() async {
        let tasks = pushes.withLock { $0 }
        await withTaskCancellationHandler {
            for task in tasks { await task.value }
        } onCancel: {
            for task in tasks { task.cancel() }
        }
    }
}
