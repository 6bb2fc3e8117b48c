/// Each stage's duration over a pipeline's runs, as an SVG line chart: runs from oldest (left)
/// to newest (right), time up from 0 to the longest duration drawn. One mark per point: a
/// circle, or a square for a marked run (nightly), hollow when the result came from the cache,
/// outlined when the stage failed; each mark has a `<title>` saying what it is.
public struct DurationChart: Sendable {
    /// One stage's duration in one run.
    public struct Point: Sendable, Equatable {
        /// The run (an x position: its index in `runs`). Escaped when drawn.
        public var run: String
        public var milliseconds: Int64
        /// The duration as people read it (`1m30s`), for the mark's title.
        public var valueText: String
        /// Drawn as a square instead of a circle (the dashboard marks nightly runs).
        public var marked: Bool
        public var cached: Bool
        public var failed: Bool

        /// Creates a point.
        public init(run: String, milliseconds: Int64, valueText: String, marked: Bool = false, cached: Bool = false,
                    failed: Bool = false) {
            self.run = run
            self.milliseconds = milliseconds
            self.valueText = valueText
            self.marked = marked
            self.cached = cached
            self.failed = failed
        }
    }

    /// One line: a stage's points.
    public struct Series: Sendable, Equatable {
        /// The stage's name: escaped when drawn.
        public var name: String
        public var points: [Point]

        /// Creates a series.
        public init(name: String, points: [Point]) {
            self.name = name
            self.points = points
        }
    }

    /// What the chart shows, for its `<title>` and `aria-label`.
    public var title: String
    /// The x axis, oldest first; a point whose run is not listed is placed after the listed ones.
    public var runs: [String]
    public var series: [Series]
    /// How the top of the scale is labelled (the longest duration, e.g. `2m05s`).
    public var maximumText: String
    public var width: Int
    public var plotHeight: Int

    /// Geometry, in SVG units.
    static let left = 64
    static let right = 16
    static let top = 12
    static let axisBand = 24
    static let legendRow = 18

    /// Creates a chart; `maximumText` labels the top of the time axis.
    public init(title: String, runs: [String], series: [Series], maximumText: String, width: Int = 720, plotHeight: Int = 220) {
        self.title = title
        self.runs = runs
        self.series = series
        self.maximumText = maximumText
        self.width = width
        self.plotHeight = plotHeight
    }

    /// The y coordinate of the plot's top: where the longest duration is drawn.
    public var plotTop: Int { Self.top }
    /// The y coordinate of 0.
    public var plotBottom: Int { Self.top + plotHeight }

