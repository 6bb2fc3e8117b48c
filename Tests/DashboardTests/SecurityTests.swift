import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
@testable import SutradharDashboard
import SutradharKit
import Testing

/// The rules of docs/dashboard.md: headers, the token, refusals, triggers.
@Suite struct SecurityTests {
    static let token = "s3cret-token-0123456789abcdef"

    @Test func everyPageHasAContentSecurityPolicyWhoseNonceIsThePagesScripts() async throws {
        try await DashboardFixture.with { fixture in
            try await fixture.test { client in
                var nonces: [String] = []
                for uri in ["/", "/runs/\(DashboardFixture.failed)", "/no/such/page"] {
                    let response = try await client.execute(uri: uri, method: .get)
                    let policy = try #require(response.headers[.contentSecurityPolicy])
                    #expect(policy.contains("default-src 'self'"))
                    #expect(policy.contains("frame-ancestors 'none'"))
                    #expect(!policy.contains("unsafe-inline"))
                    #expect(!policy.contains("http:") && !policy.contains("https:"))
                    let nonce = try #require(policy.firstMatch(of: /script-src 'nonce-([A-Za-z0-9+\/=]+)'/)?.1)
                    #expect(response.text.contains("<script nonce=\"\(nonce)\" src=\"/assets/live.js\""))
                    // The page has no other script.
                    #expect(response.text.components(separatedBy: "<script").count == 2)
                    #expect(response.headers[.xContentTypeOptions] == "nosniff")
                    #expect(response.headers[HTTPField.Name("Referrer-Policy")!] == "same-origin")
                    nonces.append(String(nonce))
                }
                #expect(Set(nonces).count == nonces.count)  // a fresh nonce per response
                let style = try await client.execute(uri: "/assets/style.css", method: .get)
                #expect(style.status == .ok && style.text.contains("prefers-color-scheme: dark"))
                let script = try await client.execute(uri: "/assets/live.js", method: .get)
                #expect(script.status == .ok && script.text.contains("EventSource"))
            }
        }
    }

    @Test func withATokenEveryRequestNeedsTheRightBearer() async throws {
        try await DashboardFixture.with { fixture in
            try await fixture.test(token: Self.token) { client in
                for uri in ["/", "/api/runs", "/assets/style.css", "/runs/\(DashboardFixture.failed)"] {
                    let bare = try await client.execute(uri: uri, method: .get)
                    #expect(bare.status == .unauthorized, "\(uri)")
                    let wrong = try await client.execute(uri: uri, method: .get, headers: [.authorization: "Bearer \(Self.token.dropLast())x"])
                    #expect(wrong.status == .unauthorized, "\(uri)")
                    let basic = try await client.execute(uri: uri, method: .get, headers: [.authorization: "Basic \(Self.token)"])
                    #expect(basic.status == .unauthorized, "\(uri)")
                    let right = try await client.execute(uri: uri, method: .get, headers: [.authorization: "Bearer \(Self.token)"])
                    #expect(right.status == .ok, "\(uri)")
                }
                let refused = try await client.execute(uri: "/", method: .get)
                #expect(refused.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
            }
        }
    }

    @Test func theTokenComparisonNeedsEveryByte() {
        let token = Array(Self.token.utf8)
        #expect(SecurityMiddleware.authorized("Bearer \(Self.token)", token: token))
        #expect(SecurityMiddleware.authorized("bearer \(Self.token)", token: token))
        #expect(!SecurityMiddleware.authorized("Bearer \(Self.token)x", token: token))
        #expect(!SecurityMiddleware.authorized("Bearer \(Self.token.dropLast())", token: token))
        #expect(!SecurityMiddleware.authorized("Bearer ", token: token))
        #expect(!SecurityMiddleware.authorized(nil, token: token))
    }

    @Test func aNonLoopbackAddressWithoutATokenIsRefused() throws {
        let cache = URL(fileURLWithPath: "/tmp/unused")
        for host in ["0.0.0.0", "::", "192.168.1.10", "example.com"] {
            let configuration = DashboardConfiguration(host: host, cacheRoot: cache)
            #expect(throws: DashboardConfigurationError.self) { try configuration.check() }
            #expect(performing: { try configuration.check() }, throws: { ($0 as? DashboardConfigurationError)?.code == .exposedWithoutToken })
            try DashboardConfiguration(host: host, cacheRoot: cache, token: Self.token).check()
        }
        for host in ["127.0.0.1", "127.1.2.3", "::1", "localhost"] {
            try DashboardConfiguration(host: host, cacheRoot: cache).check()
        }
        let trigger = DashboardConfiguration(cacheRoot: cache, allowTrigger: true)
        #expect(performing: { try trigger.check() }, throws: { ($0 as? DashboardConfigurationError)?.code == .triggerWithoutToken })
        try DashboardConfiguration(cacheRoot: cache, token: Self.token, allowTrigger: true).check()
    }

