import ArgumentParser
import Foundation

/// `--cache-dir`, shared by every command that touches the cache.
struct CacheOptions: ParsableArguments {
    @Option(name: .customLong("cache-dir"), help: ArgumentHelp(
        "The cache root. Default: $SUTRADHAR_CACHE, else cache/ beside the pipelines/ folder of the definition, else $XDG_CACHE_HOME/sutradhar.",
        valueName: "DIR"))
    var cacheDirectory: String?

    /// The cache root for a definition file (nil when none is involved).
    func resolve(definitionPath: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let cacheDirectory { return URL(fileURLWithPath: cacheDirectory).standardizedFileURL }
        if let fromEnvironment = environment["SUTRADHAR_CACHE"], !fromEnvironment.isEmpty {
            return URL(fileURLWithPath: fromEnvironment).standardizedFileURL
        }
        if let definitionPath {
            // Every caller of one project shares the project's cache, whatever its working directory.
            let folder = URL(fileURLWithPath: definitionPath).standardizedFileURL.deletingLastPathComponent()
            if folder.lastPathComponent == "pipelines" {
                return folder.deletingLastPathComponent().appendingPathComponent("cache")
            }
        }
        let base = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache").path
        return URL(fileURLWithPath: base).appendingPathComponent("sutradhar")
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
