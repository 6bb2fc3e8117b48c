import Charts
import Foundation
import Testing

/// The charts are pure: a typed series in, SVG text out. These read the text back.
@Suite struct BarChartTests {
    let bars = [
        BarChart.Bar(label: "nix-build", value: 300, valueText: "300 B"),
        BarChart.Bar(label: "<script>alert(1)</script>", value: 600, valueText: "600 B"),
        BarChart.Bar(label: "checkouts", value: 150, valueText: "150 B"),
    ]

    @Test func everyLabelIsEscaped() {
        let svg = BarChart(title: "bytes by \"kind\"", bars: bars).svg()
        #expect(!svg.contains("<script>"))
        #expect(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(svg.contains("aria-label=\"bytes by &quot;kind&quot;\""))
    }

    @Test func theChartIsAnAccessibleImageWithATitle() {
        let svg = BarChart(title: "bytes by kind", bars: bars).svg()
        #expect(svg.hasPrefix("<svg "))
        #expect(svg.contains("role=\"img\""))
        #expect(svg.contains("<title>bytes by kind</title>"))
        #expect(svg.hasSuffix("</svg>"))
    }

    @Test func oneBarPerValueAndTheLargestFillsThePlot() {
        let chart = BarChart(title: "t", bars: bars, width: 640)
        let widths = Self.attributes("width", ofElementsWithClass: "bar mark", in: chart.svg())
        #expect(widths == ["150", "300", "75"].map { Double($0)! }.map { $0 * Double(chart.plotWidth) / 300 })
        #expect(widths.max() == Double(chart.plotWidth))
    }

    @Test func aFixedScaleDrawsRatiosAgainstOneNotAgainstTheBest() {
        let chart = BarChart(title: "hit ratio", bars: [BarChart.Bar(label: "nix-build", value: 0.5, valueText: "50 %")],
                             scaleMaximum: 1)
        let widths = Self.attributes("width", ofElementsWithClass: "bar mark", in: chart.svg())
        #expect(widths == [Double(chart.plotWidth) / 2])
    }

    @Test func noBarsOrOnlyZeroesDrawNoDataInsteadOfDividingByZero() {
        for chart in [BarChart(title: "empty", bars: []),
                      BarChart(title: "zeroes", bars: [BarChart.Bar(label: "a", value: 0, valueText: "0 B")])] {
            let svg = chart.svg()
            #expect(svg.contains(">no data</text>"))
            #expect(!svg.contains("nan") && !svg.contains("inf"))
            #expect(Self.attributes("width", ofElementsWithClass: "bar mark", in: svg).isEmpty)
        }
    }

    /// The numeric `name` attribute of every element whose class attribute is exactly `classes`.
    static func attributes(_ name: String, ofElementsWithClass classes: String, in svg: String) -> [Double] {
        svg.split(separator: "<").filter { $0.contains("class=\"\(classes)\"") }.compactMap { element in
            guard let range = element.range(of: " \(name)=\"") else { return nil }
            return Double(element[range.upperBound...].prefix { $0 != "\"" })
        }
    }
}

@Suite struct DurationChartTests {
    static func point(_ run: String, _ milliseconds: Int64, nightly: Bool = false, cached: Bool = false) -> DurationChart.Point {
        DurationChart.Point(run: run, milliseconds: milliseconds, valueText: "\(milliseconds)ms", marked: nightly, cached: cached)
    }

    let chart = DurationChart(
        title: "stage durations", runs: ["r1", "r2", "r3"],
        series: [
            .init(name: "build", points: [point("r1", 4000), point("r2", 8000, nightly: true), point("r3", 100, cached: true)]),
            .init(name: "<script>alert(1)</script>", points: [point("r1", 1000), point("r3", 2000)]),
        ],
        maximumText: "8s")

    @Test func oneMarkPerPointAndNightlyRunsAreSquares() {
        let svg = chart.svg()
        let circles = svg.components(separatedBy: "<circle class=\"mark").count - 1
        let squares = svg.components(separatedBy: "<rect class=\"mark").count - 1
        #expect(circles == 4)
        #expect(squares == 1)
        #expect(svg.contains("<rect class=\"mark series-0 nightly\""))
        #expect(svg.contains("class=\"mark series-0 cached\""))
        #expect(svg.contains("■ nightly run"))
    }

    @Test func theLongestDurationIsDrawnAtTheTopAndZeroAtTheBottom() {
        let svg = chart.svg()
        // The nightly square (8 s, the longest) is centred on the plot's top.
        let square = BarChartTests.attributes("y", ofElementsWithClass: "mark series-0 nightly", in: svg)
        #expect(square == [Double(chart.plotTop) - 4.5])
        let ys = svg.split(separator: "<").filter { $0.hasPrefix("circle class=\"mark") }.compactMap { element -> Double? in
            guard let range = element.range(of: " cy=\"") else { return nil }
            return Double(element[range.upperBound...].prefix { $0 != "\"" })
        }
        #expect(ys.allSatisfy { $0 >= Double(chart.plotTop) && $0 <= Double(chart.plotBottom) })
        // 4 s is half of 8 s: half way down.
        #expect(ys.contains(Double(chart.plotTop + chart.plotBottom) / 2))
    }

    @Test func everyNameAndRunIsEscaped() {
        let hostile = DurationChart(title: "a<b", runs: ["<img src=x>"],
                                    series: [.init(name: "x\"y", points: [Self.point("<img src=x>", 5)])], maximumText: "<5ms>")
        let svg = hostile.svg()
        #expect(!svg.contains("<img") && !svg.contains("<5ms>") && !svg.contains("x\"y"))
        #expect(svg.contains("&lt;img src=x&gt;") && svg.contains("x&quot;y") && svg.contains("<title>a&lt;b</title>"))
        #expect(chart.svg().contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(!chart.svg().contains("<script>"))
    }

    @Test func emptySeriesDrawNoDataInsteadOfDividingByZero() {
        for empty in [DurationChart(title: "none", runs: [], series: [], maximumText: "0"),
                      DurationChart(title: "zeroes", runs: ["r"], series: [.init(name: "s", points: [Self.point("r", 0)])], maximumText: "0")] {
            let svg = empty.svg()
            #expect(svg.contains(">no data</text>") && svg.contains("role=\"img\""))
            #expect(!svg.contains("nan") && !svg.contains("<circle"))
        }
    }

    @Test func aSingleRunIsDrawnInTheMiddle() {
        let single = DurationChart(title: "one", runs: ["r"], series: [.init(name: "s", points: [Self.point("r", 10)])],
                                   maximumText: "10ms", width: 720)
        #expect(single.svg().contains("cx=\"384\""))  // 64 + (720 - 64 - 16) / 2
    }
}