    @Test func listenAddressesParseOrAreRefusedClearly() throws {
        #expect(try DashboardConfiguration.parseListen("127.0.0.1:7878") == ("127.0.0.1", 7878))
        #expect(try DashboardConfiguration.parseListen("[::1]:80") == ("::1", 80))
        #expect(try DashboardConfiguration.parseListen("9000") == ("127.0.0.1", 9000))
        for bad in ["", "host", "::1:80", "1.2.3.4:99999", ":80", "[::1:80"] {
            #expect(performing: { try DashboardConfiguration.parseListen(bad) },
                    throws: { ($0 as? DashboardConfigurationError)?.code == .badListenAddress })
        }
    }

    @Test func aTriggerStartsTheRunInTheBackgroundAndRedirectsToItsPage() async throws {
        try await DashboardFixture.with { fixture in
            // A pipeline whose source is missing: the run starts, is recorded, and fails at its
            // checkout without needing nix or a daemon.
            let folder = fixture.cache.appendingPathComponent("pipelines")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try """
                version: 1
                name: gone
                source: { path: ../no-such-folder }
                stages:
                  image:
                    nix-build: { installable: .#docker-image }
                """.write(to: folder.appendingPathComponent("gone.yaml"), atomically: true, encoding: .utf8)
            let services = try DashboardServices(configuration: fixture.configuration(token: Self.token, allowTrigger: true))
            let application = Application(router: Dashboard.makeRouter(services: services))
            try await application.test(.router) { client in
                let response = try await client.execute(uri: "/pipelines/gone/run", method: .post,
                                                        headers: [.authorization: "Bearer \(Self.token)", .contentType: "application/x-www-form-urlencoded"],
                                                        body: ByteBuffer(string: "commit="))
                #expect(response.status == .seeOther, "\(response.text)")
                let location = try #require(response.headers[.location])
                #expect(location.hasPrefix("/runs/"))
                let id = String(location.dropFirst("/runs/".count))
                #expect(RunHistory.isValidRunID(id))
                await services.stopRuns()  // waits for the run to end
                let run = try #require(try fixture.history.run(id))
                #expect(run.record.pipeline == "gone")
                #expect(run.record.trigger == "manual")
            }
        }
    }

    @Test func triggersArePostOnlyNeedTheTokenAndAllowTrigger() async throws {
        try await DashboardFixture.with { fixture in
            let routes = ["/runs/\(DashboardFixture.failed)/rerun", "/runs/\(DashboardFixture.failed)/rerun-failed", "/pipelines/example/run"]
            // Read-only (no --allow-trigger): a GET is 405, a POST 403 — token or not.
            try await fixture.test(token: Self.token) { client in
                for uri in routes {
                    let get = try await client.execute(uri: uri, method: .get, headers: [.authorization: "Bearer \(Self.token)"])
                    #expect(get.status == .methodNotAllowed, "\(uri)")
                    #expect(get.headers[.allow] == "POST")
                    let post = try await client.execute(uri: uri, method: .post, headers: [.authorization: "Bearer \(Self.token)"])
                    #expect(post.status == .forbidden, "\(uri)")
                    #expect(post.text.contains("--allow-trigger"))
                }
            }
            try await fixture.test { client in
                for uri in routes {
                    let post = try await client.execute(uri: uri, method: .post)
                    #expect(post.status == .forbidden, "\(uri)")
                }
                // The run page offers no buttons either.
                let page = try await client.execute(uri: "/runs/\(DashboardFixture.failed)", method: .get)
                #expect(!page.text.contains("rerun"))
            }
            // --allow-trigger (which needs the token): a POST without it is 401, never a run.
            try await fixture.test(token: Self.token, allowTrigger: true) { client in
                for uri in routes {
                    let bare = try await client.execute(uri: uri, method: .post)
                    #expect(bare.status == .unauthorized, "\(uri)")
                    let cookie = try await client.execute(uri: uri, method: .post, headers: [.cookie: "token=\(Self.token)"])
                    #expect(cookie.status == .unauthorized, "\(uri)")
                }
                let page = try await client.execute(uri: "/runs/\(DashboardFixture.failed)", method: .get, headers: [.authorization: "Bearer \(Self.token)"]).text
                #expect(page.contains("<form method=\"post\" action=\"/runs/\(DashboardFixture.failed)/rerun-failed\">"))
                // An unknown pipeline is a 404 that says which pipelines there are, not a run.
                let unknown = try await client.execute(uri: "/pipelines/nosuch/run", method: .post, headers: [.authorization: "Bearer \(Self.token)"])
                #expect(unknown.status == .notFound)
                #expect(try fixture.history.count() == 3)
            }
        }
    }
}
