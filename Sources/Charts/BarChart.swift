/// Horizontal labelled bars (bytes by kind, bytes by pipeline, hit ratio per stage kind), as an
/// SVG string. The longest bar fills the plot's width unless a fixed `scaleMaximum` is given
/// (a ratio's bars are drawn against 1, not against the best one).
public struct BarChart: Sendable {
    /// One bar.
    public struct Bar: Sendable, Equatable {
        /// What the bar is (a kind, a pipeline): escaped when drawn.
        public var label: String
        /// Its length, in the chart's unit; negative values are drawn as 0.
        public var value: Double
        /// The value as people read it (`12 MiB`, `75 %`), written after the bar.
        public var valueText: String

        /// Creates a bar.
        public init(label: String, value: Double, valueText: String) {
            self.label = label
            self.value = value
            self.valueText = valueText
        }
    }

    /// What the chart shows, for its `<title>` and `aria-label`.
    public var title: String
    public var bars: [Bar]
    /// The value that fills the plot's width; nil: the largest bar's.
    public var scaleMaximum: Double?
    public var width: Int

    /// Geometry, in SVG units.
    static let labelWidth = 170
    static let valueWidth = 90
    static let rowHeight = 24
    static let barHeight = 16

    /// Creates a chart of `bars`, in the order given.
    public init(title: String, bars: [Bar], scaleMaximum: Double? = nil, width: Int = 640) {
        self.title = title
        self.bars = bars
        self.scaleMaximum = scaleMaximum
        self.width = width
    }

    /// The plot's width: where the bar with the maximum value ends.
    public var plotWidth: Int { width - Self.labelWidth - Self.valueWidth }

    /// The chart as an `<svg>` element; "no data" when there is no bar or nothing to scale by.
    public func svg() -> String {
        let maximum = scaleMaximum ?? bars.map(\.value).max() ?? 0
        guard !bars.isEmpty, maximum > 0, maximum.isFinite else {
            return SVG.noData(kind: "bar-chart", title: title, width: width)
        }
        let height = bars.count * Self.rowHeight + 8
        var out = SVG.open(kind: "bar-chart", title: title, width: width, height: height)
        let left = Double(Self.labelWidth)
        for (index, bar) in bars.enumerated() {
            let top = Double(index * Self.rowHeight + 4)
            let length = Double(plotWidth) * min(max(bar.value, 0), maximum) / maximum
            let label = MarkupText.escaped(bar.label)
            let middle = SVG.number(top + Double(Self.barHeight) / 2 + 4)
            out += "<g class=\"row\">"
            out += "<text class=\"label\" x=\"\(Self.labelWidth - 8)\" y=\"\(middle)\" text-anchor=\"end\">\(label)</text>"
            out += "<rect class=\"bar mark\" x=\"\(SVG.number(left))\" y=\"\(SVG.number(top))\" width=\"\(SVG.number(length))\" "
                + "height=\"\(Self.barHeight)\"><title>\(label): \(MarkupText.escaped(bar.valueText))</title></rect>"
            out += "<text class=\"value\" x=\"\(SVG.number(left + length + 6))\" y=\"\(middle)\">\(MarkupText.escaped(bar.valueText))</text>"
            out += "</g>"
        }
        return out + "</svg>"
    }
}