    /// The chart as an `<svg>` element; "no data" when there is no point or every duration is 0.
    public func svg() -> String {
        var columns = runs
        var column: [String: Int] = [:]
        for (index, run) in runs.enumerated() where column[run] == nil { column[run] = index }
        for point in series.flatMap(\.points) where column[point.run] == nil {
            column[point.run] = columns.count
            columns.append(point.run)
        }
        let maximum = series.flatMap(\.points).map(\.milliseconds).max() ?? 0
        guard maximum > 0 else { return SVG.noData(kind: "duration-chart", title: title, width: width) }

        let plotWidth = Double(width - Self.left - Self.right)
        // One column: the whole width; otherwise the first and last runs sit on the edges.
        func x(_ index: Int) -> Double {
            columns.count == 1 ? Double(Self.left) + plotWidth / 2
                : Double(Self.left) + plotWidth * Double(index) / Double(columns.count - 1)
        }
        func y(_ milliseconds: Int64) -> Double {
            Double(plotBottom) - Double(plotHeight) * Double(max(milliseconds, 0)) / Double(maximum)
        }
        let legendTop = plotBottom + Self.axisBand
        let height = legendTop + series.count * Self.legendRow + 4
        var out = SVG.open(kind: "duration-chart", title: title, width: width, height: height)

        // Axes, a mid grid line, and the scale's ends.
        let middle = SVG.number(Double(plotBottom + plotTop) / 2)
        out += "<line class=\"grid\" x1=\"\(Self.left)\" y1=\"\(plotTop)\" x2=\"\(width - Self.right)\" y2=\"\(plotTop)\"/>"
        out += "<line class=\"grid\" x1=\"\(Self.left)\" y1=\"\(middle)\" x2=\"\(width - Self.right)\" y2=\"\(middle)\"/>"
        out += "<line class=\"axis\" x1=\"\(Self.left)\" y1=\"\(plotBottom)\" x2=\"\(width - Self.right)\" y2=\"\(plotBottom)\"/>"
        out += "<line class=\"axis\" x1=\"\(Self.left)\" y1=\"\(plotTop)\" x2=\"\(Self.left)\" y2=\"\(plotBottom)\"/>"
        out += "<text class=\"label\" x=\"\(Self.left - 6)\" y=\"\(plotTop + 4)\" text-anchor=\"end\">\(MarkupText.escaped(maximumText))</text>"
        out += "<text class=\"label\" x=\"\(Self.left - 6)\" y=\"\(plotBottom + 4)\" text-anchor=\"end\">0</text>"
        out += "<text class=\"label\" x=\"\(Self.left)\" y=\"\(plotBottom + 16)\">oldest</text>"
        out += "<text class=\"label\" x=\"\(width - Self.right)\" y=\"\(plotBottom + 16)\" text-anchor=\"end\">newest run</text>"

        for (index, line) in series.enumerated() {
            let colour = "series-\(index % ChartStyle.seriesColours)"
            let name = MarkupText.escaped(line.name)
            let placed = line.points.map { (point: $0, x: x(column[$0.run] ?? 0), y: y($0.milliseconds)) }.sorted { $0.x < $1.x }
            out += "<g class=\"series \(colour)\">"
            if placed.count > 1 {
                let path = placed.map { "\(SVG.number($0.x)),\(SVG.number($0.y))" }.joined(separator: " ")
                out += "<polyline class=\"line \(colour)\" points=\"\(path)\"/>"
            }
            for (point, px, py) in placed {
                var classes = "mark \(colour)"
                if point.marked { classes += " nightly" }
                if point.cached { classes += " cached" }
                if point.failed { classes += " failed" }
                let notes = [point.marked ? "nightly" : nil, point.cached ? "cached" : nil, point.failed ? "failed" : nil]
                    .compactMap { $0 }.joined(separator: ", ")
                let label = "<title>\(name), run \(MarkupText.escaped(point.run)): \(MarkupText.escaped(point.valueText))"
                    + (notes.isEmpty ? "" : " (\(notes))") + "</title>"
                if point.marked {
                    out += "<rect class=\"\(classes)\" x=\"\(SVG.number(px - 4.5))\" y=\"\(SVG.number(py - 4.5))\" width=\"9\" height=\"9\">\(label)</rect>"
                } else {
                    out += "<circle class=\"\(classes)\" cx=\"\(SVG.number(px))\" cy=\"\(SVG.number(py))\" r=\"4\">\(label)</circle>"
                }
            }
            out += "</g>"
            // The legend names each line in its colour: colour is never the only way to tell them apart.
            let row = legendTop + index * Self.legendRow
            out += "<g class=\"legend\"><rect class=\"\(colour)\" x=\"\(Self.left)\" y=\"\(row)\" width=\"12\" height=\"12\"/>"
                + "<text x=\"\(Self.left + 18)\" y=\"\(row + 10)\">\(name)</text></g>"
        }
        if series.flatMap(\.points).contains(where: \.marked) {
            out += "<text class=\"label\" x=\"\(width - Self.right)\" y=\"\(legendTop + 10)\" text-anchor=\"end\">■ nightly run  ● other</text>"
        }
        return out + "</svg>"
    }
}
