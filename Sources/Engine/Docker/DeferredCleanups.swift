import Synchronization

/// Work a stage hands off so that its verdict does not wait for it — removing a smoke server
/// once the probe has answered — and that the run still finishes before it ends.
///
/// Work queued for a stage starts once that stage's result is recorded (so its stage-finished
/// event, and the stages after it, come first); work launched at once starts immediately. Each
/// piece runs in a task of its own, not a child of the stage: a cleanup must run to its end even
/// when the run is cancelled (Ctrl-C), as `DockerSession.remove` already does. The run awaits
/// ``finish()`` before its audit trail and summary, and the session again before it closes, so
/// nothing a run started outlives its process; after kill -9 the next run's reaper removes what
/// is left (containers labelled with a dead run).
final class DeferredCleanups: Sendable {
    typealias Work = @Sendable () async -> Void

    private struct State {
        var queued: [String: [Work]] = [:]
        var started: [Task<Void, Never>] = []
    }
    private let state = Mutex(State())

    /// Queues `work` until `stage`'s result is recorded (``release(stage:)``) or the run ends.
    func afterVerdict(of stage: String, _ work: @escaping Work) {
        state.withLock { $0.queued[stage, default: []].append(work) }
    }

    /// Starts `work` now, off the caller's path; the run awaits it before it ends.
    func launch(_ work: @escaping Work) {
        start([work])
    }

    /// Starts what `stage` queued: its result has been recorded.
    func release(stage: String) {
        start(state.withLock { $0.queued.removeValue(forKey: stage) ?? [] })
    }

    /// Starts whatever is still queued (a stage that never got its result recorded) and waits
    /// until every cleanup has ended, including any started meanwhile. Safe to call more than once.
    func finish() async {
        while true {
            let queued = state.withLock { state -> [Work] in
                defer { state.queued = [:] }
                return state.queued.keys.sorted().flatMap { state.queued[$0]! }
            }
            start(queued)
            let started = state.withLock { state -> [Task<Void, Never>] in
                defer { state.started = [] }
                return state.started
            }
            guard !started.isEmpty else { return }
            for task in started { await task.value }
        }
    }

    private func start(_ work: [Work]) {
        guard !work.isEmpty else { return }
        // Unstructured on purpose (see the type's comment): awaited by `finish`, never cancelled.
        let tasks = work.map { work in Task { await work() } }
        state.withLock { $0.started += tasks }
    }
}
