import ArgumentParser
import Dispatch
import Foundation
import Logging
import SutradharKit
import SutradharMCP
import Synchronization

/// `sutradhar mcp`: a Model Context Protocol server on stdio. stdout carries only the
/// protocol; logs go to stderr.
struct MCPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "Serve pipelines as MCP tools over stdio (for agents: OpenClaw mcp.servers, any MCP client).",
        discussion: """
            Runs until standard input closes. SIGTERM or SIGINT stops the runs in flight as Ctrl-C \
            does (containers removed), then exits. A tool call can never grant itself more than \
            these flags do: --allow-network and --allow-rootful are start flags only, and a \
            'source' argument must be a folder under an --allow-source path (none by default).
            """)

    @Option(name: .customLong("allow-source"), parsing: .upToNextOption, help: ArgumentHelp(
        "Folders whose subfolders a run_pipeline 'source' may name. Default: none (only the definitions' own sources).",
        valueName: "PATH"))
    var allowSource: [String] = []

    @Flag(name: .customLong("allow-network"), help: "Let stages that ask for 'network: bridge' have a network.")
    var allowNetwork = false

    @OptionGroup var attestOptions: AttestOptions
    @OptionGroup var cacheOptions: CacheOptions
    @OptionGroup var dockerOptions: DockerOptions

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = ProcessInfo.processInfo.environment["SUTRADHAR_MCP_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .notice
            return handler
        }
        let logger = Logger(label: "sutradhar.mcp")
        var configuration = MCPServerConfiguration(cacheDirectory: cacheOptions.cacheDirectory, dockerHost: dockerOptions.dockerHost,
                                                   allowNetwork: allowNetwork, allowRootful: dockerOptions.allowRootful,
                                                   allowedSources: allowSource)
        configuration.attestation = try attestOptions.checkedSettings()
        let server = SutradharMCPServer(configuration: configuration, logger: logger)
        let signalled = Signalled()
        try await Interrupts.handling(onSignal: { number in
            signalled.raise()
            logger.notice("signal \(number): stopping the runs in flight, then exiting")
            Task { await server.stop() }
        }) {
            try await server.serve(transport: SerialStdioTransport(logger: logger))
        }
        if signalled.isRaised { throw ExitCode(130) }
    }

    /// Whether a signal asked the server to stop, so that the exit says so (130).
    private final class Signalled: Sendable {
        private let raised = Atomic(false)
        func raise() { raised.store(true, ordering: .relaxed) }
        var isRaised: Bool { raised.load(ordering: .relaxed) }
    }
}
