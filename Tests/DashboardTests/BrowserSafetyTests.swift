import Foundation
#if canImport(Glibc)
import Glibc
#endif
import HTTPTypes
import Hummingbird
import HummingbirdTesting
@testable import SutradharDashboard
import SutradharKit
import Synchronization
import Testing

/// What a person's browser needs and what a hostile page must not get: the login URL and its
/// cookie, CSRF tokens with Origin and Fetch Metadata checks, the Host allow-list, a form parser
/// that cannot crash, and token files that are secrets.
@Suite struct BrowserSafetyTests {
    static let token = "s3cret-token-0123456789abcdef"
    static let headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]

    /// Logs in through the login URL: the session cookie and the CSRF token of its pages.
    func logIn(_ client: some TestClientProtocol) async throws -> (cookie: String, csrf: String) {
        let login = try await client.execute(uri: "/login?token=\(Self.token)", method: .get)
        #expect(login.status == .seeOther)
        #expect(login.headers[.location] == "/")
        let setCookie = try #require(login.headers[.setCookie])
        let cookie = try #require(setCookie.split(separator: ";").first.map(String.init))
        let page = try await client.execute(uri: "/runs/\(DashboardFixture.failed)", method: .get, headers: [.cookie: cookie])
        #expect(page.status == .ok)
        let csrf = try #require(page.text.firstMatch(of: /name="csrf" value="([A-Za-z0-9_\-]+)"/)?.1)
        return (cookie, String(csrf))
    }

    @Test func theLoginURLSetsAStrictHttpOnlyCookieAndTheTokenLeavesTheAddress() async throws {
        try await DashboardFixture.with { fixture in
            try await fixture.test(token: Self.token) { client in
                let login = try await client.execute(uri: "/login?token=\(Self.token)", method: .get)
                #expect(login.status == .seeOther && login.headers[.location] == "/")
                let cookie = try #require(login.headers[.setCookie])
                for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
                    #expect(cookie.contains(attribute), "\(cookie)")
                }
                let wrong = try await client.execute(uri: "/login?token=\(Self.token.dropLast())x", method: .get)
                #expect(wrong.status == .unauthorized && wrong.headers[.setCookie] == nil)
                let session = String(cookie.split(separator: ";")[0])
                #expect(try await client.execute(uri: "/", method: .get, headers: [.cookie: session]).status == .ok)
                #expect(try await client.execute(uri: "/", method: .get, headers: [.cookie: "sutradhar_session=forged"]).status == .unauthorized)
                // Bearer keeps working for scripts.
                #expect(try await client.execute(uri: "/api/runs", method: .get, headers: [.authorization: "Bearer \(Self.token)"]).status == .ok)
            }
        }
    }

    @Test func aPostWithTheSessionCookieNeedsItsCSRFTokenAndASameOriginRequest() async throws {
        try await DashboardFixture.with { fixture in
            try await fixture.test(token: Self.token, allowTrigger: true) { client in
                let (cookie, csrf) = try await logIn(client)
                let uri = "/pipelines/nosuch/run"  // a refusal before any run, or a 404 after the checks
                var refusals: [(String, HTTPFields, String)] = [
                    ("no token", [.cookie: cookie], "commit="),
                    // Another last character, whatever the token's own (it may end in "A").
                    ("wrong token", [.cookie: cookie], "csrf=\(csrf.dropLast())\(csrf.last == "A" ? "B" : "A")&commit="),
                ]
                var crossSite: HTTPFields = [.cookie: cookie]
                crossSite[HTTPField.Name("Sec-Fetch-Site")!] = "cross-site"
                refusals.append(("cross-site fetch metadata", crossSite, "csrf=\(csrf)&commit="))
                var foreign: HTTPFields = [.cookie: cookie]
                foreign[HTTPField.Name("Origin")!] = "http://evil.example:8080"
                refusals.append(("foreign origin", foreign, "csrf=\(csrf)&commit="))
                for (name, headers, body) in refusals {
                    var all = headers
                    all[.contentType] = "application/x-www-form-urlencoded"
                    let response = try await client.execute(uri: uri, method: .post, headers: all, body: ByteBuffer(string: body))
                    #expect(response.status == .forbidden, "\(name): \(response.status)")
                    #expect(response.text.contains("refused"), "\(name): \(response.text)")
                }
                var sameOrigin: HTTPFields = [.cookie: cookie, .contentType: "application/x-www-form-urlencoded"]
                sameOrigin[HTTPField.Name("Sec-Fetch-Site")!] = "same-origin"
                let accepted = try await client.execute(uri: uri, method: .post, headers: sameOrigin, body: ByteBuffer(string: "csrf=\(csrf)&commit="))
                #expect(accepted.status == .notFound, "the checks passed and the route answered: \(accepted.status)")
                #expect(try fixture.history.count() == 3, "no run was started")

                // Logging out ends the session.
                let logout = try await client.execute(uri: "/logout", method: .post, headers: sameOrigin, body: ByteBuffer(string: "csrf=\(csrf)"))
                #expect(logout.status == .seeOther && logout.headers[.setCookie]?.contains("Max-Age=0") == true)
                #expect(try await client.execute(uri: "/", method: .get, headers: [.cookie: cookie]).status == .unauthorized)
            }
        }
    }

    @Test func onlyKnownHostNamesAreAnsweredAgainstDNSRebinding() async throws {
        let policy = HostPolicy(listenHost: "127.0.0.1", allowed: ["ci.internal"])
        for host in ["localhost:7878", "127.0.0.1:7878", "[::1]:7878", "LOCALHOST", "ci.internal:443", nil] {
            #expect(policy.allows(host), "\(String(describing: host))")
        }
        for host in ["evil.example:7878", "evil.example", "127.0.0.1.evil.example", "localhost.evil.example:7878", "10.0.0.1:7878"] {
            #expect(!policy.allows(host), "\(host)")
        }
        #expect(HostPolicy(listenHost: "0.0.0.0", allowed: []).allows("10.1.2.3:7878"))
        #expect(!HostPolicy(listenHost: "0.0.0.0", allowed: []).allows("rebound.example:7878"))
        // Through a real socket: the Host header as a rebinding page's browser sends it.
        try await DashboardFixture.with { fixture in
            let services = try DashboardServices(configuration: fixture.configuration())
            try await Application(router: Dashboard.makeRouter(services: services)).test(.live) { client in
                let port = try #require(client.port)
                let refused = try Self.rawGET("/api/runs", host: "rebound.example:\(port)", port: port)
                #expect(refused.hasPrefix("HTTP/1.1 421"), "\(refused.prefix(200))")
                #expect(refused.contains("--allowed-host"))
                let answered = try Self.rawGET("/api/runs", host: "localhost:\(port)", port: port)
                #expect(answered.hasPrefix("HTTP/1.1 200"), "\(answered.prefix(200))")
            }
        }
    }

    /// A GET with exactly this Host header over a new connection to 127.0.0.1:`port`; the raw answer.
    static func rawGET(_ path: String, host: String, port: Int) throws -> String {
        let descriptor = try connectLoopback(port: port)
        defer { close(descriptor) }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            answer += buffer[..<count]
        }
        return String(decoding: answer, as: UTF8.self)
    }

    @Test func doctorReportsAreMadeAtMostOncePerLifetimeAndSharedByConcurrentLoads() async throws {
        let reports = DoctorReports()
        let made = Counter()
        let make: @Sendable () async -> DoctorReport = {
            made.increment()
            try? await Task.sleep(for: .milliseconds(50))
            return DoctorReport(checks: [])
        }
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<100 { group.addTask { _ = await reports.report(make) } }
        }
        _ = await reports.report(make)
        #expect(made.value == 1, "100 loads made \(made.value) reports")
    }

    @Test func anIdleConnectionIsClosed() async throws {
        try await DashboardFixture.with { fixture in
            var configuration = fixture.configuration()
            configuration.port = 0
            configuration.idleTimeoutSeconds = 1
            let services = try DashboardServices(configuration: configuration)
            try await Dashboard.makeApplication(services: services).test(.live) { client in
                let port = try #require(client.port)
                // Connect, send nothing: the server closes the connection (read returns 0); a
                // server that kept it would leave the read waiting until its own 60 s limit.
                let descriptor = try Self.connectLoopback(port: port)
                defer { close(descriptor) }
                var limit = timeval(tv_sec: 60, tv_usec: 0)
                setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
                var byte: UInt8 = 0
                let count = read(descriptor, &byte, 1)
                #expect(count == 0, "read returned \(count) (errno \(errno)): the idle connection was not closed")
            }
        }
    }

    /// A TCP connection to 127.0.0.1:`port`; the caller closes it.
    static func connectLoopback(port: Int) throws -> Int32 {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(descriptor)
            throw POSIXError(.ECONNREFUSED)
        }
        return descriptor
    }

    @Test func formBodiesParseWhateverTheyHoldAndTheServerStaysUp() async throws {
        #expect(FormBody.fields(Array("commit=50%&x=a+b%20c&y=%E9t%C3%A9&commit=second".utf8)) == ["commit": "50%", "x": "a b c", "y": "\u{FFFD}té"])
        #expect(FormBody.fields(Array("a%=1&%zz=%4&&=&b".utf8)) == ["a%": "1", "%zz": "%4", "": "", "b": ""])
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("%=&+ abcé0123456789ABCDEF\u{0}\u{FF}".utf8)
        for _ in 0..<10_000 {
            let body = (0..<Int.random(in: 0..<64, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }
            _ = FormBody.fields(body)
        }
        try await DashboardFixture.with { fixture in
            try await fixture.test(token: Self.token, allowTrigger: true) { client in
                for body in ["commit=50%", "commit=a b", "commit=é", "commit=%", "commit=%%%", "=", "&&&", String(repeating: "%", count: 1000)] {
                    let response = try await client.execute(uri: "/pipelines/example/run", method: .post,
                                                            headers: [.authorization: "Bearer \(Self.token)", .contentType: "application/x-www-form-urlencoded"],
                                                            body: ByteBuffer(string: body))
                    #expect(response.status.code < 500 || response.status == .serviceUnavailable, "\(body): \(response.status)")
                }
                #expect(try await client.execute(uri: "/", method: .get, headers: [.authorization: "Bearer \(Self.token)"]).status == .ok)
            }
        }
    }

    @Test func aTokenFileOthersCanReadOrAShortTokenIsRefused() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sutradhar-token-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("token")
        try Data("\(Self.token)\n".utf8).write(to: file)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file.path)
        let readable = #expect(throws: DashboardConfigurationError.self) { try DashboardConfiguration.readToken(file: file.path) }
        #expect(readable?.message.contains("chmod 600") == true)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file.path)
        #expect(try DashboardConfiguration.readToken(file: file.path) == Self.token)
        for short in ["0123456789abcdef0123456789abcde", "abcdefghijklmnopqrstu"] {  // 124 and 126 bits
            try Data(short.utf8).write(to: file)
            let error = #expect(throws: DashboardConfigurationError.self) { try DashboardConfiguration.readToken(file: file.path) }
            #expect(error?.message.contains("128") == true)
        }
        try Data("0123456789abcdef0123456789abcdef".utf8).write(to: file)
        #expect(throws: Never.self) { try DashboardConfiguration.readToken(file: file.path) }
    }
}

final class Counter: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
