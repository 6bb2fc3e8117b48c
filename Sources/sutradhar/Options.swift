import ArgumentParser
import Foundation
import SutradharKit

/// `--cache-dir`, shared by every command that touches the cache.
struct CacheOptions: ParsableArguments {
    @Option(name: .customLong("cache-dir"), help: ArgumentHelp(
        "The cache root. Default: $SUTRADHAR_CACHE, else cache/ beside the pipelines/ folder of the definition, else $XDG_CACHE_HOME/sutradhar.",
        valueName: "DIR"))
    var cacheDirectory: String?

    /// The cache root for a definition file (nil when none is involved): `CacheRoot.resolve`
    /// with `--cache-dir` first.
    func resolve(definitionPath: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        CacheRoot.resolve(explicit: cacheDirectory, definitionPath: definitionPath, environment: environment)
    }
}

/// `--docker-host` and `--allow-rootful`, shared by the commands that talk to the daemon.
struct DockerOptions: ParsableArguments {
    @Option(name: .customLong("docker-host"), help: ArgumentHelp(
        "The daemon's socket (unix:///path or a path). Default: $DOCKER_HOST, the current docker context, then the rootless socket $XDG_RUNTIME_DIR/docker.sock.",
        valueName: "HOST"))
    var dockerHost: String?

    @Flag(name: .customLong("allow-rootful"), help: "Accept a daemon that is not rootless (a loud warning is printed and kept in the summary).")
    var allowRootful = false
}

/// What `run` and `watch` share: which stages, how many at once, how to print, what is allowed.
struct StageRunOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Run only this stage and the stages it needs.", valueName: "NAME"))
    var stage: String?

    @Option(help: "How many independent stages may run at once.")
    var jobs: Int = 2

    @Flag(help: "Print one JSON event per line on stdout (the machine interface; see docs/events.md).")
    var json = false

    @Flag(help: "Print only the verdict: with --json, only the run-finished summary line.")
    var quiet = false

    @Flag(name: .customLong("no-cache"), help: "Run every stage again, ignoring cached results (mirrors and the nix store still serve).")
    var noCache = false

    @Flag(name: .customLong("allow-network"), help: "Let stages that ask for 'network: bridge' have a network.")
    var allowNetwork = false

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
    }

    /// Refuses `--stage NAME` when the plan has no such stage (exit 2).
    func checkStage(in plan: Plan, definedIn path: String) throws {
        guard let stage, plan.stage(named: stage) == nil else { return }
        let names = plan.stages.map(\.name).joined(separator: ", ")
        throw CommandFailure(Exit.invalidDefinition, "--stage \(stage): no such stage in \(path); it has: \(names)")
    }

    /// The renderer these flags ask for.
    func makeRenderer() -> any EventRenderer {
        json ? JSONLinesRenderer(onlySummary: quiet) : TerminalRenderer.make(quiet: quiet)
    }
}

/// `--signing-key` and `--no-attest`, shared by every command that starts runs; the library's
/// `AttestationSettings` finds and checks the key.
struct AttestOptions: ParsableArguments {
    @Option(name: .customLong("signing-key"), help: ArgumentHelp("Sign attestations with this Ed25519 private key (PKCS#8 PEM, mode 0600). Default: $XDG_CONFIG_HOME/sutradhar/signing-key.pem, generated on first use.", valueName: "FILE"))
    var signingKey: String?

    @Flag(name: .customLong("no-attest"), help: "Write no attestations (provenance, test results, SBOM).")
    var noAttest = false

    /// The settings these flags ask for.
    var settings: AttestationSettings { AttestationSettings(enabled: !noAttest, signingKey: signingKey) }

    /// The settings, with a named key checked before any run starts (exit 2 if it cannot be used):
    /// for the commands that start many runs.
    func checkedSettings() throws -> AttestationSettings { try Self.checked(settings) }

    /// `settings` once a named key in it is found usable; exit 2 with the library's reason if not.
    static func checked(_ settings: AttestationSettings) throws -> AttestationSettings {
        do {
            try settings.check()
        } catch let error as AttestationError {
            throw CommandFailure(Exit.invalidDefinition, "--signing-key: \(error.message)")
        }
        return settings
    }
}
