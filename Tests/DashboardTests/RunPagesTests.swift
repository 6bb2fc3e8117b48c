import Foundation
import Hummingbird
import HummingbirdTesting
@testable import SutradharDashboard
import SutradharKit
import Testing

/// The runs page, a run's page, the JSON API and the live feeds, on runs recorded through the
/// real history.
@Suite struct RunPagesTests {
    /// A server-sent event's data: every line break (`\r\n`, `\r` or `\n`) starts a `data:`
    /// line, so no text from a run can end the event early or inject an event of its own.
    @Test func aMessageSplitsItsDataAtEveryKindOfLineBreak() {
        #expect(LiveFeeds.message("log", "a\r\nb\rc\nd") == "event: log\ndata: a\ndata: b\ndata: c\ndata: d\n\n")
        #expect(LiveFeeds.message("done", "") == "event: done\ndata: \n\n")
        #expect(LiveFeeds.message("x", "é\n\nevent: fake") == "event: x\ndata: é\ndata: \ndata: event: fake\n\n")
        #expect(LiveFeeds.message("x", "end\r") == "event: x\ndata: end\ndata: \n\n")
    }

    @Test func theRunsPageListsEveryRunWithItsStatusBadgeAndLinks() async throws {
        try await DashboardFixture.with { fixture in
            try await fixture.test { client in
                let response = try await client.execute(uri: "/", method: .get)
                #expect(response.status == .ok)
                let page = response.text
                #expect(page.contains("<table id=\"runs\">"))
                #expect(page.contains("<tr data-run-id=\"\(DashboardFixture.passed)\" data-status=\"passed\">"))
                #expect(page.contains("<tr data-run-id=\"\(DashboardFixture.failed)\" data-status=\"failed\">"))
                #expect(page.contains("<tr data-run-id=\"\(DashboardFixture.running)\" data-status=\"running\">"))
                #expect(page.contains("<span class=\"badge status-failed\">failed</span>"))
                #expect(page.contains("<a href=\"/runs/\(DashboardFixture.failed)\">"))
                #expect(page.contains("aaaaaaaaaaaa"))  // the short commit
                #expect(page.contains("data-live=\"/events/runs\""))
            }
        }
    }

    @Test func theRunsPageFiltersByPipelineStatusAndTriggerAndPages() async throws {
        try await DashboardFixture.with { fixture in
            try await fixture.test { client in
                let failed = try await client.execute(uri: "/?status=failed", method: .get).text
                #expect(failed.contains("data-run-id=\"\(DashboardFixture.failed)\""))
                #expect(!failed.contains("data-run-id=\"\(DashboardFixture.passed)\""))
                let nightly = try await client.execute(uri: "/?trigger=nightly&pipeline=example", method: .get).text
                #expect(nightly.contains("data-run-id=\"\(DashboardFixture.passed)\""))
                #expect(!nightly.contains("data-run-id=\"\(DashboardFixture.failed)\""))
                let other = try await client.execute(uri: "/?pipeline=other", method: .get).text
                #expect(other.contains("data-run-id=\"\(DashboardFixture.running)\""))
                #expect(!other.contains("data-run-id=\"\(DashboardFixture.passed)\""))
                // Newest first: the second page of one-run pages would need pageSize 1; offset 2 skips two.
                let skipped = try await client.execute(uri: "/?offset=2", method: .get).text
                #expect(skipped.contains("data-run-id=\"\(DashboardFixture.passed)\""))
                #expect(!skipped.contains("data-run-id=\"\(DashboardFixture.running)\""))
                #expect(skipped.contains("rel=\"prev\""))
                let rows = try await client.execute(uri: "/?fragment=rows&status=running", method: .get).text
                #expect(rows.hasPrefix("<tr data-run-id=\"\(DashboardFixture.running)\""))
                let bad = try await client.execute(uri: "/?status=exploded", method: .get)
                #expect(bad.status == .badRequest)
                #expect(bad.text.contains("running, passed, failed"))
            }
        }
    }

