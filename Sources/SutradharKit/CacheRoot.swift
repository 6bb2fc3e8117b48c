import Foundation

/// Where a cache lives: the rules of docs/cli.md "Cache root", shared by every front end.
public enum CacheRoot {
    /// The cache root: `explicit` (the CLI's `--cache-dir`), else `$SUTRADHAR_CACHE`, else
    /// `cache/` beside the `pipelines/` folder holding `definitionPath`, else
    /// `$XDG_CACHE_HOME/sutradhar` (`~/.cache/sutradhar`).
    public static func resolve(explicit: String? = nil, definitionPath: String?,
                               environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let explicit { return URL(fileURLWithPath: explicit).standardizedFileURL }
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
