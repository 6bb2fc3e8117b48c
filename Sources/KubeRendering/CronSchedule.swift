import Foundation

/// A CronJob's schedule: a five-field cron expression and, when the systemd expression named
/// one, its time zone (`spec.timeZone`, stable since Kubernetes 1.27).
public struct CronSchedule: Sendable, Equatable {
    /// `MINUTE HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK`, e.g. `30 2 * * *`.
    public let expression: String
    /// An IANA zone such as `Europe/Berlin`; nil means the cluster controller's zone (usually UTC).
    public let timeZone: String?

    /// Creates a schedule from parts already in cron form.
    public init(expression: String, timeZone: String? = nil) {
        self.expression = expression
        self.timeZone = timeZone
    }

    /// Converts a systemd `OnCalendar=` expression (the form a pipeline's `schedule:` is written
    /// in) to cron, where cron can say the same thing: the shorthands (`daily`, `weekly`, …),
    /// `[WEEKDAYS] [*-MONTH-DAY] [HOUR:MINUTE[:00]] [TIMEZONE]` with lists (`,`), ranges (`..`) and
    /// repetitions (`/`).
    /// - Throws: `KubeError` `.unconvertibleSchedule`, naming the expression and what cron lacks,
    ///   for what cron cannot express: a year, a second other than 0, the last days of a month
    ///   (`~`), or both a weekday and a day of the month (systemd needs both, cron either).
    public static func fromOnCalendar(_ text: String) throws(KubeError) -> CronSchedule {
        let expression = text.trimmingCharacters(in: .whitespaces)
        func refuse(_ why: String) -> KubeError {
            KubeError(.unconvertibleSchedule, "schedule '\(expression)' has no cron equivalent for a CronJob: \(why); "
                + "write it in a form cron shares, e.g. '*-*-* 02:30:00', 'Mon..Fri 03:00' or 'daily'")
        }
        if let shorthand = shorthands[expression.lowercased()] { return CronSchedule(expression: shorthand) }

        var tokens = expression.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard !tokens.isEmpty else { throw refuse("it is empty") }
        var weekdays: Set<Int>?
        var date: (month: Set<Int>?, day: Set<Int>?) = (nil, nil)
        var time: (hour: Set<Int>, minute: Set<Int>) = ([0], [0])
        var timeZone: String?
        if tokens.count > 1, let last = tokens.last, isTimeZone(last) {
            timeZone = last
            tokens.removeLast()
        }
        for (index, token) in tokens.enumerated() {
            if token.contains("~") {
                throw refuse("'\(token)' counts days from the end of the month, which cron cannot")
            } else if token.contains(":") {
                time = try parseTime(token, refuse: refuse)
            } else if let first = token.first, first.isNumber || first == "*" {
                date = try parseDate(token, refuse: refuse)
            } else if index == 0, let days = parseWeekdays(token) {
                weekdays = days
            } else {
                throw refuse("'\(token)' is not a weekday, date, time or time zone")
            }
        }
        if let day = date.day, let weekdays, day.count < 31, weekdays.count < 7 {
            throw refuse("it names both weekdays and days of the month; systemd fires when both match, cron when either does")
        }
        // cron counts Sunday as 0; systemd (ISO) as 7.
        let cronWeekdays = weekdays.map { Set($0.map { $0 % 7 }) }
        let fields = [
            field(time.minute, in: 0...59), field(time.hour, in: 0...23), field(date.day ?? Set(1...31), in: 1...31),
            field(date.month ?? Set(1...12), in: 1...12), field(cronWeekdays ?? Set(0...6), in: 0...6),
        ]
        return CronSchedule(expression: fields.joined(separator: " "), timeZone: timeZone)
    }

    /// systemd's shorthands (systemd.time(7)) in cron.
    static let shorthands: [String: String] = [
        "minutely": "* * * * *", "hourly": "0 * * * *", "daily": "0 0 * * *", "weekly": "0 0 * * 1",
        "monthly": "0 0 1 * *", "yearly": "0 0 1 1 *", "annually": "0 0 1 1 *",
        "quarterly": "0 0 1 1,4,7,10 *", "semiannually": "0 0 1 1,7 *",
    ]

    private static let weekdayNames: [(short: String, long: String)] = [
        ("mon", "monday"), ("tue", "tuesday"), ("wed", "wednesday"), ("thu", "thursday"),
        ("fri", "friday"), ("sat", "saturday"), ("sun", "sunday"),
    ]

    /// A time zone token: an IANA name (`UTC`, `Europe/Berlin`), not a weekday list.
    private static func isTimeZone(_ token: String) -> Bool {
        guard let first = token.first, first.isLetter, parseWeekdays(token) == nil else { return false }
        return token.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_+-/".contains($0)) }
    }