    @Test func aRunPageShowsTheVerdictTimelineStagesAndOpensTheFailingLog() async throws {
        try await DashboardFixture.with { fixture in
            try await fixture.test { client in
                let failed = try await client.execute(uri: "/runs/\(DashboardFixture.failed)", method: .get)
                #expect(failed.status == .ok)
                let page = failed.text
                #expect(page.contains("id=\"verdict\" class=\"verdict\" data-status=\"failed\""))
                #expect(page.contains("<svg id=\"timeline\""))
                #expect(page.contains("class=\"bar failed\" data-stage=\"smoke\""))
                #expect(page.contains("<table id=\"stages\">"))
                #expect(page.contains("<tr data-stage=\"smoke\" data-status=\"failed\">"))
                #expect(page.contains("<tr data-stage=\"checkout\" data-status=\"passed\">"))
                #expect(page.contains("<details id=\"log-smoke\" open>"))
                #expect(page.contains("<code>probe-failed</code>"))
                #expect(page.contains("Docker audit trail"))
                #expect(page.contains("container create sutradhar-smoke"))
                #expect(!page.contains("data-live="))  // a finished run has nothing to follow

                let passed = try await client.execute(uri: "/runs/\(DashboardFixture.passed)", method: .get).text
                #expect(passed.contains("class=\"bar passed cached\" data-stage=\"build\""))
                #expect(passed.contains("class=\"wait\" data-stage=\"smoke\""))
                #expect(passed.contains("class=\"queued\""))
                #expect(passed.contains("/nix/store/abc-hello"))
                #expect(passed.contains("<dt>probe_attempts</dt><dd><code>2</code></dd>"))
                #expect(!passed.contains("<h2>Attestations</h2>"))
                #expect(!passed.contains("<details id=\"log-smoke\" open>"))

                let running = try await client.execute(uri: "/runs/\(DashboardFixture.running)", method: .get).text
                #expect(running.contains("data-status=\"running\""))
                #expect(running.contains("class=\"bar running\" data-stage=\"build\""))
                #expect(running.contains("data-live=\"/runs/\(DashboardFixture.running)/events\""))
                #expect(running.contains("<pre data-log-stage=\"build\" data-lines=\"1\">building"))
            }
        }
    }

    @Test func aRunRecordedBeforeEventsFilesDrawsDurationsFromItsStart() async throws {
        try await DashboardFixture.with { fixture in
            try FileManager.default.removeItem(at: fixture.history.eventsFile(run: DashboardFixture.passed))
            try await fixture.test { client in
                let page = try await client.execute(uri: "/runs/\(DashboardFixture.passed)", method: .get).text
                #expect(page.contains("before start and finish times were kept"))
                // Every bar starts at the run's start (x = the label width), as long as its stage took.
                #expect(page.contains("class=\"bar passed\" data-stage=\"smoke\" x=\"170.0\""))
                #expect(page.contains("class=\"bar passed cached\" data-stage=\"build\" x=\"170.0\""))
            }
        }
    }

    @Test func everyStringFromARunIsEscaped() async throws {
        try await DashboardFixture.with { fixture in
            try await fixture.test { client in
                for uri in ["/runs/\(DashboardFixture.failed)", "/runs/\(DashboardFixture.failed)?fragment=summary", "/?pipeline=%3Cscript%3Ealert(1)%3C%2Fscript%3E"] {
                    let page = try await client.execute(uri: uri, method: .get).text
                    #expect(!page.contains(DashboardFixture.hostile), "raw markup from a run in \(uri)")
                }
                let page = try await client.execute(uri: "/runs/\(DashboardFixture.failed)", method: .get).text
                #expect(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
            }
        }
    }

    @Test func aStageLogIsServedAsTextAndBadNamesAreNotFound() async throws {
        try await DashboardFixture.with { fixture in
            // A file outside the run logs that a path trick would reach.
            try "secret".write(to: fixture.cache.appendingPathComponent("outside.log"), atomically: true, encoding: .utf8)
            try await fixture.test { client in
                let log = try await client.execute(uri: "/runs/\(DashboardFixture.failed)/logs/smoke", method: .get)
                #expect(log.status == .ok)
                #expect(log.headers[.contentType] == "text/plain; charset=utf-8")
                #expect(log.text == DashboardFixture.hostile + "\n")
                for uri in ["/runs/20261201-999999-ffff", "/runs/..", "/runs/%2e%2e", "/runs/RUN", "/runs/..%2F..%2Foutside",
                            "/runs/\(DashboardFixture.failed)/logs/..", "/runs/\(DashboardFixture.failed)/logs/%2e%2e%2f%2e%2e%2foutside",
                            "/runs/\(DashboardFixture.failed)/logs/.hidden", "/runs/\(DashboardFixture.failed)/logs/nosuchstage",
                            "/api/runs/..", "/runs/2026/events", "/no/such/page"] {
                    let response = try await client.execute(uri: uri, method: .get)
                    #expect(response.status == .notFound, "\(uri)")
                    #expect(!response.text.contains("secret"))
                }
                let notFound = try await client.execute(uri: "/runs/20261201-999999-ffff", method: .get)
                #expect(notFound.text.contains("<h1>Not found</h1>"))
            }
        }
    }

