import Foundation

/// A Gantt chart of a run's stages as SVG text: one bar per stage from its start to its finish,
/// the time it waited for locks and the run's time in the queue drawn as their own rectangles,
/// cached stages marked. A pure function of its rows: no I/O, no clock.
public struct GanttChart: Sendable {
    /// One stage. Times are seconds from the chart's origin (the run's start).
    public struct Row: Sendable, Equatable {
        /// The stage's name (escaped when drawn).
        public var name: String
        /// When it started and finished; `end` is where a running stage has got to.
        public var start: Double
        public var end: Double
        /// `running`, `passed`, `failed`, `skipped` or `cancelled` (a class of its bar).
        public var status: String
        /// Whether its result came from the cache.
        public var cached: Bool
        /// The spans it waited for a lock another run held.
        public var waits: [ClosedRange<Double>]

        /// A row; see each property.
        public init(name: String, start: Double, end: Double, status: String, cached: Bool = false, waits: [ClosedRange<Double>] = []) {
            self.name = name
            self.start = start
            self.end = max(start, end)
            self.status = status
            self.cached = cached
            self.waits = waits
        }
    }

    /// The stages, top to bottom.
    public var rows: [Row]
    /// The spans the run waited in the queue for a run slot (drawn on a row of their own).
    public var queued: [ClosedRange<Double>]
    /// The chart's width in SVG units (it scales to its container).
    public var width: Double

    /// A chart of `rows` (and `queued`), `width` units wide.
    public init(rows: [Row], queued: [ClosedRange<Double>] = [], width: Double = 960) {
        self.rows = rows
        self.queued = queued
        self.width = width
    }

    static let rowHeight = 26.0
    static let barHeight = 16.0
    static let labelWidth = 170.0
    static let axisHeight = 22.0

    /// The SVG document: `<svg id="ID" class="gantt">` with one `<rect class="bar STATUS"
    /// data-stage="NAME">` per stage (plus `cached` in its class when cached), `<rect
    /// class="wait">` per lock wait and `<rect class="queued">` per queued span; each rect has a
    /// `<title>` saying what it is and how long, for a pointer and for screen readers.
    public func svg(id: String = "timeline") -> String {
        let total = max(0.001, (rows.map(\.end) + queued.map(\.upperBound)).max() ?? 0)
        let plot = width - Self.labelWidth - 10
        let scale = plot / total
        let lanes = rows.count + (queued.isEmpty ? 0 : 1)
        let height = Self.axisHeight + Double(max(1, lanes)) * Self.rowHeight + 6
        func x(_ seconds: Double) -> String { Self.number(Self.labelWidth + seconds * scale) }
        func w(_ seconds: Double) -> String { Self.number(max(1.5, seconds * scale)) }
        var parts: [String] = []
        let summary = rows.map { "\($0.name) \($0.status)" }.joined(separator: ", ")
        parts.append("<svg id=\"\(MarkupText.escaped(id))\" class=\"gantt\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Self.number(width)) \(Self.number(height))\" role=\"img\" aria-label=\"\(MarkupText.escaped("Stage timeline: " + summary))\">")
        for tick in Self.ticks(upTo: total) {
            parts.append("<line class=\"axis\" x1=\"\(x(tick))\" y1=\"\(Self.number(Self.axisHeight - 4))\" x2=\"\(x(tick))\" y2=\"\(Self.number(height))\"/>"
                + "<text class=\"tick\" x=\"\(x(tick))\" y=\"14\" text-anchor=\"middle\">\(Self.seconds(tick))</text>")
        }
        var lane = 0
        func top(_ lane: Int) -> Double { Self.axisHeight + Double(lane) * Self.rowHeight + (Self.rowHeight - Self.barHeight) / 2 }
        if !queued.isEmpty {
            parts.append("<text class=\"label\" x=\"4\" y=\"\(Self.number(top(lane) + 12))\">queued</text>")
            for span in queued {
                parts.append("<rect class=\"queued\" x=\"\(x(span.lowerBound))\" y=\"\(Self.number(top(lane)))\" width=\"\(w(span.upperBound - span.lowerBound))\" height=\"\(Self.number(Self.barHeight))\">"
                    + "<title>queued for a run slot \(Self.seconds(span.upperBound - span.lowerBound))</title></rect>")
            }
            lane += 1
        }
        for row in rows {
            let name = MarkupText.escaped(row.name)
            let status = MarkupText.escaped(row.status)
            let y = Self.number(top(lane))
            let label = row.name.count > 24 ? String(row.name.prefix(23)) + "…" : row.name
            parts.append("<text class=\"label\" x=\"4\" y=\"\(Self.number(top(lane) + 12))\">\(MarkupText.escaped(label))\(row.cached ? " (cached)" : "")</text>")
            parts.append("<rect class=\"bar \(status)\(row.cached ? " cached" : "")\" data-stage=\"\(name)\" x=\"\(x(row.start))\" y=\"\(y)\" width=\"\(w(row.end - row.start))\" height=\"\(Self.number(Self.barHeight))\">"
                + "<title>\(name): \(status)\(row.cached ? " (cached)" : ""), \(Self.seconds(row.end - row.start))</title></rect>")
            for wait in row.waits {
                parts.append("<rect class=\"wait\" data-stage=\"\(name)\" x=\"\(x(wait.lowerBound))\" y=\"\(y)\" width=\"\(w(wait.upperBound - wait.lowerBound))\" height=\"\(Self.number(Self.barHeight))\">"
                    + "<title>\(name) waited for a lock \(Self.seconds(wait.upperBound - wait.lowerBound))</title></rect>")
            }
            lane += 1
        }
        parts.append("</svg>")
        return parts.joined(separator: "\n")
    }

    /// About five round ticks from 0 to `total` seconds.
    static func ticks(upTo total: Double) -> [Double] {
        let rough = total / 5
        let magnitude = pow(10, floor(log10(max(rough, 0.001))))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? rough
        return stride(from: 0, through: total, by: step).map { $0 }
    }

    static func seconds(_ value: Double) -> String {
        if value < 10 { return String(format: "%.1f s", value) }
        if value < 120 { return String(format: "%.0f s", value) }
        return String(format: "%dm%02ds", Int(value) / 60, Int(value) % 60)
    }

    static func number(_ value: Double) -> String { String(format: "%.1f", value) }
}
