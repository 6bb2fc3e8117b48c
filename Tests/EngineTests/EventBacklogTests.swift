import Testing

@testable import Engine
import RunEvents

/// `Engine.events` holds at most a bounded number of log lines for a reader that falls behind:
/// a stage that prints millions of lines must not make the stream's memory grow with
/// them, and no other event is ever dropped.
@Suite struct EventBacklogTests {
    @Test func aReaderThatFallsBehindGetsAtMostTheBoundOfLogLinesAndEveryOtherEvent() async throws {
        try await FakeRun.with(stages: [("talk", [])]) { run in
            let logged = Gate()
            let engine = run.engine({ _, context in
                for number in 1...1_000 { context.log("line \(number)", stream: "stdout") }
                logged.open()
                return StageOutcome(outputs: [], cached: false)
            })
            let stream = engine.events(run.plan, options: run.options(jobs: 1), maximumQueuedLogEvents: 100)
            // Nothing is read while the stage logs.
            await logged.wait()
            var names: [String] = []
            var talk: [String] = []
            for await event in stream {
                names.append(event.name)
                if case .log("talk", _, let line) = event.body { talk.append(line) }
            }

            #expect(names.last == "run-finished")
            #expect(names.filter { $0 == "stage-finished" }.count == 2, "checkout and talk: \(names)")
            let logs = names.filter { $0 == "log" }.count
            #expect(logs <= 101, "\(logs) log events were held for a reader 100 behind")
            // The lines that fitted, in order, then one line saying how many did not.
            let delivered = talk.dropLast()
            #expect(!delivered.isEmpty)
            #expect(Array(delivered) == (1...delivered.count).map { "line \($0)" })
            let notice = try #require(talk.last)
            #expect(notice.contains("\(1_000 - delivered.count) log lines of this stage dropped"), "\(notice)")
        }
    }

    @Test func aReaderThatKeepsUpGetsEveryLine() async throws {
        try await FakeRun.with(stages: [("talk", [])]) { run in
            let engine = run.engine({ _, context in
                for number in 1...1_000 { context.log("line \(number)", stream: "stdout") }
                return StageOutcome(outputs: [], cached: false)
            })
            var talk: [String] = []
            // A bound above what the run logs: nothing is dropped, whatever the reader's pace.
            for await event in engine.events(run.plan, options: run.options(jobs: 1), maximumQueuedLogEvents: 2_000) {
                if case .log("talk", _, let line) = event.body { talk.append(line) }
            }
            #expect(talk == (1...1_000).map { "line \($0)" })
        }
    }
}
