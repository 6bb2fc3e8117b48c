import Foundation
import Hummingbird
import SutradharKit

/// The doctor page (`/doctor`): every check `sutradhar doctor` makes, run again on each load and
/// reloaded every `refreshSeconds` by the browser (a `Refresh` header: no script needed); and
/// `/api/doctor`, the `doctor --json` object.
public enum DoctorPage {
    /// How often the page reloads itself.
    static let refreshSeconds = 30

    /// Registers `/doctor` and `/api/doctor`.
    public static func register(on router: Router<DashboardRequestContext>, services: DashboardServices) {
        router.get("/doctor") { _, context in
            let report = await report(services)
            var response = Layout.response(title: "Doctor", section: .doctor, context: context, body: page(report, at: Date()))
            response.headers[.init("Refresh")!] = "\(refreshSeconds)"
            return response
        }
        router.get("/api/doctor") { _, _ in
            RunAPI.json(try OrderedJSONEncoder().serialized(await report(services)) + "\n")
        }
    }

    /// The checks for the dashboard's cache and the daemon its runs would use: made at most once
    /// every `DoctorReports.lifetime` (each report starts `nix` and asks the daemon; 100 loads of
    /// the page must not start 100 of them).
    static func report(_ services: DashboardServices) async -> DoctorReport {
        await services.doctorReports.report { await Doctor.report(options: services.runOptions()) }
    }

    static func page(_ report: DoctorReport, at time: Date) -> String {
        let rows = report.checks.map { check in
            "<tr data-check=\"\(MarkupText.escaped(check.name))\"><td>\(Layout.badge(check.ok ? "ok" : "failed"))</td>"
                + "<td>\(MarkupText.escaped(check.name))</td><td>\(MarkupText.escaped(check.detail))</td>"
                + "<td>\(check.ok ? "" : MarkupText.escaped(check.fix ?? ""))</td></tr>"
        }.joined()
        let verdict = report.ok ? "Everything a run needs is here." : "Something a run needs is missing: see the failed checks."
        return """
            <h1>Doctor</h1>
            <p class="verdict">\(Layout.badge(report.ok ? "passed" : "failed")) \(verdict)</p>
            <p class="facts">Checked at <time datetime="\(RunEvent.rfc3339(time))">\(Formatting.time(time))</time>; \
            this page checks again every \(refreshSeconds) s.</p>
            <table id="checks">
            <thead><tr><th>Result</th><th>Check</th><th>Found</th><th>Fix</th></tr></thead>
            <tbody>\(rows)</tbody>
            </table>
            """
    }
}

/// The latest doctor report and when it was made, shared by every request of one server;
/// concurrent requests while one is being made wait for it instead of starting their own.
actor DoctorReports {
    /// How long a report is shown before it is made again: 5 seconds.
    static let lifetime: Duration = .seconds(5)

    private var latest: (report: DoctorReport, made: ContinuousClock.Instant)?
    private var making: Task<DoctorReport, Never>?

    func report(_ make: @escaping @Sendable () async -> DoctorReport) async -> DoctorReport {
        if let latest, latest.made.duration(to: .now) < Self.lifetime { return latest.report }
        if let making { return await making.value }
        let task = Task { await make() }
        making = task
        let report = await task.value
        latest = (report, .now)
        making = nil
        return report
    }
}
