import ArgumentParser
import Foundation
import Logging
import SutradharDashboard
import SutradharKit

/// `sutradhar serve`: the dashboard. Parses flags and starts the library's server.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the dashboard: runs, timelines, live logs and cache use, in a browser.",
        discussion: """
            Open the address it prints. Pages: / (runs, live), /runs/ID (a run: verdict, stage \
            timeline, stages, logs live), /pipelines/NAME, /cache, /doctor; JSON under /api/ \
            (/api/runs, /api/runs/ID: the shapes of 'runs --json'), Prometheus text at /metrics.

            Security: it listens on loopback (127.0.0.1) unless told otherwise, and refuses any \
            other address without --token-file (a file only you can read, of at least 128 random \
            bits). With a token, it prints a login URL: opening it gives the browser a session \
            cookie (HttpOnly, SameSite=Strict); scripts send 'Authorization: Bearer TOKEN'. It \
            answers only the host names localhost, 127.0.0.1 and [::1] (--allowed-host for more). \
            It is read-only unless --allow-trigger, which needs --token-file even on loopback; a \
            run is started by a POST from its own pages only (a CSRF token, Origin and Fetch \
            Metadata checked).

              sutradhar serve                                   http://127.0.0.1:7878/
              (umask 077; head -c 32 /dev/urandom | base64 > ~/.sutradhar-token)
              sutradhar serve --listen 0.0.0.0:7878 --token-file ~/.sutradhar-token
              curl -H "Authorization: Bearer $(cat ~/.sutradhar-token)" http://HOST:7878/api/runs
            """)

    @Option(help: ArgumentHelp("Where to listen: HOST:PORT ([V6]:PORT), or a PORT on 127.0.0.1. Port 0 picks a free one.",
                               valueName: "HOST:PORT"))
    var listen = Dashboard.defaultListenAddress

    @Option(name: .customLong("token-file"), help: ArgumentHelp(
        "A file holding the token every request must carry (Authorization: Bearer TOKEN). Needed off loopback and for --allow-trigger.",
        valueName: "FILE"))
    var tokenFile: String?

    @Option(name: .customLong("allowed-host"), help: ArgumentHelp(
        "Also answer requests for this host name (repeatable): a name the dashboard is reached by through a proxy. By default only localhost, 127.0.0.1 and [::1] are answered, which keeps out web pages whose name is made to point here (DNS rebinding).",
        valueName: "NAME"))
    var allowedHosts: [String] = []

    @Flag(name: .customLong("allow-trigger"), help: "Serve the POST routes that start runs (run again, run the failed stages, run at a commit). Needs --token-file.")
    var allowTrigger = false

    @OptionGroup var attestOptions: AttestOptions
    @OptionGroup var cacheOptions: CacheOptions
    @OptionGroup var dockerOptions: DockerOptions

    @Flag(name: .customLong("allow-network"), help: "Let stages of runs started here that ask for 'network: bridge' have a network.")
    var allowNetwork = false

    @Option(name: .customLong("trace-url-template"), help: ArgumentHelp(
        "Link a run page's trace ID to this URL, with {trace_id} in it (e.g. 'https://jaeger.example/trace/{trace_id}').",
        valueName: "URL"))
    var traceURLTemplate: String?

    func run() async throws {
        var traceLink: TraceLink?
        if let traceURLTemplate {
            do {
                traceLink = try TraceLink(template: traceURLTemplate)
            } catch {
                throw CommandFailure(Exit.invalidDefinition, error.message)
            }
        }
        var configured: DashboardConfiguration
        do {
            let (host, port) = try DashboardConfiguration.parseListen(listen)
            configured = DashboardConfiguration(
                host: host, port: port, cacheRoot: cacheOptions.resolveForHistory(),
                token: try tokenFile.map { path throws(DashboardConfigurationError) in try DashboardConfiguration.readToken(file: path) },
                allowTrigger: allowTrigger)
            configured.dockerHost = dockerOptions.dockerHost
            configured.allowRootful = dockerOptions.allowRootful
            configured.allowNetwork = allowNetwork
            configured.allowedHosts = allowedHosts
            configured.traceLink = traceLink
            try configured.check()
        } catch {
            throw CommandFailure(Exit.invalidDefinition, error.message)
        }
        configured.attestation = try attestOptions.checkedSettings()
        let configuration = configured
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = ProcessInfo.processInfo.environment["SUTRADHAR_SERVE_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .notice
            return handler
        }
        // The server's own requests as spans, when the OTEL_* variables ask for traces (its runs
        // are traced each by itself, whatever this says).
        let requestSpans = RequestTracing.bootstrap(environment: ProcessInfo.processInfo.environment)
        var traced = configuration
        traced.traceRequests = requestSpans != nil
        let services = try Runs.historyCall { [traced] in try DashboardServices(configuration: traced) }
        let announce: @Sendable (Int) async -> Void = { port in
            let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
            // The tests and scripts read this line for the port actually bound (with --listen HOST:0).
            FileHandle.standardOutput.write(Data("sutradhar dashboard: http://\(host):\(port)/ (cache \(configuration.cacheRoot.path))\n".utf8))
            if let token = configuration.token {
                // As Jupyter does: one URL that logs a browser in (a cookie), then the token leaves the address.
                FileHandle.standardOutput.write(Data("log in once with: http://\(host):\(port)/login?token=\(token.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? token)\n".utf8))
            }
        }
        // Hummingbird's service group shuts the server down gracefully on SIGINT or SIGTERM by
        // itself; the first signal is left to it (a second one still exits at once).
        try await Interrupts.handling(onSignal: { _ in }) {
            try await Dashboard.serve(services: services, alongside: requestSpans.map { [$0] } ?? [], onServerRunning: announce)
        }
        await services.stopRuns()
    }
}
