import Foundation
import SutradharTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension Workspace {
    /// Ends the wait of every fixture build with a `delay.txt` (see ``CallersFlake``).
    func releaseBuilds() throws {
        try Data().write(to: state.appendingPathComponent("release"))
    }

    /// A repository holding the fixture flake, with `files` committed beside it.
    func flakeRepository(named name: String = "project", files: [String: String] = ["message.txt": "one\n"]) throws -> GitFixtureRepository {
        let repository = try GitFixtureRepository(at: root.appendingPathComponent(name))
        try repository.commit("the fixture flake", files: CallersFlake.files(stateFolder: state).merging(files) { _, new in new })
        return repository
    }
}

/// A flake with no inputs (it builds offline) whose one package, `fixture`, is built by
/// `build.sh` from the whole flake folder (`src = ./.`), so every file of the tree — tracked,
/// untracked, edited — can show up in the output:
/// - `$out` holds `message.txt`, then `untracked.txt` if present;
/// - with `delay.txt`, the builder writes its PID to `STATE/<message>.pid`, then waits that
///   many seconds or until the test calls ``Workspace/releaseBuilds()`` (not by `exec sleep`:
///   with that, nix 2.8 here reports the builder "killed by signal 9" when the sleep ends);
/// - with `fail.txt`, it prints that file and exits 1.
enum CallersFlake {
    static func files(stateFolder: URL) -> [String: String] {
        let flake = NixFixtures.offlineFlake(description: "sutradhar callers test flake", packages: [
            ("fixture", "callers-fixture", ["args = [ ./build.sh ];", "src = ./.;", "stateFolder = \"\(stateFolder.path)\";"]),
        ])
        let builder = """
            echo "callers-fixture: building" >&2
            if [ -f "$src/fail.txt" ]; then cat "$src/fail.txt" >&2; exit 1; fi
            cat "$src/message.txt" > "$out"
            if [ -f "$src/untracked.txt" ]; then cat "$src/untracked.txt" >> "$out"; fi
            if [ -f "$src/delay.txt" ]; then
              echo $$ > "$stateFolder/$(head -n1 "$src/message.txt").pid"
              ticks=$(( $(cat "$src/delay.txt") * 10 ))
              while [ "$ticks" -gt 0 ] && [ ! -e "$stateFolder/release" ]; do sleep 0.1; ticks=$((ticks - 1)); done
            fi

            """
        return ["flake.nix": flake, "build.sh": builder]
    }
}

/// A nix-only pipeline: `source: {git: REPOSITORY, ref: main}`, no binary cache (offline), one
/// `build` stage building `.#fixture`, and `extra` top-level lines (e.g. `schedule:`).
func fixturePipeline(name: String, repository: URL, extra: String = "") -> String {
    """
    version: 1
    name: \(name)
    source: { git: "\(repository.path)", ref: main }
    nix:
      options: { substituters: "" }
    \(extra)
    stages:
      build:
        nix-build: { installable: ".#fixture" }

    """
}

extension SutradharCLI.Result {
    /// Everything printed, for failure messages.
    var transcript: String { "exit \(exitCode)\n--- stdout\n\(stdout)\n--- stderr\n\(stderr)" }

    /// Every event named `name`, in order.
    func events(named name: String) -> [[String: Any]] {
        events.filter { $0["event"] as? String == name }
    }

    /// `outputs[key]` of stage `name` in the summary.
    func output(_ key: String, of name: String) -> Any? {
        (stage(name)?["outputs"] as? [String: Any])?[key]
    }
}

/// The JSON events among `text`'s lines.
func events(in text: String) -> [[String: Any]] {
    text.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
}

/// The live processes (not zombies) whose command line mentions `text`.
func processesMentioning(_ text: String) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap(Int32.init).filter { pid in
        guard pid != getpid(), !processIsGone(pid),
              let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        let commandLine = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
        return commandLine.contains(text)
    }
}

/// Runs a short command to completion, returning its exit status and output (bounded: the
/// commands used here print little).
func runCommand(_ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = directory }
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("callers-command-\(UUID().uuidString)")
    _ = FileManager.default.createFile(atPath: folder.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: folder) }
    let handle = try FileHandle(forWritingTo: folder)
    process.standardOutput = handle
    process.standardError = handle
    process.standardInput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    try handle.close()
    let output = (try? String(contentsOf: folder, encoding: .utf8)) ?? ""
    return (process.terminationStatus, String(output.prefix(64 * 1024)))
}

/// Whether `name` is an executable on PATH.
func commandExists(_ name: String) -> Bool {
    (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").contains {
        FileManager.default.isExecutableFile(atPath: "\($0)/\(name)")
    }
}
