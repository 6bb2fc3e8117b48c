import Foundation
import SutradharDashboard
import Testing

@Suite struct DashboardDefaultsTests {
    /// `serve` with no `--listen` must answer this machine only, and so need no token: the
    /// default address goes through the same parsing and checks as a given one.
    @Test func theDefaultAddressListensOnLoopbackAndNeedsNoToken() throws {
        let (host, port) = try DashboardConfiguration.parseListen(Dashboard.defaultListenAddress)
        let configuration = DashboardConfiguration(host: host, port: port, cacheRoot: URL(fileURLWithPath: "/nonexistent"))
        #expect(configuration.listensOnLoopback, "default host \(host)")
        #expect(port > 0)
        try configuration.check()
    }

    @Test func anyOtherAddressIsNotLoopback() throws {
        for address in ["0.0.0.0:7878", "[::]:7878", "192.168.1.5:7878"] {
            let (host, port) = try DashboardConfiguration.parseListen(address)
            let configuration = DashboardConfiguration(host: host, port: port, cacheRoot: URL(fileURLWithPath: "/nonexistent"))
            #expect(!configuration.listensOnLoopback, "\(address)")
            #expect(throws: DashboardConfigurationError.self, "\(address) without a token") { try configuration.check() }
        }
    }
}
