import ArgumentParser
import Dispatch
import Foundation
import Logging
import SutradharKit
import SutradharMCP

/// `sutradhar mcp`: a Model Context Protocol server on stdio (issue 9). stdout carries only the
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

    @OptionGroup var cacheOptions: CacheOptions
    @OptionGroup var dockerOptions: DockerOptions

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = ProcessInfo.processInfo.environment["SUTRADHAR_MCP_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .notice
            return handler
        }
        let logger = Logger(label: "sutradhar.mcp")
        let server = SutradharMCPServer(
            configuration: MCPServerConfiguration(cacheDirectory: cacheOptions.cacheDirectory, dockerHost: dockerOptions.dockerHost,
                                                  allowNetwork: allowNetwork, allowRootful: dockerOptions.allowRootful,
                                                  allowedSources: allowSource),
            logger: logger)
        let signalled = Signalled()
        let queue = DispatchQueue(label: "sutradhar.mcp.signals")
        let signals: [Int32] = [SIGINT, SIGTERM]
        let sources = signals.map { number -> any DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler {
                guard signalled.raise() else {
                    FileHandle.standardError.write(Data("interrupted again: exiting without cleanup\n".utf8))
                    Foundation.exit(130)
                }
                logger.notice("signal \(number): stopping the runs in flight, then exiting")
                Task { await server.stop() }
            }
            source.resume()
            return source
        }
        defer { sources.forEach { $0.cancel() } }
        try await server.serve(transport: SerialStdioTransport(logger: logger))
        if signalled.isRaised { throw ExitCode(130) }
    }

    private final class Signalled: @unchecked Sendable {
        private let lock = NSLock()
        private var raised = false
        /// Raises the flag; false when it was already raised.
        func raise() -> Bool {
            lock.lock()
            defer { lock.unlock() }
            defer { raised = true }
            return !raised
        }
        var isRaised: Bool {
            lock.lock()
            defer { lock.unlock() }
            return raised
        }
    }
}
