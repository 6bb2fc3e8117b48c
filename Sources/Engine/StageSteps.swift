import Foundation
import Pipeline
import RunEvents

extension StageContext {
    /// Runs `body` as the step `name` of this stage, reporting its times to the run's step sink.
    public func step<T>(_ name: String, _ body: () async throws -> T) async rethrows -> T {
        try await timedStep(options.stepSink, stage: stage.name, name, body)
    }
}

/// Runs `body` as the step `name` of `stage`, reporting its times to `sink` (when there is one).
func timedStep<T>(_ sink: StageStepSink?, stage: String, _ name: String, _ body: () async throws -> T) async rethrows -> T {
    guard let sink else { return try await body() }
    let start = Date()
    do {
        let value = try await body()
        sink(StageStep(stage: stage, name: name, start: start, end: Date(), failed: false))
        return value
    } catch {
        sink(StageStep(stage: stage, name: name, start: start, end: Date(), failed: true))
        throw error
    }
}
