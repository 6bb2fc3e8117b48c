import Pipeline

extension Engine {
    /// Runs `plan` as an `AsyncSequence` of its events, in order; the last is `runFinished`
    /// (`.runFinished(summary)`). Built on `run(_:options:sink:)`: the run starts when
    /// this is called and ends when the stream finishes. Cancelling the consuming task (or
    /// dropping the stream) cancels the run, which then cleans up as on Ctrl-C (its containers
    /// are removed, the summary says `cancelled`).
    ///
    /// The buffer is unbounded: events are small and losing one (a stage's result) is worse
    /// than holding a slow consumer's backlog.
    public func events(_ plan: Plan, options: RunOptions) -> AsyncStream<RunEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: RunEvent.self, bufferingPolicy: .unbounded)
        let run = Task {
            _ = await self.run(plan, options: options) { continuation.yield($0) }
            continuation.finish()
        }
        continuation.onTermination = { _ in run.cancel() }
        return stream
    }
}
