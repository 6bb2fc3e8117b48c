import BuildCache
import Engine
import FileWatching
import Foundation
import GitMirror
import Launcher
import Pipeline
import RunEvents
import RunHistory
import Synchronization

/// `sutradhar watch`: runs a pipeline on a working tree, then again whenever the tree changes,
/// cancelling a run that the change made stale.
public struct WatchLoop: Sendable {
    /// Something the loop tells its caller between runs.
    public enum Notice: Sendable {
        /// The watch is set up; the first run starts.
        case watching(folder: String)
        /// Changes settled that alter the snapshot: a new run starts; `cancelling` if one was in progress.
        case rerunning(paths: [String], cancelling: Bool)
        /// Changes settled that leave the snapshot as built (ignored files, or content put back).
        case unchanged(paths: [String])
        /// The watch may have missed something.
        case problem(String)
    }

    /// What the caller does with one run: where its events go and what happens at its end.
    public struct RunObserver: Sendable {
        /// Receives the run's events.
        public let sink: EventSink
        /// Called with the run's summary after its last event.
        public let finished: @Sendable (RunSummary) -> Void

        /// Creates an observer.
        public init(sink: @escaping EventSink, finished: @escaping @Sendable (RunSummary) -> Void) {
            self.sink = sink
            self.finished = finished
        }
    }

    /// The plan run each time.
    public let plan: Plan
    /// The options of each run; `sourceOverride` is the folder and `commit` is nil.
    public let options: RunOptions
    /// The working tree watched and built.
    public let folder: URL
    /// How long changes must be quiet before a run starts.
    public let debounce: Duration
    /// Starts and records each run (trigger `local`).
    public let launcher: RunLauncher

    /// Describes the loop; nothing starts until `run`.
    public init(plan: Plan, options: RunOptions, folder: URL, debounce: Duration, launcher: RunLauncher = RunLauncher()) {
        self.launcher = launcher
        var options = options
        options.sourceOverride = folder.path
        options.commit = nil
        self.plan = plan
        self.options = options
        self.folder = folder
        self.debounce = debounce
    }

    /// Runs the pipeline once, then after every settled change under the folder, until the
    /// calling task is cancelled (Ctrl-C); then cancels the run in progress, waits for its
    /// cleanup (the engine removes its containers and stops its processes) and returns.
    ///
    /// A change runs the pipeline again only if it changes the folder's snapshot
    /// (`GitMirror.snapshot`, which leaves out `.git` and what the repository ignores): saving
    /// an ignored file, or touching a file without changing it, does not. A run in progress
    /// whose snapshot is stale is cancelled first.
    /// - Parameters:
    ///   - observe: called before each run for where its events go.
    ///   - notice: told what the loop does between runs.
    /// - Throws: `CallerError` `.watchFailed` if the folder cannot be watched.
    public func run(observe: @Sendable () -> RunObserver, notice: @Sendable (Notice) -> Void) async throws {
        let mirrorsRoot = options.cacheRoot.standardizedFileURL.appendingPathComponent(CacheArea.mirrors.rawValue)
        try await FileWatcher.withChanges(under: folder, debounce: debounce) { changes in
            // The snapshot commit the latest run checked out: a change that leaves it as it is needs no run.
            let built = Shared<String?>(nil)
            notice(.watching(folder: folder.path))
            var current = start(observer: observe(), built: built)
            for await batch in changes {
                batch.problems.forEach { notice(.problem($0)) }
                if batch.overflowed { notice(.problem("too many changes at once; some were not seen one by one")) }
                let snapshot = try? await GitMirror.snapshot(folder: folder, mirrorsRoot: mirrorsRoot).commit.sha
                if Task.isCancelled { break }
                if let snapshot, snapshot == built.value {
                    notice(.unchanged(paths: batch.paths))
                    continue
                }
                notice(.rerunning(paths: batch.paths, cancelling: !current.isFinished))
                current.task.cancel()
                _ = await current.task.value
                current = start(observer: observe(), built: built)
            }
            // Cancelled: stop the run in progress and wait until it has cleaned up.
            current.task.cancel()
            _ = await current.task.value
        }
    }

    private func start(observer: RunObserver, built: Shared<String?>) -> RunningRun {
        let done = Shared(false)
        // Unstructured on purpose: a run must be cancellable on its own while the loop keeps
        // reading changes, and every path out of `run` cancels it and awaits its value.
        let task = Task { [plan, options, launcher] in
            // A launcher that is stopping runs nothing: the loop is being cancelled too.
            let summary = (try? await launcher.run(plan, options: options, trigger: .local) { event in
                if case .stageFinished(let result) = event.body, result.name == CheckoutStep.name, result.status == .passed,
                   let commit = result.outputs.first(where: { $0.0 == "commit" })?.1.stringValue {
                    built.value = commit
                }
                observer.sink(event)
            }) ?? RunSummary(run: "", pipeline: plan.definition.name, commit: "", status: .cancelled, durationMilliseconds: 0, stages: [])
            observer.finished(summary)
            done.value = true
            return summary
        }
        return RunningRun(task: task, done: done)
    }
}

/// A started run and whether it has ended.
private struct RunningRun: Sendable {
    let task: Task<RunSummary, Never>
    let done: Shared<Bool>
    var isFinished: Bool { done.value }
}

/// A value shared between the loop and a run's task.
private final class Shared<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>
    init(_ value: Value) { storage = Mutex(value) }
    var value: Value {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}
