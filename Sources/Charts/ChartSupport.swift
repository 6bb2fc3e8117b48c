/// What every chart shares: the opening `<svg>` (accessible: `role="img"`, an `aria-label` and
/// a `<title>`, so a screen reader says what the picture is), the "no data" state, and number
/// formatting. Colours are never written here: marks carry CSS classes (`series-N`, `bar`,
/// `nightly`…) that `ChartStyle.css` colours for the light and the dark theme.
enum SVG {
    /// `<svg …><title>TITLE</title>`, to be closed with `</svg>`.
    static func open(kind: String, title: String, width: Int, height: Int) -> String {
        let title = MarkupText.escaped(title)
        return "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart \(kind)\" viewBox=\"0 0 \(width) \(height)\" "
            + "width=\"\(width)\" height=\"\(height)\" role=\"img\" aria-label=\"\(title)\"><title>\(title)</title>"
    }

    /// A whole chart that says there is nothing to draw, instead of scaling by zero.
    static func noData(kind: String, title: String, width: Int) -> String {
        let height = 48
        return open(kind: kind, title: title + " (no data)", width: width, height: height)
            + "<text class=\"no-data\" x=\"\(width / 2)\" y=\"\(height / 2 + 4)\" text-anchor=\"middle\">no data</text></svg>"
    }

    /// A coordinate with at most one decimal, without exponent notation.
    static func number(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        let tenths = Int((value * 10).rounded())
        let sign = tenths < 0 ? "-" : ""
        let magnitude = abs(tenths)
        return magnitude % 10 == 0 ? "\(sign)\(magnitude / 10)" : "\(sign)\(magnitude / 10).\(magnitude % 10)"
    }
}

/// The classes the charts use, coloured for both themes: served as part of the dashboard's
/// stylesheet (never inline, so the Content-Security-Policy needs no `style-src 'unsafe-inline'`).
public enum ChartStyle {
    /// How many `series-N` colours there are; series beyond cycle.
    public static let seriesColours = 8

    /// The CSS: light colours by default, dark ones under `prefers-color-scheme: dark`.
    public static let css = """
    svg.chart { font: 12px system-ui, sans-serif; max-width: 100%; height: auto; }
    svg.chart text { fill: #333; stroke: none; }
    svg.chart line.axis { stroke: #888; stroke-width: 1; }
    svg.chart line.grid { stroke: #ddd; stroke-width: 1; }
    svg.chart text.no-data { fill: #777; font-style: italic; }
    svg.chart rect.bar { fill: #1565c0; }
    svg.chart .series-0 { stroke: #1565c0; fill: #1565c0; }
    svg.chart .series-1 { stroke: #ef6c00; fill: #ef6c00; }
    svg.chart .series-2 { stroke: #2e7d32; fill: #2e7d32; }
    svg.chart .series-3 { stroke: #6a1b9a; fill: #6a1b9a; }
    svg.chart .series-4 { stroke: #00838f; fill: #00838f; }
    svg.chart .series-5 { stroke: #ad1457; fill: #ad1457; }
    svg.chart .series-6 { stroke: #5d4037; fill: #5d4037; }
    svg.chart .series-7 { stroke: #827717; fill: #827717; }
    svg.chart polyline.line { fill: none; stroke-width: 1.5; }
    svg.chart .mark.cached { fill-opacity: 0.25; }
    svg.chart .mark.nightly { stroke: #333; stroke-width: 1.5; }
    svg.chart .mark.failed { stroke: #c62828; stroke-width: 2.5; }
    @media (prefers-color-scheme: dark) {
      svg.chart text { fill: #ddd; }
      svg.chart line.axis { stroke: #999; }
      svg.chart line.grid { stroke: #444; }
      svg.chart text.no-data { fill: #aaa; }
      svg.chart rect.bar { fill: #64b5f6; }
      svg.chart .series-0 { stroke: #64b5f6; fill: #64b5f6; }
      svg.chart .series-1 { stroke: #ffb74d; fill: #ffb74d; }
      svg.chart .series-2 { stroke: #81c784; fill: #81c784; }
      svg.chart .series-3 { stroke: #ce93d8; fill: #ce93d8; }
      svg.chart .series-4 { stroke: #4dd0e1; fill: #4dd0e1; }
      svg.chart .series-5 { stroke: #f48fb1; fill: #f48fb1; }
      svg.chart .series-6 { stroke: #bcaaa4; fill: #bcaaa4; }
      svg.chart .series-7 { stroke: #dce775; fill: #dce775; }
      svg.chart polyline.line { fill: none; }
      svg.chart .mark.nightly { stroke: #ddd; }
      svg.chart .mark.failed { stroke: #ef5350; }
    }
    """
}
