import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Guards every route, in this order: the `Host` allow-list (DNS rebinding), the login URL
/// (`/login?token=…` opens a cookie session), authentication (the bearer token, or a session
/// cookie), and for every POST the Fetch Metadata and `Origin` check plus — for a cookie
/// session — its CSRF token. Then a fresh CSP nonce per response, the security headers, and
/// errors turned into pages that say what to do.
struct SecurityMiddleware: RouterMiddleware {
    typealias Context = DashboardRequestContext

    /// The token every request must carry, as bytes; nil: no token configured.
    let token: [UInt8]?
    let hosts: HostPolicy
    let sessions: DashboardSessions

    init(token: String?, hosts: HostPolicy = HostPolicy(listenHost: "127.0.0.1", allowed: []), sessions: DashboardSessions = DashboardSessions()) {
        self.token = token.map { Array($0.utf8) }
        self.hosts = hosts
        self.sessions = sessions
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.nonce = Self.makeNonce()
        var response: Response
        do {
            response = try await guarded(request, context: &context, next: next)
        } catch let error as HTTPError where error.body != nil {
            response = Layout.errorPage(status: error.status, message: error.body ?? "", context: context)
        } catch let error as any HTTPResponseError where error.status == .notFound {
            response = Layout.notFound(context: context)
        } catch let error as any HTTPResponseError {
            response = Layout.errorPage(status: error.status, message: error.status.reasonPhrase, context: context)
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            response = Layout.errorPage(status: .internalServerError, message: "\(error)", context: context)
        }
        response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy(nonce: context.nonce)
        response.headers[.xContentTypeOptions] = "nosniff"
        // `same-origin`, not `no-referrer`: under `no-referrer` a browser sends `Origin: null`
        // with its own forms, which the POST check below could not tell from a sandboxed page.
        response.headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        return response
    }

