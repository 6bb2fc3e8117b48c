import Charts
import Foundation
import Hummingbird

/// The page frame every HTML page shares: title, navigation, the stylesheet and the one script
/// (carrying the response's CSP nonce). Pages pass their body already escaped.
public enum Layout {
    /// The sections the navigation shows, in order.
    public enum Section: String, Sendable, CaseIterable {
        case runs, pipelines, cache, doctor

        var title: String { rawValue.prefix(1).uppercased() + rawValue.dropFirst() }
        var path: String { self == .runs ? "/" : "/\(rawValue)" }
    }

    /// A whole HTML page. `body` is markup (every run-derived string in it already passed
    /// through `MarkupText.escaped`); `title` is escaped here. `bodyAttributes` (escaped by the
    /// caller) tell the live script what to follow, e.g. `data-live="/events/runs"`.
    /// - Parameter logout: the CSRF token of a cookie session, which gets a "Log out" button; nil for none.
    public static func page(title: String, section: Section?, nonce: String, bodyAttributes: String = "", body: String,
                            logout: String? = nil) -> String {
        let navigation = Section.allCases.map { item in
            "<a href=\"\(item.path)\"\(item == section ? " aria-current=\"page\"" : "")>\(item.title)</a>"
        }.joined(separator: " · ")
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta name="color-scheme" content="light dark">
            <title>\(MarkupText.escaped(title)) · sutradhar</title>
            <link rel="stylesheet" href="/assets/style.css">
            <script nonce="\(nonce)" src="/assets/live.js" defer></script>
            </head>
            <body\(bodyAttributes.isEmpty ? "" : " " + bodyAttributes)>
            <header><a class="brand" href="/">sutradhar</a><nav>\(navigation)</nav>\(logout.map { "<form class=\"logout\" method=\"post\" action=\"/logout\">\(csrfField($0))<button type=\"submit\">Log out</button></form>" } ?? "")</header>
            <main>
            \(body)
            </main>
            </body>
            </html>
            """
    }

    /// The hidden form field that carries a cookie session's CSRF token (empty without one).
    static func csrfField(_ token: String?) -> String {
        token.map { "<input type=\"hidden\" name=\"csrf\" value=\"\(MarkupText.escaped($0))\">" } ?? ""
    }

    /// An HTML response (`text/html; charset=utf-8`).
    public static func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// A page in the frame, as a response.
    public static func response(title: String, section: Section?, context: DashboardRequestContext, status: HTTPResponse.Status = .ok,
                                bodyAttributes: String = "", body: String) -> Response {
        html(page(title: title, section: section, nonce: context.nonce, bodyAttributes: bodyAttributes, body: body,
                  logout: context.csrfToken), status: status)
    }

    /// The 404 page: what was not found and where to look instead.
    static func notFound(context: DashboardRequestContext, what: String = "this page") -> Response {
        response(title: "Not found", section: nil, context: context, status: .notFound,
                 body: "<h1>Not found</h1><p>There is no \(MarkupText.escaped(what)) here. See <a href=\"/\">the runs</a>.</p>")
    }

    /// An error page with its status and (escaped) message.
    static func errorPage(status: HTTPResponse.Status, message: String, context: DashboardRequestContext) -> Response {
        response(title: "\(status.code) \(status.reasonPhrase)", section: nil, context: context, status: status,
                 body: "<h1>\(status.code) \(MarkupText.escaped(status.reasonPhrase))</h1><p class=\"error\">\(MarkupText.escaped(message))</p>")
    }

    /// A status badge: the word, in a coloured pill (the word carries the meaning; the colour only helps).
    public static func badge(_ status: String) -> String {
        let word = MarkupText.escaped(status)
        return "<span class=\"badge status-\(word)\">\(word)</span>"
    }
}
