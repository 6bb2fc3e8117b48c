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

    /// The checks for the dashboard's cache and the daemon its runs would use.
    static func report(_ services: DashboardServices) async -> DoctorReport {
        await Doctor.report(options: services.runOptions())
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
