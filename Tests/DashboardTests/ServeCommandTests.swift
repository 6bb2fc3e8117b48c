import Foundation
import SutradharTesting
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The real `sutradhar serve` binary: it starts, prints its address, serves, and refuses what
/// it must refuse with exit 2.
@Suite struct ServeCommandTests {
    @Test func theServeCommandServesTheRunsPageOnAFreePort() async throws {
        try await Workspace.with(prefix: "sutradhar-serve") { workspace in
            let server = try workspace.startSutradhar(["serve", "--listen", "127.0.0.1:0"])
            defer { server.signal(SIGKILL) }
            let started = await server.waitForOutput(containing: "sutradhar dashboard: http://127.0.0.1:")
            #expect(started, "stdout: \(server.stdoutSoFar) stderr: \(server.stderrSoFar)")
            let line = try #require(server.stdoutSoFar.split(separator: "\n").first { $0.hasPrefix("sutradhar dashboard:") })
            let address = try #require(line.firstMatch(of: /http:\/\/127\.0\.0\.1:(\d+)\//))
            let url = try #require(URL(string: "http://127.0.0.1:\(address.1)/"))
            let (data, response) = try await URLSession.shared.data(from: url)
            #expect((response as? HTTPURLResponse)?.statusCode == 200)
            #expect(String(decoding: data, as: UTF8.self).contains("<table id=\"runs\">"))
            server.signal(SIGTERM)
            let result = await server.finish(timeout: .seconds(60))
            #expect(result.exitCode == 0, "stderr: \(result.stderr)")
        }
    }

    @Test func serveRefusesAnExposedAddressOrTriggersWithoutAToken() async throws {
        try await Workspace.with(prefix: "sutradhar-serve") { workspace in
            let exposed = try await workspace.sutradhar(["serve", "--listen", "0.0.0.0:0"])
            #expect(exposed.exitCode == 2)
            #expect(exposed.stderr.contains("--token-file"))
            let trigger = try await workspace.sutradhar(["serve", "--allow-trigger"])
            #expect(trigger.exitCode == 2)
            #expect(trigger.stderr.contains("--allow-trigger needs --token-file"))
        }
    }
}
