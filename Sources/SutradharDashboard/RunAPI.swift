import Foundation
import Hummingbird
import SutradharKit

/// The JSON API of the runs: the shapes the CLI prints with `--json`, from the same encoders.
public enum RunAPI {
    /// Registers `/api/runs` (a JSON array of `runs ls --json` objects; the runs page's filters
    /// and `limit`, `offset`) and `/api/runs/:id` (`runs show --json`: the run-finished event,
    /// or the run's row while it runs).
    public static func register(on router: Router<DashboardRequestContext>, services: DashboardServices) {
        router.get("/api/runs") { request, _ in
            let query = try RunsQuery(request)
            let limit = min(1000, max(1, Int(request.uri.queryParameters.get("limit") ?? "") ?? RunPages.pageSize))
            let runs = try services.history.runs(pipeline: query.pipeline, status: query.status, trigger: query.trigger,
                                                 limit: limit, offset: query.offset)
            return json("[" + runs.map(\.jsonLine).joined(separator: ",\n") + "]\n")
        }
        router.get("/api/runs/:id") { _, context in
            let id = try RunPages.runID(context)
            guard let details = try services.history.run(id), details.record.id == id else {
                return json(#"{"error":"not-found","message":"no such run; GET /api/runs lists them"}"# + "\n", status: .notFound)
            }
            return json((details.record.summary ?? details.record.jsonLine) + "\n")
        }
    }

    static func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
