import Automation
import Engine
import Foundation
import RunEvents
import Testing

/// How a nightly as a whole ends, from its entries: what `sutradhar nightly` exits with.
@Suite struct NightlyVerdictTests {
    func entry(_ status: RunStatus, problem: String? = nil) -> NightlyReport.Entry {
        let summary = RunSummary(run: "r", pipeline: "p", commit: "", status: status, durationMilliseconds: 1, stages: [],
                                 environmentProblem: problem)
        return NightlyReport.Entry(pipeline: "p", definitionFile: "/p.yaml", source: "/src", ref: nil, cacheRoot: URL(fileURLWithPath: "/c"),
                                   summary: summary, previous: nil, commits: nil, commitsNote: nil)
    }

    @Test func pipelinesLeftOutByAnInterruptionAreNeverAPass() {
        // Interrupted between two pipelines: the first passed, the second never ran.
        #expect(NightlyReport.Verdict(entries: [entry(.passed)], planned: 2) == .interrupted)
        #expect(NightlyReport.Verdict(entries: [], planned: 1) == .interrupted)
        #expect(NightlyReport.Verdict(entries: [entry(.passed), entry(.passed)], planned: 2) == .passed)
    }

    @Test func aCancelledRunIsAnInterruptionAndTheMachineIsBlamedBeforeTheCode() {
        #expect(NightlyReport.Verdict(entries: [entry(.passed), entry(.cancelled)], planned: 2) == .interrupted)
        #expect(NightlyReport.Verdict(entries: [entry(.failed), entry(.failed, problem: "daemon gone")], planned: 2) == .environmentProblem)
        #expect(NightlyReport.Verdict(entries: [entry(.passed), entry(.failed)], planned: 2) == .failed)
    }
}
