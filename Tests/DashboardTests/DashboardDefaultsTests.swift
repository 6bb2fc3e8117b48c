import SutradharDashboard
import Testing

@Suite struct DashboardDefaultsTests {
    @Test func theDefaultAddressIsLoopback() {
        #expect(Dashboard.defaultListenAddress.hasPrefix("127.0.0.1:"))
    }
}
