import Foundation
import GitMirror
import Synchronization
import SutradharTesting
import Testing

/// Collects progress lines from a mirror operation.
final class ProgressRecorder: Sendable {
    private let lines = Mutex<[String]>([])

    var callback: @Sendable (String) -> Void {
        { line in self.lines.withLock { $0.append(line) } }
    }

    var all: [String] { lines.withLock { $0 } }

    func contains(_ text: String) -> Bool { all.contains { $0.contains(text) } }

    func clear() { lines.withLock { $0.removeAll() } }
}

/// A source repository with a known shape, made by the git CLI:
/// - `main`: README.md, bin/run.sh (executable), src/nested/deep/file.txt, link → README.md
/// - `feature`: one more commit adding feature.txt
/// - tags `v1` (lightweight, on main's first commit) and `v2` (annotated, on feature)
struct SourceFixture {
    let repository: GitFixtureRepository
    let mainSHA: String
    let featureSHA: String

    var path: String { repository.directory.path }

    init(in root: URL) throws {
        let repository = try GitFixtureRepository(at: root.appendingPathComponent("source"))
        try repository.write("README.md", "hello\n")
        try repository.write("bin/run.sh", "#!/bin/sh\necho hi\n", executable: true)
        try repository.write("src/nested/deep/file.txt", "deep\n")
        try repository.symlink("link", to: "README.md")
        mainSHA = try repository.commit("first")
        try repository.tag("v1")
        try repository.branch("feature")
        try repository.switchTo("feature")
        featureSHA = try repository.commit("feature", files: ["feature.txt": "feature\n"])
        try repository.tag("v2", annotated: true)
        try repository.switchTo("main")
        self.repository = repository
    }

    func tree(of revision: String) throws -> String {
        try repository.git("rev-parse", "\(revision)^{tree}")
    }
}

/// Runs `body` with a fresh temporary folder holding a `SourceFixture` and an empty mirrors folder.
func withSource<T>(_ body: (SourceFixture, URL) async throws -> T) async throws -> T {
    try await GitFixtures.withTemporaryDirectory("gitmirror-test") { root in
        let source = try SourceFixture(in: root)
        return try await body(source, root.appendingPathComponent("mirrors"))
    }
}

/// The inode number of `path`, to tell "the same directory" from "re-created".
func inode(_ path: URL) throws -> UInt64 {
    let attributes = try FileManager.default.attributesOfItem(atPath: path.path)
    return (attributes[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0
}

/// Every file path under `directory`, relative to it, sorted (directories excluded).
func relativeFiles(in directory: URL) throws -> [String] {
    let base = directory.resolvingSymlinksInPath().path + "/"
    guard let enumerator = FileManager.default.enumerator(atPath: directory.path) else { return [] }
    var files: [String] = []
    while let relative = enumerator.nextObject() as? String {
        let full = base + relative
        let attributes = try FileManager.default.attributesOfItem(atPath: full)
        if attributes[.type] as? FileAttributeType != .typeDirectory { files.append(relative) }
    }
    return files.sorted()
}

func isExecutable(_ file: URL) throws -> Bool {
    let permissions = try FileManager.default.attributesOfItem(atPath: file.path)[.posixPermissions] as? NSNumber
    return (permissions?.intValue ?? 0) & 0o100 != 0
}

func contents(_ file: URL) throws -> String {
    try String(contentsOf: file, encoding: .utf8)
}
