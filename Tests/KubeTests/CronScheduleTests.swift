import KubeRendering
import Testing

/// systemd OnCalendar expressions (a pipeline's `schedule:`) converted to a CronJob's cron, and
/// the ones cron cannot express.
struct CronScheduleTests {
    @Test(arguments: [
        ("*-*-* 03:00:00", "0 3 * * *"),
        ("*-*-* 02:30:00", "30 2 * * *"),
        ("02:30", "30 2 * * *"),
        ("daily", "0 0 * * *"),
        ("hourly", "0 * * * *"),
        ("weekly", "0 0 * * 1"),
        ("monthly", "0 0 1 * *"),
        ("quarterly", "0 0 1 1,4,7,10 *"),
        ("Mon..Fri 03:00", "0 3 * * 1-5"),
        ("Sat,Sun *-*-* 06:15:00", "15 6 * * 0,6"),
        ("Mon,Wed,Fri 22:00", "0 22 * * 1,3,5"),
        ("*:0/15", "*/15 * * * *"),
        ("*:5/10", "5-59/10 * * * *"),
        ("*:5/20", "5,25,45 * * * *"),
        ("*-*-* 0/6:00", "0 */6 * * *"),
        ("*-*-01 04:00", "0 4 1 * *"),
        ("*-01,07-01 00:00:00", "0 0 1 1,7 *"),
        ("*-*-1..7 03:00", "0 3 1-7 * *"),
        ("*-*-* 08,12,16:00", "0 8,12,16 * * *"),
    ])
    func anOnCalendarFormCronSharesIsConverted(onCalendar: String, cron: String) throws {
        let schedule = try CronSchedule.fromOnCalendar(onCalendar)
        #expect(schedule.expression == cron)
        #expect(schedule.timeZone == nil)
    }

    @Test func aTrailingTimeZoneIsKeptForTheCronJob() throws {
        #expect(try CronSchedule.fromOnCalendar("*-*-* 02:30:00 UTC") == CronSchedule(expression: "30 2 * * *", timeZone: "UTC"))
        #expect(try CronSchedule.fromOnCalendar("Mon 03:00 America/New_York") == CronSchedule(expression: "0 3 * * 1", timeZone: "America/New_York"))
    }

    @Test(arguments: [
        ("2027-*-* 03:00:00", "year"),
        ("*-*-* 03:00:30", "second"),
        ("*-02~03 00:00", "end of the month"),
        ("Mon *-*-01 03:00", "both weekdays and days of the month"),
        ("*-13-01 03:00", "outside 1..12"),
        ("*-*-* 25:00", "outside 0..23"),
        ("every night", "is not a weekday, date, time or time zone"),
        ("Fri..Mon 03:00", "is not a weekday, date, time or time zone"),
        ("*-*-* 03:00/0", "no positive step"),
    ])
    func anOnCalendarFormCronLacksIsRefusedNamingTheExpression(onCalendar: String, why: String) throws {
        let error = try #require(throws: KubeError.self) { try CronSchedule.fromOnCalendar(onCalendar) }
        #expect(error.code == .unconvertibleSchedule)
        #expect(error.message.contains("schedule '\(onCalendar)'"), "\(error.message)")
        #expect(error.message.contains(why), "\(error.message)")
    }
}