    private func guarded(_ request: Request, context: inout Context,
                         next: (Request, Context) async throws -> Response) async throws -> Response {
        let host = request.head.authority
        guard hosts.allows(host) else {
            throw HTTPError(.misdirectedRequest, message: "this server does not answer for the host name '\(host ?? "")': it answers localhost, 127.0.0.1 and [::1] (a page on another site whose name was made to point here is refused); start it with --allowed-host NAME to answer NAME too")
        }
        guard let token else { return try await next(request, context) }
        if request.uri.path == "/login" { return login(request) }
        if request.uri.path == "/logged-out" {
            return Layout.response(title: "Logged out", section: nil, context: context,
                                   body: "<h1>Logged out</h1><p>To come back, open the login URL <code>sutradhar serve</code> printed.</p>")
        }
        var session: (id: String, session: DashboardSessions.Session)?
        if !Self.authorized(request.headers[.authorization], token: token) {
            session = sessions.session(cookieHeader: request.headers[.cookie])
            guard session != nil else {
                return Response(status: .unauthorized, headers: [.wwwAuthenticate: #"Bearer realm="sutradhar""#, .contentType: "text/plain; charset=utf-8"],
                                body: .init(byteBuffer: ByteBuffer(string: "401: this dashboard needs a login: open the login URL 'sutradhar serve' printed (…/login?token=…), or send 'Authorization: Bearer TOKEN' (the token in the server's --token-file)\n")))
            }
        }
        context.csrfToken = session?.session.csrfToken
        var request = request
        if request.method == .post {
            try Self.checkFetchMetadata(request, host: host)
            if let session {
                // A cookie rides along on any request the browser makes: only a form of this
                // session's own pages knows its CSRF token.
                try await Self.checkCSRF(&request, expected: session.session.csrfToken)
            }
            if request.uri.path == "/logout" {
                if let session { sessions.end(session.id) }
                return Response(status: .seeOther, headers: [.location: "/logged-out", .setCookie: DashboardSessions.clearCookie(secure: false)])
            }
        }
        return try await next(request, context)
    }

    /// `GET /login?token=TOKEN`: the right token opens a session and redirects to `/` (so the
    /// token leaves the address bar and the history); a wrong one is a 401 that says so.
    private func login(_ request: Request) -> Response {
        guard let token, let given = request.uri.queryParameters.get("token"), Self.matches(Array(given.utf8), token) else {
            return Response(status: .unauthorized, headers: [.contentType: "text/plain; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: "401: this login link's token is not the server's; open the URL 'sutradhar serve' printed\n")))
        }
        let (id, _) = sessions.create()
        return Response(status: .seeOther, headers: [.location: "/", .setCookie: DashboardSessions.setCookie(id: id, secure: false),
                                                     .cacheControl: "no-store"])
    }

    /// A state-changing request must come from this server's own pages: `Sec-Fetch-Site`
    /// `same-origin` or `none` (typed, bookmarked) when the browser sends it, and an `Origin`
    /// equal to this server's when it sends one. Scripts (`curl`) send neither and pass.
    static func checkFetchMetadata(_ request: Request, host: String?) throws {
        if let site = request.headers[HTTPField.Name("Sec-Fetch-Site")!], site != "same-origin", site != "none" {
            throw HTTPError(.forbidden, message: "refused: this request came from another site (Sec-Fetch-Site: \(site)); start runs from this dashboard's own pages")
        }
        if let origin = request.headers[HTTPField.Name("Origin")!] {
            // A privacy setting may make a browser say `null` for its own form: Fetch Metadata decides then.
            let ownNull = origin == "null" && request.headers[HTTPField.Name("Sec-Fetch-Site")!] == "same-origin"
            guard ownNull || host.map({ origin == "http://\($0)" || origin == "https://\($0)" }) == true else {
                throw HTTPError(.forbidden, message: "refused: the request's Origin (\(origin)) is not this dashboard's; start runs from this dashboard's own pages")
            }
        }
    }

    /// The session's CSRF token, from the `X-CSRF-Token` header or the form field `csrf` (the
    /// body is read, at most 16 KiB, and handed on to the route).
    static func checkCSRF(_ request: inout Request, expected: String) async throws {
        var given = request.headers[HTTPField.Name("X-CSRF-Token")!]
        if given == nil {
            let body = try await request.collectBody(upTo: 16 * 1024)
            given = FormBody.fields(body.readableBytesView)["csrf"]
        }
        guard let given else {
            throw HTTPError(.forbidden, message: "refused: the form carried no CSRF token; reload the page and press the button again")
        }
        guard matches(Array(given.utf8), Array(expected.utf8)) else {
            throw HTTPError(.forbidden, message: "refused: the form's CSRF token is not this session's; reload the page and press the button again")
        }
    }

    /// Only the page's own script (its nonce) runs; everything else comes from this server;
    /// no frame may embed a page; forms post only here.
    static func contentSecurityPolicy(nonce: String) -> String {
        "default-src 'self'; script-src 'nonce-\(nonce)'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            + "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    }

    /// 16 random bytes, base64: unguessable per response, so an injected script cannot carry it.
    static func makeNonce() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64EncodedString()
    }

    /// `Authorization: Bearer TOKEN` with the right token, compared in constant time (the time
    /// taken does not say how many leading bytes matched).
    static func authorized(_ header: String?, token: [UInt8]) -> Bool {
        guard let header, header.count > 7, header.prefix(7).lowercased() == "bearer " else { return false }
        return matches(Array(header.dropFirst(7).trimmingCharacters(in: .whitespaces).utf8), token)
    }

    /// Whether `given` equals `secret`, compared in constant time (the time taken does not say
    /// how many leading bytes matched): the token, a login link's token, a CSRF token.
    static func matches(_ given: [UInt8], _ secret: [UInt8]) -> Bool {
        var difference = UInt8(given.count == secret.count ? 0 : 1)
        for index in 0..<secret.count {
            difference |= secret[index] ^ (index < given.count ? given[index] : 0)
        }
        return difference == 0
    }
}
