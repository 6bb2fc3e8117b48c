import Charts
import Foundation
import Testing

@Suite struct GanttChartTests {
    @Test func eachStageIsOneBarWithWaitsQueueAndCachedMarked() {
        let chart = GanttChart(rows: [
            .init(name: "build", start: 1, end: 3, status: "passed", cached: true),
            .init(name: "smoke", start: 3, end: 9, status: "failed", waits: [4...6]),
        ], queued: [0...1])
        let svg = chart.svg()
        #expect(svg.hasPrefix("<svg id=\"timeline\" class=\"gantt\""))
        #expect(svg.hasSuffix("</svg>"))
        #expect(svg.components(separatedBy: "class=\"bar ").count == 3)
        #expect(svg.contains("<rect class=\"bar passed cached\" data-stage=\"build\""))
        #expect(svg.contains("<rect class=\"bar failed\" data-stage=\"smoke\""))
        #expect(svg.contains("<rect class=\"wait\" data-stage=\"smoke\""))
        #expect(svg.contains("<rect class=\"queued\""))
        #expect(svg.contains("build (cached)"))
    }

    @Test func barsAreProportionalToTime() throws {
        let svg = GanttChart(rows: [.init(name: "a", start: 0, end: 5, status: "passed"),
                                    .init(name: "b", start: 5, end: 10, status: "passed")], width: 1180).svg()
        // 1000 units of plot (1180 less the labels and a margin) for 10 s: each bar 500 wide,
        // b starting where a ends, one lane lower.
        #expect(svg.contains("data-stage=\"a\" x=\"170.0\" y=\"27.0\" width=\"500.0\""))
        #expect(svg.contains("data-stage=\"b\" x=\"670.0\" y=\"53.0\" width=\"500.0\""))
    }

    @Test func namesAreEscaped() {
        let svg = GanttChart(rows: [.init(name: "<script>alert(1)</script>", start: 0, end: 1, status: "running\"x")]).svg()
        #expect(!svg.contains("<script>"))
        #expect(svg.contains("data-stage=\"&lt;script&gt;alert(1)&lt;/script&gt;\""))
        #expect(svg.contains("class=\"bar running&quot;x\""))
    }
}