    /// `Mon`, `Mon,Wed`, `Mon..Fri`, `Sat,Sun` as ISO day numbers (Monday 1 … Sunday 7).
    private static func parseWeekdays(_ token: String) -> Set<Int>? {
        func day(_ name: Substring) -> Int? {
            let name = name.lowercased()
            return weekdayNames.firstIndex { $0.short == name || $0.long == name }.map { $0 + 1 }
        }
        var days: Set<Int> = []
        for item in token.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = item.components(separatedBy: "..")
            if bounds.count == 1, let one = day(item) {
                days.insert(one)
            } else if bounds.count == 2, let low = day(Substring(bounds[0])), let high = day(Substring(bounds[1])), low <= high {
                days.formUnion(low...high)
            } else {
                return nil
            }
        }
        return days
    }

    private static func parseDate(_ token: String, refuse: (String) -> KubeError) throws(KubeError) -> (month: Set<Int>?, day: Set<Int>?) {
        var parts = token.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        if parts.count == 3 {
            guard parts[0] == "*" else { throw refuse("it names the year '\(parts[0])', and cron has no year field") }
            parts.removeFirst()
        }
        guard parts.count == 2 else { throw refuse("'\(token)' is not a date of the form *-MONTH-DAY") }
        return (try values(parts[0], in: 1...12, what: "month", refuse: refuse),
                try values(parts[1], in: 1...31, what: "day of the month", refuse: refuse))
    }

    private static func parseTime(_ token: String, refuse: (String) -> KubeError) throws(KubeError) -> (hour: Set<Int>, minute: Set<Int>) {
        let parts = token.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 || parts.count == 3 else { throw refuse("'\(token)' is not a time of the form HOUR:MINUTE[:SECOND]") }
        if parts.count == 3 {
            let seconds = try values(parts[2], in: 0...59, what: "second", refuse: refuse)
            guard seconds == [0] else { throw refuse("it fires at second '\(parts[2])', and cron fires only at second 0") }
        }
        return (try values(parts[0], in: 0...23, what: "hour", refuse: refuse) ?? Set(0...23),
                try values(parts[1], in: 0...59, what: "minute", refuse: refuse) ?? Set(0...59))
    }

    /// One numeric component: `*`, `N`, `N..M`, `N/STEP`, `N..M/STEP`, `*/STEP`, or a `,` list of
    /// them; nil for `*` (every value).
    private static func values(_ text: String, in range: ClosedRange<Int>, what: String,
                               refuse: (String) -> KubeError) throws(KubeError) -> Set<Int>? {
        if text == "*" { return nil }
        var result: Set<Int> = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let stepParts = item.split(separator: "/", omittingEmptySubsequences: false)
            guard stepParts.count <= 2 else { throw refuse("'\(item)' is not a \(what)") }
            var step = 1
            if stepParts.count == 2 {
                guard let parsed = Int(stepParts[1]), parsed > 0 else { throw refuse("'\(item)' has no positive step") }
                step = parsed
            }
            let base = stepParts[0]
            var low: Int, high: Int
            if base == "*" {
                (low, high) = (range.lowerBound, range.upperBound)
            } else if let dots = base.range(of: "..") {
                guard let a = Int(base[..<dots.lowerBound]), let b = Int(base[dots.upperBound...]) else {
                    throw refuse("'\(item)' is not a \(what) range")
                }
                (low, high) = (a, b)
            } else {
                guard let a = Int(base) else { throw refuse("'\(item)' is not a \(what)") }
                (low, high) = (a, stepParts.count == 2 ? range.upperBound : a)
            }
            guard range.contains(low), range.contains(high), low <= high else {
                throw refuse("'\(item)' is outside \(range.lowerBound)..\(range.upperBound), the \(what)s there are")
            }
            result.formUnion(stride(from: low, through: high, by: step))
        }
        return result
    }

    /// The shortest common cron form of a set: `*`, `*/15`, `5-59/10`, `1-5`, `1,3,5`, `0,6`; a step
    /// only for four values or more (`5,25,45` reads more plainly than `5-59/20`).
    static func field(_ values: Set<Int>, in range: ClosedRange<Int>) -> String {
        let sorted = values.sorted()
        if sorted.count == range.count { return "*" }
        if sorted.count >= 4, let first = sorted.first {
            let step = sorted[1] - first
            let isStride = zip(sorted, sorted.dropFirst()).allSatisfy { $1 - $0 == step }
            if isStride, step > 1, sorted.last! + step > range.upperBound, first < step {
                return first == range.lowerBound ? "*/\(step)" : "\(first)-\(range.upperBound)/\(step)"
            }
        }
        var parts: [String] = []
        var index = 0
        while index < sorted.count {
            var end = index
            while end + 1 < sorted.count, sorted[end + 1] == sorted[end] + 1 { end += 1 }
            if end - index >= 2 {
                parts.append("\(sorted[index])-\(sorted[end])")
            } else {
                parts += sorted[index...end].map(String.init)
            }
            index = end + 1
        }
        return parts.joined(separator: ",")
    }
}