    @Test func theAPIAnswersWithTheCLIsJSON() async throws {
        try await DashboardFixture.with { fixture in
            try await fixture.test { client in
                let list = try await client.execute(uri: "/api/runs?status=failed", method: .get)
                #expect(list.headers[.contentType] == "application/json; charset=utf-8")
                let runs = try #require(try JSONSerialization.jsonObject(with: Data(list.text.utf8)) as? [[String: Any]])
                #expect(runs.map { $0["run"] as? String } == [DashboardFixture.failed])
                let record = try #require(try fixture.history.run(DashboardFixture.failed)).record
                #expect(list.text == "[" + record.jsonLine + "]\n")
                let one = try await client.execute(uri: "/api/runs/\(DashboardFixture.failed)", method: .get)
                #expect(one.text == (record.summary ?? "") + "\n")
                #expect(one.text.contains(#""event":"run-finished""#))
                let all = try await client.execute(uri: "/api/runs?limit=2", method: .get).text
                #expect(try (JSONSerialization.jsonObject(with: Data(all.utf8)) as? [Any])?.count == 2)
            }
        }
    }

    @Test func aFinishedRunsFeedReplaysItsLogsAndEnds() async throws {
        try await DashboardFixture.with { fixture in
            try await fixture.test { client in
                let feed = try await client.execute(uri: "/runs/\(DashboardFixture.failed)/events", method: .get)
                #expect(feed.headers[.contentType] == "text/event-stream; charset=utf-8")
                let text = feed.text
                #expect(text.contains("event: log\ndata: {\"stage\":\"smoke\",\"line\":\"<script>alert(1)</script>\"}\n\n"))
                #expect(text.contains("event: summary\ndata: <div id=\"verdict\""))
                #expect(text.hasSuffix("event: done\ndata: \n\n"))
            }
        }
    }

    @Test func feedsPastTheCapAreRefusedWith503AndAClosedFeedFreesItsSlot() async throws {
        try await DashboardFixture.with { fixture in
            let services = try DashboardServices(configuration: fixture.configuration())
            var readers: [Task<Void, any Error>] = []
            defer { readers.forEach { $0.cancel() } }
            for _ in 0..<FeedSlots.maximum {
                let response = try LiveFeeds.run(DashboardFixture.running, services: services)
                let (_, writer) = CollectingWriter.make()
                readers.append(Task { try await response.body.write(writer) })
            }
            try await waitUntil("every feed is open") { services.feeds.open == FeedSlots.maximum }
            let refused = #expect(throws: HTTPError.self) { _ = try LiveFeeds.run(DashboardFixture.running, services: services) }
            #expect(refused?.status == .serviceUnavailable)
            #expect(throws: HTTPError.self) { _ = try LiveFeeds.runs(query: RunsQuery(), services: services) }
            readers.removeLast().cancel()
            try await waitUntil("the cancelled feed's slot is free") { services.feeds.open == FeedSlots.maximum - 1 }
            #expect(throws: Never.self) { _ = try LiveFeeds.run(DashboardFixture.running, services: services) }
        }
    }

