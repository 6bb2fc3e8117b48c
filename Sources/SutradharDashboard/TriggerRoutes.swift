import Foundation
import Hummingbird
import Logging
import SutradharKit

/// The routes that start runs (`--allow-trigger`): POST only, behind the token (the server
/// refuses `--allow-trigger` without one; a browser's session cookie needs its CSRF token, see
/// `SecurityMiddleware`), answered with 303 to the new run's page.
/// Without `--allow-trigger` they answer 403; a GET answers 405.
public enum TriggerRoutes {
    /// Registers `POST /runs/:id/rerun`, `POST /runs/:id/rerun-failed` and
    /// `POST /pipelines/:name/run` (form field `commit`).
    public static func register(on router: Router<DashboardRequestContext>, services: DashboardServices) {
        for path in ["/runs/:id/rerun", "/runs/:id/rerun-failed", "/pipelines/:name/run"] {
            router.get(RouterPath(path)) { _, _ -> Response in
                Response(status: .methodNotAllowed, headers: [.allow: "POST", .contentType: "text/plain; charset=utf-8"],
                         body: .init(byteBuffer: ByteBuffer(string: "405: this starts a run; POST to it (with the token)\n")))
            }
        }
        router.post("/runs/:id/rerun") { _, context in
            try await rerun(context, services: services, onlyFailed: false)
        }
        router.post("/runs/:id/rerun-failed") { _, context in
            try await rerun(context, services: services, onlyFailed: true)
        }
        router.post("/pipelines/:name/run") { request, context in
            try checkAllowed(services)
            guard let name = context.parameters.get("name"), PipelineCatalog.isName(name) else { throw HTTPError(.notFound) }
            let form = try await formFields(request)
            let commit = form["commit"].flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0.trimmingCharacters(in: .whitespaces) }
            if let commit, !commit.allSatisfy({ $0.isLetter || $0.isNumber || "-_./".contains($0) }) || commit.hasPrefix("-") {
                throw HTTPError(.badRequest, message: "commit '\(commit)': give a commit ID, branch or tag")
            }
            return try await start(pipeline: name, commit: commit, stages: nil, services: services)
        }
    }

    /// The fields of an `application/x-www-form-urlencoded` body (at most 16 KiB).
    static func formFields(_ request: Request) async throws -> [String: String] {
        var request = request
        let body = try await request.collectBody(upTo: 16 * 1024)
        return FormBody.fields(body.readableBytesView)
    }

    static func checkAllowed(_ services: DashboardServices) throws {
        guard services.configuration.allowTrigger else {
            throw HTTPError(.forbidden, message: "this dashboard is read-only: it was started without --allow-trigger")
        }
    }

    static func rerun(_ context: DashboardRequestContext, services: DashboardServices, onlyFailed: Bool) async throws -> Response {
        try checkAllowed(services)
        let id = try RunPages.runID(context)
        guard let details = try services.history.run(id), details.record.id == id else { throw HTTPError(.notFound) }
        let record = details.record
        var stages: [String]?
        if onlyFailed {
            let again = try RunTimeline.read(run: id, in: services.history).stagesToRunAgain
            guard !again.isEmpty else {
                throw HTTPError(.conflict, message: "run \(id) has no failed stage to run again; use 'run again'")
            }
            stages = again
        }
        let commit = record.commitSHA.isEmpty ? record.ref : record.commitSHA
        return try await start(pipeline: record.pipeline, commit: commit, stages: stages, services: services)
    }

    /// Starts `pipeline` (at `commit`, only `stages` and what they need) in the background,
    /// recorded as `manual` (a person pressed the button), and redirects to its page.
    static func start(pipeline: String, commit: String?, stages: [String]?, services: DashboardServices) async throws -> Response {
        let path: String
        let plan: Plan
        do {
            path = try services.catalog.path(of: pipeline)
        } catch {
            throw HTTPError(.notFound, message: error.message)
        }
        do {
            plan = try Definitions.load(path)
        } catch {
            throw HTTPError(.unprocessableContent, message: "\(path) is not a valid definition:\n" + error.diagnostics.map(\.description).joined(separator: "\n"))
        }
        var chosen = plan
        if let stages {
            guard let restricted = plan.restricted(to: stages.filter { plan.stage(named: $0) != nil }) else {
                throw HTTPError(.conflict, message: "the definition \(path) no longer has the stages \(stages.joined(separator: ", "))")
            }
            chosen = restricted
        }
        let options = services.runOptions(commit: commit)
        let id: String
        do {
            id = try await services.runs.start(chosen, options: options, trigger: .manual)
        } catch {
            throw HTTPError(.serviceUnavailable, message: error.message)
        }
        services.logger.info("run started from the dashboard", metadata: ["run": "\(id)", "pipeline": "\(pipeline)"])
        return Response(status: .seeOther, headers: [.location: "/runs/\(id)"])
    }
}
