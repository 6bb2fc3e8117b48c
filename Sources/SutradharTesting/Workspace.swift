import Foundation

/// A temporary folder for one test: pipeline files, repositories, a world-writable `state/`
/// folder for builders' PID files, and a fresh cache (never the repository's own cache/).
/// Removed afterwards, also when the test throws.
public struct Workspace: Sendable {
    /// The temporary folder.
    public let root: URL

    /// The cache root passed as `--cache-dir`; it does not exist until a run creates it.
    public var cache: URL { root.appendingPathComponent("cache") }

    /// Where builders write PID files and wait for release files: world-writable, because nix
    /// runs them as `nixbld` users.
    public var state: URL { root.appendingPathComponent("state") }

    /// Runs `body` with a fresh workspace named `PREFIX-UUID` in the temporary folder and removes
    /// it afterwards, also when `body` throws.
    ///
    /// - Throws: what creating the folders throws, and what `body` throws.
    public static func with<T>(prefix: String = "sutradhar-test", _ body: (Workspace) async throws -> T) async throws -> T {
        // 0755: nix's build users must reach the state folder and the checkouts below it.
        let root = try NixFixtures.makeTemporaryDirectory(prefix: prefix)
        defer { try? FileManager.default.removeItem(at: root) }
        let workspace = Workspace(root: root)
        _ = try workspace.stateFolder()
        return try await body(workspace)
    }

    /// Writes `yaml` to `FOLDER/NAME.yaml` in the workspace (making the folder) and returns its path.
    ///
    /// - Throws: what creating the folder or writing the file throws.
    @discardableResult
    public func writePipeline(_ yaml: String, named name: String = "pipeline", in folder: String = ".") throws -> String {
        let directory = root.appendingPathComponent(folder)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent("\(name).yaml").standardizedFileURL
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }

    /// ``state``, made world-writable if it is not yet there.
    ///
    /// - Throws: what creating the folder or changing its mode throws.
    public func stateFolder() throws -> URL {
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: state.path)
        return state
    }

    /// The names of what is in `area` of the cache (e.g. `git/mirrors`, `nix/roots`), sorted;
    /// empty when the folder does not exist.
    public func cacheContents(_ area: String) -> [String] {
        let folder = cache.appendingPathComponent(area)
        return ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()
    }

    /// Runs `sutradhar ARGUMENTS --cache-dir CACHE` from the workspace folder; `validate` takes
    /// no cache, so it gets no `--cache-dir`.
    ///
    /// - Throws: when the executable cannot be started.
    public func sutradhar(_ arguments: [String], environment: [String: String] = [:],
                          timeout: Duration = .seconds(180)) async throws -> SutradharCLI.Result {
        let cacheArguments = arguments.first == "validate" ? [] : ["--cache-dir", cache.path]
        return try await SutradharCLI.run(arguments + cacheArguments, environment: environment,
                                          workingDirectory: root, timeout: timeout)
    }

    /// Starts `sutradhar ARGUMENTS --cache-dir CACHE` from the workspace folder without waiting for it.
    ///
    /// - Throws: when the executable cannot be started.
    public func startSutradhar(_ arguments: [String]) throws -> SutradharCLI.Invocation {
        try SutradharCLI.start(arguments + ["--cache-dir", cache.path], workingDirectory: root)
    }
}