    /// Polls `condition` every 10 ms for at most 60 s (a bound for a broken feed, not a timing).
    func waitUntil(_ what: String, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now.advanced(by: .seconds(60))
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("never: \(what)")
                return
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    @Test func aBigLogIsStreamedWholeAndThePageShowsItsEndWithItsLineCount() async throws {
        try await DashboardFixture.with { fixture in
            let file = fixture.history.logFile(run: DashboardFixture.failed, stage: "smoke")
            let line = String(repeating: "x", count: 99) + "\n"
            try Data(String(repeating: line, count: 50_000).utf8).write(to: file)  // 5 MB, 50,000 lines
            try await fixture.test { client in
                let whole = try await client.execute(uri: "/runs/\(DashboardFixture.failed)/logs/smoke", method: .get)
                #expect(whole.status == .ok)
                #expect(whole.body.readableBytes == 5_000_000)
                let page = try await client.execute(uri: "/runs/\(DashboardFixture.failed)", method: .get).text
                #expect(page.contains("data-log-stage=\"smoke\" data-lines=\"50000\""))
                #expect(page.contains("Only the end is shown"))
                #expect(page.utf8.count < 1_000_000, "the page carries only the log's end: \(page.utf8.count) bytes")
            }
        }
    }

    /// The recorder appends run-finished to the run's events before it updates the run's row: a
    /// feed reading the event in between must still end on the verdict, not on "running".
    @Test func aFeedThatSeesTheEndBeforeTheRowDoesEndsOnTheVerdict() async throws {
        try await DashboardFixture.with { fixture in
            let summary = RunSummary(run: DashboardFixture.running, pipeline: "other", commit: "", status: .failed,
                                     durationMilliseconds: 5, stages: [])
            let line = RunEvent(run: DashboardFixture.running, .runFinished(summary)).jsonLine() + "\n"
            let handle = try FileHandle(forWritingTo: fixture.history.eventsFile(run: DashboardFixture.running))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(line.utf8))
            try handle.close()
            #expect(try fixture.history.run(DashboardFixture.running)?.record.status == "running", "the row is not updated by the file")
            try await fixture.test { client in
                let text = try await client.execute(uri: "/runs/\(DashboardFixture.running)/events", method: .get).text
                let last = try #require(text.components(separatedBy: "event: summary\n").last)
                #expect(last.contains("data-status=\"failed\""), "\(last.prefix(400))")
                #expect(text.hasSuffix("event: done\ndata: \n\n"))
            }
        }
    }

    @Test func theRunsFeedSendsNewRowsWhenARunStartsElsewhere() async throws {
        try await DashboardFixture.with { fixture in
            let services = try DashboardServices(configuration: fixture.configuration())
            // No recheck within the test: only inotify can wake the feed.
            let response = try LiveFeeds.runs(query: RunsQuery(), services: services, recheckEvery: .seconds(3600))
            let (chunks, writer) = CollectingWriter.make()
            let reader = Task { try await response.body.write(writer) }
            // A bound for a broken feed only (a pass takes one inotify wakeup): generous, so a
            // loaded machine does not fail it.
            let bound = Task {
                try await Task.sleep(for: .seconds(60))
                writer.continuation.finish()
            }
            defer {
                reader.cancel()
                bound.cancel()
            }
            var received = ""
            for await chunk in chunks {
                received += chunk
                if received.contains(LiveFeeds.announcement) { break }  // watching from here on
            }
            // Another process's run, recorded through its own history handle.
            let other = try RunHistory(cacheRoot: fixture.cache)
            let newID = "20261201-130000-dddd"
            HistoryRecorder(history: other, trigger: "agent", pid: getpid())
                .record(RunEvent(run: newID, .runStarted(pipeline: "fresh", source: "/src", ref: nil, cacheRoot: fixture.cache.path)))
            received = ""
            // Ends with the first rows event carrying the new run, so this does not depend on how
            // loaded the machine is.
            for await chunk in chunks {
                received += chunk
                if received.contains("event: rows") && received.contains("data-run-id=\"\(newID)\"") { break }
            }
            #expect(received.contains("<tr data-run-id=\"\(newID)\" data-status=\"running\">"))
        }
    }
}

/// A response body writer that hands each chunk to an AsyncStream, to read a live feed.
struct CollectingWriter: ResponseBodyWriter {
    let continuation: AsyncStream<String>.Continuation

    static func make() -> (AsyncStream<String>, CollectingWriter) {
        let (stream, continuation) = AsyncStream.makeStream(of: String.self)
        return (stream, CollectingWriter(continuation: continuation))
    }

    mutating func write(_ buffer: ByteBuffer) async throws { continuation.yield(String(buffer: buffer)) }
    consuming func finish(_ trailingHeaders: HTTPFields?) async throws { continuation.finish() }
}
