import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import SutradharKit

/// What every handler needs, opened once when the server starts: the configuration, the run
/// history of its cache, and where definitions are found. Shared by all requests (Sendable).
public struct DashboardServices: Sendable {
    /// How the server was started.
    public let configuration: DashboardConfiguration
    /// The run history of `configuration.cacheRoot`.
    public let history: RunHistory
    /// Background runs started from the dashboard (`--allow-trigger`).
    let runs: RunLauncher
    /// The browser sessions opened through the login URL.
    let sessions = DashboardSessions()
    /// The doctor page's latest report (made at most every few seconds).
    let doctorReports = DoctorReports()
    /// The live feeds open now.
    let feeds = FeedSlots()
    /// The latest stage table each run's feeds sent, made once for all of them.
    let summaries = SharedSummaries()
    /// The subjects of the commits runs built, read from the cache's mirrors.
    let commitSubjects: CommitSubjects
    /// Where the server logs.
    public let logger: Logger

    /// Opens the history of `configuration.cacheRoot` (creating it if needed).
    /// - Throws: `RunHistoryError` if the history cannot be opened.
    public init(configuration: DashboardConfiguration, logger: Logger = Logger(label: "sutradhar.dashboard")) throws {
        self.configuration = configuration
        history = try RunHistory(cacheRoot: configuration.cacheRoot)
        runs = RunLauncher()
        commitSubjects = CommitSubjects(mirrorsRoot: configuration.cacheRoot.appendingPathComponent(CacheArea.mirrors.rawValue))
        self.logger = logger
    }

    /// Cancels the runs started from the dashboard and waits for their cleanup (a stopping server).
    public func stopRuns() async { await runs.cancelAllAndWait() }

    /// The cache root shown.
    public var cacheRoot: URL { configuration.cacheRoot }
    /// Where `pipelines/NAME.yaml` is looked up from.
    public var definitionsFolder: URL { configuration.definitionsFolder }
    /// The pipelines a URL may name: those of the served folder, by name (never a path).
    public var catalog: PipelineCatalog { PipelineCatalog(servedFrom: definitionsFolder) }

    /// The options of a run started here, or of the doctor's checks: this server's cache and
    /// daemon, and what its command line allows.
    public func runOptions(commit: String? = nil) -> RunOptions {
        var options = RunOptions(cacheRoot: cacheRoot, commit: commit, dockerHost: configuration.dockerHost,
                                 allowRootful: configuration.allowRootful, allowNetwork: configuration.allowNetwork)
        options.attestation = configuration.attestation
        return options
    }
}

/// The request context of every dashboard route: Hummingbird's core storage, plus the CSP nonce
/// the security middleware chose for this response (the page's one script carries it).
public struct DashboardRequestContext: RequestContext {
    /// Hummingbird's per-request storage (parameters, logger, endpoint).
    public var coreContext: CoreRequestContextStorage
    /// The nonce of this response's Content-Security-Policy (set by `SecurityMiddleware`).
    public var nonce: String = ""
    /// The CSRF token of the request's cookie session, which every form on its pages carries
    /// (set by `SecurityMiddleware`); nil for a bearer-token request or a server without a token.
    public var csrfToken: String?
    /// The event loop of the request's connection, where its response's writes are carried out.
    let eventLoop: any EventLoop

    /// Made by the server for each request.
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        eventLoop = source.channel.eventLoop
    }
}

extension Dashboard {
    /// The router with every page, asset, API route and the security middleware: what
    /// `makeApplication` serves, and what HummingbirdTesting's `app.test(.router)` drives.
    /// Each page group registers its own routes (`RunPages`, `AssetRoutes`, …); a new group is
    /// one line here.
    public static func makeRouter(services: DashboardServices) -> Router<DashboardRequestContext> {
        let router = Router(context: DashboardRequestContext.self)
        // First, so that a request the security rules refuse is a span too (with its status).
        if services.configuration.traceRequests { router.add(middleware: TracingMiddleware()) }
        router.add(middleware: SecurityMiddleware(
            token: services.configuration.token,
            hosts: HostPolicy(listenHost: services.configuration.host, allowed: services.configuration.allowedHosts),
            sessions: services.sessions))
        AssetRoutes.register(on: router)
        RunPages.register(on: router, services: services)
        RunAPI.register(on: router, services: services)
        TriggerRoutes.register(on: router, services: services)
        PipelinePages.register(on: router, services: services)
        CachePages.register(on: router, services: services)
        DoctorPage.register(on: router, services: services)
        MetricsRoute.register(on: router, services: services)
        return router
    }

    /// Serves until SIGINT or SIGTERM, which Hummingbird's service group turns into a graceful
    /// shutdown; `onServerRunning` gets the port actually bound.
    /// - Throws: what `makeApplication` throws, or the server's own failure (e.g. the address is in use).
    public static func serve(services: DashboardServices, alongside: [any Service] = [],
                             onServerRunning: @escaping @Sendable (Int) async -> Void) async throws {
        try await makeApplication(services: services, alongside: alongside, onServerRunning: onServerRunning).runService()
    }

    /// The server: the router on `configuration.host:port`.
    /// - Throws: `DashboardConfigurationError` if the configuration is refused (see
    ///   `DashboardConfiguration.check()`), `RunHistoryError` if the history cannot be opened.
    /// `alongside`: services that live and stop with the server (the request spans' exporter).
    public static func makeApplication(services: DashboardServices, alongside: [any Service] = [],
                                       onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in })
        throws -> some ApplicationProtocol {
        try services.configuration.check()
        let configuration = services.configuration
        return Application(
            router: makeRouter(services: services),
            // A connection with no request in flight is closed after this: half-open or idle
            // connections cannot pile up to the descriptor limit (live feeds are requests in flight).
            server: .http1(configuration: .init(idleTimeout: .seconds(Int64(configuration.idleTimeoutSeconds)))),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "sutradhar"),
            services: alongside,
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
            logger: services.logger)
    }
}
