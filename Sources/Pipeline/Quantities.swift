/// A number of bytes written the way people write them: `512MiB`, `20GiB`, `1.5G`, `4096`.
public struct ByteSize: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The size in bytes.
    public let bytes: Int64

    /// Creates a size from a byte count.
    public init(bytes: Int64) { self.bytes = bytes }

    private static let units: [(suffix: String, factor: Double)] = [
        ("kib", 1024), ("mib", 1024 * 1024), ("gib", 1024 * 1024 * 1024), ("tib", 1024 * 1024 * 1024 * 1024),
        ("kb", 1000), ("mb", 1e6), ("gb", 1e9), ("tb", 1e12),
        ("k", 1024), ("m", 1024 * 1024), ("g", 1024 * 1024 * 1024), ("t", 1024 * 1024 * 1024 * 1024),
        ("b", 1),
    ]

    /// Parses `NUMBER[UNIT]`; binary units (KiB, MiB, GiB, TiB; K, M, G, T as in docker) and decimal
    /// ones (KB, MB, GB, TB). Returns nil for anything else, negative or overflowing values.
    public init?(parsing text: String) {
        let lowered = text.trimmingSpaces().lowercased()
        var number = Substring(lowered)
        var factor = 1.0
        for unit in Self.units where lowered.hasSuffix(unit.suffix) {
            number = lowered.dropLast(unit.suffix.count)
            factor = unit.factor
            break
        }
        guard let value = Double(number.trimmingSpaces()), value >= 0, number.first?.isNumber == true
        else { return nil }
        let bytes = value * factor
        guard bytes < Double(Int64.max) else { return nil }
        self.bytes = Int64(bytes)
    }

    public static func < (lhs: ByteSize, rhs: ByteSize) -> Bool { lhs.bytes < rhs.bytes }

    /// The largest binary unit that keeps the number at least 1, e.g. `1.5 GiB`.
    public var description: String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var index = 0
        while value >= 1024, index < units.count - 1 {
            value /= 1024
            index += 1
        }
        if index == 0 { return "\(bytes) B" }
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? "\(Int(rounded)) \(units[index])" : "\(rounded) \(units[index])"
    }
}

/// Durations written as `250ms`, `30s`, `5m`, `1h30m`, `14d`.
public enum DurationText {
    private static let units: [(suffix: String, milliseconds: Int64)] = [
        ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000), ("w", 604_800_000),
    ]

    /// Parses a sequence of NUMBER UNIT pairs; nil if anything else is present or the total is zero.
    public static func parse(_ text: String) -> Duration? {
        var rest = Substring(text.trimmingSpaces())
        guard !rest.isEmpty else { return nil }
        var total: Int64 = 0
        while !rest.isEmpty {
            let digits = rest.prefix(while: \.isNumber)
            guard !digits.isEmpty, let value = Int64(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            let letters = rest.prefix(while: \.isLetter)
            guard let unit = units.first(where: { $0.suffix == letters }) else { return nil }
            rest = rest.dropFirst(letters.count)
            let (product, overflow) = value.multipliedReportingOverflow(by: unit.milliseconds)
            let (sum, sumOverflow) = total.addingReportingOverflow(product)
            guard !overflow, !sumOverflow else { return nil }
            total = sum
        }
        return total > 0 ? .milliseconds(total) : nil
    }

    /// A short human form, e.g. `1m30s`, `250ms`.
    public static func format(_ duration: Duration) -> String {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        if milliseconds < 1000 { return "\(milliseconds)ms" }
        var seconds = milliseconds / 1000
        var text = ""
        for (suffix, size) in [("d", Int64(86_400)), ("h", 3600), ("m", 60)] where seconds >= size {
            text += "\(seconds / size)\(suffix)"
            seconds %= size
        }
        if seconds > 0 || text.isEmpty { text += "\(seconds)s" }
        return text
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs (no Foundation needed).
    func trimmingSpaces() -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let start = firstIndex(where: { !isSpace($0) }) else { return "" }
        let end = lastIndex(where: { !isSpace($0) })!
        return Substring(self[start...end])
    }
}
