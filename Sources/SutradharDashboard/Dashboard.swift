@_exported import Charts

/// The dashboard front end: `sutradhar serve`. Thin over SutradharKit — every figure it shows
/// comes from the library (history, cache, doctor, insights); this module only routes, renders
/// and guards.
public enum Dashboard {
    /// Where the server listens unless told otherwise: loopback only.
    public static let defaultListenAddress = "127.0.0.1:7878"
}
