import Foundation

/// Temporary git repositories for tests, made with the git CLI (so they are real repositories
/// written by real git, independent of the libgit2 code under test).
///
/// Every git call runs with the system and global git configuration switched off and a fixed
/// identity, so a developer's `~/.gitconfig` (signing, hooks, default branch) cannot change a test.
public enum GitFixtures {
    /// Creates a fresh empty directory under the system temporary folder, passes it to `body`, and
    /// removes it afterwards, also when `body` throws or the task is cancelled.
    public static func withTemporaryDirectory<T>(
        _ prefix: String = "sutradhar-test",
        _ body: (URL) async throws -> T
    ) async throws -> T {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(prefix)-\(UUID().uuidString)", isDirectory: true)
            .resolvingSymlinksInPath()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        return try await body(directory)
    }

    /// Runs `git ARGUMENTS` in `directory` and returns its standard output without the final newline.
    /// Throws `GitFixtureError` when git exits non-zero, with git's standard error in the message.
    @discardableResult
    public static func git(_ arguments: [String], in directory: URL, environment extra: [String: String] = [:]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git"] + arguments
        process.currentDirectoryURL = directory
        var environment = ProcessInfo.processInfo.environment
        for key in environment.keys where key.hasPrefix("GIT_") { environment[key] = nil }
        environment.merge([
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_AUTHOR_NAME": "Fixture Author",
            "GIT_AUTHOR_EMAIL": "fixture@example.invalid",
            "GIT_COMMITTER_NAME": "Fixture Author",
            "GIT_COMMITTER_EMAIL": "fixture@example.invalid",
            "GIT_TERMINAL_PROMPT": "0",
        ]) { _, new in new }
        environment.merge(extra) { _, new in new }
        process.environment = environment
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read standard error on another thread so neither pipe can fill and block git.
        let errorText = ErrorCollector()
        let reader = Thread { errorText.set(errors.fileHandleForReading.readDataToEndOfFile()) }
        reader.start()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let stderr = errorText.wait()
        guard process.terminationStatus == 0 else {
            throw GitFixtureError(arguments: arguments, directory: directory, status: process.terminationStatus,
                                  standardError: String(decoding: stderr, as: UTF8.self))
        }
        var text = String(decoding: data, as: UTF8.self)
        if text.hasSuffix("\n") { text.removeLast() }
        return text
    }
}

/// Collects a thread's result; `wait()` blocks until it is set.
private final class ErrorCollector: @unchecked Sendable {
    private let condition = NSCondition()
    private var data: Data?

    func set(_ value: Data) {
        condition.lock()
        data = value
        condition.signal()
        condition.unlock()
    }

    func wait() -> Data {
        condition.lock()
        defer { condition.unlock() }
        while data == nil { condition.wait() }
        return data!
    }
}

/// A git command in a fixture failed.
public struct GitFixtureError: Error, CustomStringConvertible {
    /// The git arguments that failed.
    public let arguments: [String]
    /// Where git ran.
    public let directory: URL
    /// git's exit status.
    public let status: Int32
    /// What git printed on standard error.
    public let standardError: String

    /// The command, where it ran, its status and git's complaint.
    public var description: String {
        "git \(arguments.joined(separator: " ")) in \(directory.path) exited with \(status): \(standardError)"
    }
}

/// A real git repository with a working tree, made by `git init` in a test's temporary directory.
public struct GitFixtureRepository: Sendable {
    /// The working tree (the `.git` folder is inside it).
    public let directory: URL

    /// Runs `git init` in `directory` (created if needed) with `initialBranch` as the first branch.
    public init(at directory: URL, initialBranch: String = "main") throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.directory = directory
        try git("init", "--quiet", "--initial-branch=\(initialBranch)")
    }

    /// Runs `git ARGUMENTS` in the working tree and returns its output (see `GitFixtures.git`).
    @discardableResult
    public func git(_ arguments: String...) throws -> String {
        try GitFixtures.git(arguments, in: directory)
    }

    /// Writes `contents` to `path` (relative to the working tree, parent folders created), with the
    /// executable bit set when `executable` is true. Does not stage or commit.
    public func write(_ path: String, _ contents: String, executable: Bool = false) throws {
        let file = directory.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(contents.utf8).write(to: file)
        try FileManager.default.setAttributes([.posixPermissions: executable ? 0o755 : 0o644], ofItemAtPath: file.path)
    }

    /// Creates the symbolic link `path` pointing at `target` (not staged).
    public func symlink(_ path: String, to target: String) throws {
        let link = directory.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: link.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: target)
    }

    /// Writes `files` (path → contents), stages everything (`git add -A`), commits with `message`
    /// and returns the new commit's id.
    @discardableResult
    public func commit(_ message: String = "a commit", files: [String: String] = [:]) throws -> String {
        for (path, contents) in files.sorted(by: { $0.key < $1.key }) {
            try write(path, contents)
        }
        try git("add", "-A")
        try git("commit", "--quiet", "--allow-empty", "--no-verify", "-m", message)
        return try head()
    }

    /// The commit id HEAD points to.
    public func head() throws -> String {
        try git("rev-parse", "HEAD")
    }

    /// The commit id `revision` names.
    public func revParse(_ revision: String) throws -> String {
        try git("rev-parse", "\(revision)^{commit}")
    }

    /// Creates branch `name` at `start` (default HEAD) without switching to it.
    public func branch(_ name: String, at start: String = "HEAD") throws {
        try git("branch", name, start)
    }

    /// Switches the working tree to branch `name` (`git switch`).
    public func switchTo(_ name: String) throws {
        try git("switch", "--quiet", name)
    }

    /// Creates tag `name` at `target` (default HEAD); annotated (a tag object) when `annotated`.
    public func tag(_ name: String, at target: String = "HEAD", annotated: Bool = false) throws {
        if annotated {
            try git("tag", "-a", name, "-m", "tag \(name)", target)
        } else {
            try git("tag", name, target)
        }
    }

    /// Records a gitlink (a submodule entry) at `path` pointing at commit `sha`, without any
    /// submodule checkout or `.gitmodules`, and commits it.
    @discardableResult
    public func commitGitlink(_ path: String, sha: String, message: String = "add a gitlink") throws -> String {
        try git("update-index", "--add", "--cacheinfo", "160000,\(sha),\(path)")
        try git("commit", "--quiet", "--no-verify", "-m", message)
        return try head()
    }

    /// `file://` URL of this repository, as a source for clones.
    public var fileURL: String { "file://\(directory.path)" }
}
