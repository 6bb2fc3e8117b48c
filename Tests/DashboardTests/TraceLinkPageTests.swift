import Foundation
import Hummingbird
import HummingbirdTesting
import SutradharDashboard
import SutradharKit
import SutradharTesting
import Testing

/// A run page shows the run's trace ID, as a link when `serve --trace-url-template` is given; a
/// template that could be abused is refused, and an ID from the history that is not a W3C trace
/// ID is not shown at all.
@Suite struct TraceLinkPageTests {
    static let traced = "20261201-130000-dddd"
    static let forged = "20261201-140000-eeee"
    static let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"

    /// The fixture's cache with two more runs: one traced, one whose history holds a forged trace ID.
    static func record(in fixture: DashboardFixture) {
        for (id, trace) in [(traced, traceID), (forged, "\"><script>alert(1)</script>")] {
            let recorder = HistoryRecorder(history: fixture.history, trigger: "manual")
            recorder.record(RunEvent(run: id, .runStarted(pipeline: "example", source: "/src", ref: nil, cacheRoot: fixture.cache.path), time: fixture.at(9000)))
            var summary = RunSummary(run: id, pipeline: "example", commit: String(repeating: "c", count: 40), status: .passed,
                                     durationMilliseconds: 1000, stages: [])
            summary.traceID = trace
            recorder.record(RunEvent(run: id, .runFinished(summary), time: fixture.at(9001)))
        }
    }

    static func page(_ run: String, link: TraceLink?) async throws -> String {
        try await DashboardFixture.with { fixture in
            record(in: fixture)
            var configuration = fixture.configuration()
            configuration.traceLink = link
            let services = try DashboardServices(configuration: configuration)
            let application = Application(router: Dashboard.makeRouter(services: services))
            return try await application.test(.router) { client in
                let response = try await client.execute(uri: "/runs/\(run)", method: .get)
                #expect(response.status == .ok)
                return response.text
            }
        }
    }

    @Test func theTraceIDLinksToTheTemplatesURLWhenOneIsGiven() async throws {
        let link = try TraceLink(template: "https://jaeger.example/trace/{trace_id}?uiFind=a&x=1")
        let page = try await Self.page(Self.traced, link: link)
        #expect(page.contains("trace <a href=\"https://jaeger.example/trace/\(Self.traceID)?uiFind=a&amp;x=1\" rel=\"noreferrer\"><code class=\"trace\">\(Self.traceID)</code></a>"), "\(page)")

        let plain = try await Self.page(Self.traced, link: nil)
        #expect(plain.contains("trace <code class=\"trace\">\(Self.traceID)</code>"))
        #expect(!plain.contains("jaeger.example"))
    }

    @Test func aForgedTraceIDInTheHistoryIsNotShown() async throws {
        let page = try await Self.page(Self.forged, link: try TraceLink(template: "https://jaeger.example/trace/{trace_id}"))
        #expect(!page.contains("<script>alert(1)"))
        #expect(!page.contains("class=\"trace\""))
        #expect(!page.contains("jaeger.example"))
    }

    @Test func aTemplateThatCouldBeAbusedIsRefused() throws {
        for template in ["javascript:alert(1)//{trace_id}", "https://jaeger.example/trace/", "https://x/\"onmouseover=\"{trace_id}",
                         "https://x/{trace_id} <b>", "https://x/\u{1b}[31m{trace_id}", "ftp://x/{trace_id}",
                         "https://x/" + String(repeating: "a", count: 3000) + "{trace_id}"] {
            #expect(throws: TraceLinkError.self, "\(template)") { try TraceLink(template: template) }
        }
        let link = try TraceLink(template: "HTTPS://tempo.example/explore?trace={trace_id}")
        #expect(link.url(for: Self.traceID) == "HTTPS://tempo.example/explore?trace=\(Self.traceID)")
        #expect(link.url(for: String(repeating: "0", count: 32)) == nil)
        #expect(link.url(for: Self.traceID.uppercased()) == nil)
    }
}
