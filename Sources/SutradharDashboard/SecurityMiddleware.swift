import Foundation
import HTTPTypes
import Hummingbird

/// Guards every route: the bearer token (when one is configured), a fresh CSP nonce per
/// response, the security headers, and errors turned into pages that say what to do.
struct SecurityMiddleware: RouterMiddleware {
    typealias Context = DashboardRequestContext

    /// The token every request must carry, as bytes; nil: no token configured.
    let token: [UInt8]?

    init(token: String?) {
        self.token = token.map { Array($0.utf8) }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.nonce = Self.makeNonce()
        var response: Response
        if let token, !Self.authorized(request.headers[.authorization], token: token) {
            response = Response(status: .unauthorized, headers: [.wwwAuthenticate: #"Bearer realm="sutradhar""#, .contentType: "text/plain; charset=utf-8"],
                                body: .init(byteBuffer: ByteBuffer(string: "401: this dashboard needs 'Authorization: Bearer TOKEN' (the token in the server's --token-file)\n")))
        } else {
            do {
                response = try await next(request, context)
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
        }
        response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy(nonce: context.nonce)
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        return response
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
        let given = Array(header.dropFirst(7).trimmingCharacters(in: .whitespaces).utf8)
        var difference = UInt8(given.count == token.count ? 0 : 1)
        for index in 0..<token.count {
            difference |= token[index] ^ (index < given.count ? given[index] : 0)
        }
        return difference == 0
    }
}
