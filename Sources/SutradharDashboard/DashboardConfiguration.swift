import Foundation
import SutradharKit
#if canImport(Glibc)
import Glibc
#endif

/// How `sutradhar serve` is started: where it listens, which cache it shows, and what it allows.
/// A value type with the defaults a user would expect: loopback, read-only, no token.
public struct DashboardConfiguration: Sendable {
    /// The host to listen on (`127.0.0.1` by default; `::1` or `localhost` are loopback too).
    public var host: String
    /// The TCP port (7878 by default; 0 asks the kernel for a free one).
    public var port: Int
    /// The cache root whose run history, cache and logs are shown.
    public var cacheRoot: URL
    /// Where pipeline definitions are looked up (`pipelines/NAME.yaml` at or above), for the
    /// pipeline pages and the triggers.
    public var definitionsFolder: URL
    /// The bearer token every request must carry (`Authorization: Bearer TOKEN`); nil: none.
    public var token: String?
    /// Whether the POST routes that start runs are served (`--allow-trigger`; needs a token).
    public var allowTrigger: Bool
    /// The daemon the doctor page checks and runs started here use (`--docker-host`); nil:
    /// found as `run` finds it.
    public var dockerHost: String?
    /// Whether runs started here accept a daemon that is not rootless (`--allow-rootful`).
    public var allowRootful: Bool = false
    /// Whether stages of runs started here that ask for `network: bridge` get it (`--allow-network`).
    public var allowNetwork: Bool = false
    /// `--signing-key` and `--no-attest`: how runs started here sign their attestations.
    public var attestation = AttestationSettings()
    /// `--allowed-host`: host names answered besides localhost, 127.0.0.1 and [::1] (a name the
    /// server is reached by through a proxy or an SSH tunnel's other end).
    public var allowedHosts: [String] = []
    /// Whether each request is a span (Hummingbird's `TracingMiddleware`, to the process-wide
    /// tracer the front end set up from the `OTEL_*` variables).
    public var traceRequests = false
    /// `--trace-url-template`: a run page's trace ID links there; nil: the ID is shown as text.
    public var traceLink: TraceLink? = nil
    /// Seconds a connection with no request in flight stays open: 30.
    public var idleTimeoutSeconds = 30

    /// A configuration; see each property for its meaning and default.
    public init(host: String = "127.0.0.1", port: Int = 7878, cacheRoot: URL,
                definitionsFolder: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
                token: String? = nil, allowTrigger: Bool = false) {
        self.host = host
        self.port = port
        self.cacheRoot = cacheRoot
        self.definitionsFolder = definitionsFolder
        self.token = token
        self.allowTrigger = allowTrigger
    }

    /// Whether `host` only accepts connections from this machine.
    public var listensOnLoopback: Bool { Self.isLoopback(host) }

    /// `127.0.0.0/8`, `::1` and `localhost` are loopback; everything else (`0.0.0.0`, `::`, a
    /// LAN address, a name) may be reached from other machines.
    public static func isLoopback(_ host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if bare == "localhost" || bare == "::1" || bare == "0:0:0:0:0:0:0:1" { return true }
        let parts = bare.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    /// Splits `--listen` (`HOST:PORT`, `[V6]:PORT`, or a bare `PORT` meaning loopback).
    /// - Throws: `DashboardConfigurationError` `.badListenAddress` for anything else.
    public static func parseListen(_ text: String) throws(DashboardConfigurationError) -> (host: String, port: Int) {
        let problem = DashboardConfigurationError(
            .badListenAddress, "--listen \(text): not HOST:PORT; e.g. --listen 127.0.0.1:7878 (or [::1]:7878)")
        if let port = Int(text) {
            guard (0...65535).contains(port) else { throw problem }
            return ("127.0.0.1", port)
        }
        guard let colon = text.lastIndex(of: ":") else { throw problem }
        var host = String(text[..<colon])
        guard let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port), !host.isEmpty else { throw problem }
        if host.hasPrefix("[") {
            guard host.hasSuffix("]") else { throw problem }
            host = String(host.dropFirst().dropLast())
        } else if host.contains(":") {
            throw problem  // an IPv6 address must be bracketed so its port is unambiguous
        }
        return (host, port)
    }

    /// Reads a token file: its content without surrounding white space.
    /// - Throws: `DashboardConfigurationError` `.badTokenFile` if it cannot be read, is empty,
    ///   or is shorter than 16 characters (a token that short could be guessed).
    public static func readToken(file path: String) throws(DashboardConfigurationError) -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DashboardConfigurationError(.badTokenFile, "--token-file \(path): cannot read it; give a file holding the token (e.g. made with: head -c 32 /dev/urandom | base64 > \(path))")
        }
        let recipe = "(umask 077; head -c 32 /dev/urandom | base64 > \(path))"
        // As ssh does for a key: a secret other users can read is no secret.
        var status = stat()
        if stat(path, &status) == 0, status.st_mode & 0o077 != 0 {
            throw DashboardConfigurationError(.badTokenFile, "--token-file \(path): other users can read it (mode \(String(status.st_mode & 0o777, radix: 8))); make it private: chmod 600 \(path)")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.contains(where: \.isWhitespace), estimatedBits(of: token) >= 128 else {
            throw DashboardConfigurationError(.badTokenFile, "--token-file \(path): the token must be one word of at least 128 random bits (32 hex digits, 22 base64 characters); make one with: \(recipe)")
        }
        return token
    }

    /// Refuses a configuration that would expose more than the user asked for: a non-loopback
    /// address without a token, or triggers without a token (triggers need the token even on
    /// loopback, so that no other local user or web page can start builds).
    /// - Throws: `DashboardConfigurationError` saying which flag to add.
    /// The bits a token of this length holds at most: 4 a character for hex digits, 6 for the
    /// base64 alphabet, 5 otherwise (a conservative guess for anything else printable).
    static func estimatedBits(of token: String) -> Int {
        if token.allSatisfy(\.isHexDigit) { return token.count * 4 }
        if token.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+/=-_".contains($0)) }) {
            return token.filter { $0 != "=" }.count * 6
        }
        return token.count * 5
    }

    public func check() throws(DashboardConfigurationError) {
        if !listensOnLoopback, token == nil {
            throw DashboardConfigurationError(
                .exposedWithoutToken,
                "refusing to listen on \(host): it is not a loopback address and no --token-file is given; anyone who can reach this machine could read every run. Listen on 127.0.0.1, or give --token-file FILE (then every request needs 'Authorization: Bearer TOKEN')")
        }
        if allowTrigger, token == nil {
            throw DashboardConfigurationError(
                .triggerWithoutToken,
                "--allow-trigger needs --token-file, even on loopback: starting builds must need a secret, so that another local user or a web page cannot start them. Give --token-file FILE, or drop --allow-trigger")
        }
    }
}

/// A dashboard configuration that is refused before anything listens (the CLI exits 2).
public struct DashboardConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of refusal, for callers and tests.
    public enum Code: String, Sendable {
        /// `--listen` is not `HOST:PORT`.
        case badListenAddress = "bad-listen-address"
        /// A non-loopback address without `--token-file`.
        case exposedWithoutToken = "exposed-without-token"
        /// `--allow-trigger` without `--token-file`.
        case triggerWithoutToken = "trigger-without-token"
        /// The token file is missing, unreadable, or holds no usable token.
        case badTokenFile = "bad-token-file"
    }

    /// What kind of refusal.
    public let code: Code
    /// What was refused and what to do.
    public let message: String

    /// A refusal with its code and message.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
