import Foundation
import Synchronization

/// Browser sessions of a dashboard with a token: a person opens the login URL `serve` prints
/// once (the token in its query, as Jupyter does); the server answers with a session cookie and
/// sends the browser on to the page without the token in its address. Each session has its own
/// CSRF token, which every form of its pages carries and every POST made with its cookie must
/// send back.
///
/// Kept in memory: a restarted server asks for the login URL again. Bounded: at most
/// `maximumSessions` (the oldest goes first), each for `lifetime`.
final class DashboardSessions: Sendable {
    /// The cookie's name.
    static let cookieName = "sutradhar_session"
    /// How long a session lasts after its login: 12 hours.
    static let lifetime: TimeInterval = 12 * 60 * 60
    /// The most sessions kept at once.
    static let maximumSessions = 256

    struct Session: Sendable {
        let csrfToken: String
        let expires: Date
    }

    private let sessions = Mutex<[String: Session]>([:])

    init() {}

    /// A new session: its ID (the cookie's value) and CSRF token.
    func create(now: Date = Date()) -> (id: String, session: Session) {
        let id = Self.randomToken()
        let session = Session(csrfToken: Self.randomToken(), expires: now.addingTimeInterval(Self.lifetime))
        sessions.withLock { sessions in
            sessions = sessions.filter { $0.value.expires > now }
            while sessions.count >= Self.maximumSessions, let oldest = sessions.min(by: { $0.value.expires < $1.value.expires })?.key {
                sessions.removeValue(forKey: oldest)
            }
            sessions[id] = session
        }
        return (id, session)
    }

    /// The live session a `Cookie` header names, if any.
    func session(cookieHeader: String?, now: Date = Date()) -> (id: String, session: Session)? {
        guard let id = Self.cookie(Self.cookieName, in: cookieHeader) else { return nil }
        return sessions.withLock { sessions in
            guard let session = sessions[id] else { return nil }
            guard session.expires > now else {
                sessions.removeValue(forKey: id)
                return nil
            }
            return (id, session)
        }
    }

    /// Ends session `id` (logout).
    func end(_ id: String) {
        _ = sessions.withLock { $0.removeValue(forKey: id) }
    }

    /// The `Set-Cookie` value that opens a session: `HttpOnly` (no script reads it),
    /// `SameSite=Strict` (no other site's page sends it), `Secure` behind TLS, bounded life.
    static func setCookie(id: String, secure: Bool) -> String {
        "\(cookieName)=\(id); Path=/; Max-Age=\(Int(lifetime)); HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
    }

    /// The `Set-Cookie` value that ends it.
    static func clearCookie(secure: Bool) -> String {
        "\(cookieName)=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
    }

    /// The value of cookie `name` in a `Cookie` header (`a=1; b=2`).
    static func cookie(_ name: String, in header: String?) -> String? {
        guard let header else { return nil }
        for part in header.split(separator: ";") {
            let pair = part.split(separator: "=", maxSplits: 1)
            if pair.count == 2, pair[0].trimmingCharacters(in: .whitespaces) == name {
                return pair[1].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    /// 32 random bytes as unpadded base64url: 256 bits, safe in a cookie, a form and a URL.
    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}

/// Which `Host` names the server answers: the DNS-rebinding guard. A page on another site whose
/// name is made to resolve to 127.0.0.1 reaches a loopback server with its own name in `Host`;
/// answering only known names keeps it out.
struct HostPolicy: Sendable {
    /// The names answered besides the loopback names (`--allowed-host`), lowercased.
    let allowed: Set<String>
    /// The address listened on.
    let listenHost: String

    init(listenHost: String, allowed: [String]) {
        self.listenHost = listenHost.lowercased()
        self.allowed = Set(allowed.map { $0.lowercased() })
    }

    /// Whether a request with this `Host` header is answered: `localhost`, `127.0.0.1`,
    /// `[::1]`, the address listened on, and `--allowed-host` names, with any port; IP literals
    /// too when listening on every address (a literal cannot be rebound). No header (HTTP/1.0,
    /// in-process tests) is answered: a browser always sends one.
    func allows(_ hostHeader: String?) -> Bool {
        guard let hostHeader, !hostHeader.isEmpty else { return true }
        let name = Self.name(of: hostHeader.lowercased())
        if ["localhost", "127.0.0.1", "::1", listenHost].contains(name) || allowed.contains(name) { return true }
        let wildcard = listenHost == "0.0.0.0" || listenHost == "::"
        return wildcard && Self.isIPLiteral(name)
    }

    /// The name of a `Host` value without its port (`[::1]:7878` → `::1`).
    static func name(of host: String) -> String {
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            return String(host[host.index(after: host.startIndex)..<close])
        }
        if let colon = host.lastIndex(of: ":"), host.filter({ $0 == ":" }).count == 1 { return String(host[..<colon]) }
        return host
    }

    static func isIPLiteral(_ name: String) -> Bool {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        if parts.count == 4, parts.allSatisfy({ UInt8($0) != nil }) { return true }
        return name.contains(":") && name.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." }
    }
}
