import Foundation
import SutradharTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A nix-only pipeline definition: `source: {git: REPOSITORY, ref: main}`, no binary cache
/// (the machine is offline), and one `nix-build` stage per entry.
func nixPipeline(name: String = "nixonly", repository: URL, ref: String = "main",
                 stages: [(name: String, installable: String, needs: [String])]) -> String {
    var yaml = """
        version: 1
        name: \(name)
        source: { git: "\(repository.path)", ref: \(ref) }
        nix:
          options: { substituters: "" }
        stages:

        """
    for stage in stages {
        yaml += "  \(stage.name):\n"
        if !stage.needs.isEmpty { yaml += "    needs: [\(stage.needs.joined(separator: ", "))]\n" }
        yaml += "    nix-build: { installable: \"\(stage.installable)\" }\n"
    }
    return yaml
}

/// A flake repository with no inputs whose packages are `/bin/sh` scripts, one per attribute.
/// Every derivation carries `nonce`, so a new nonce is a new derivation that nix really builds.
enum ScriptFlake {
    /// Writes `flake.nix` and one `NAME.sh` per package into `repository` and commits them;
    /// returns the commit.
    @discardableResult
    static func commit(_ packages: [String: String], nonce: String = UUID().uuidString,
                       to repository: GitFixtureRepository, message: String = "flake") throws -> String {
        let flake = NixFixtures.offlineFlake(description: "sutradhar engine test flake", packages: packages.keys.sorted().map { name in
            (name, name, ["args = [ ./\(name).sh ];", "nonce = \"\(nonce)\";"])
        })
        var files = ["flake.nix": flake]
        for (name, script) in packages { files["\(name).sh"] = script }
        return try repository.commit(message, files: files)
    }

    /// A builder that marks in `folder` that `name` started, then waits until `other` has marked
    /// its start too (polling its file, at most 120 s) and fails if it never does: it succeeds only
    /// when both builds run at once. `tag` keeps the marks of one run apart from another's.
    static func meeting(_ name: String, _ other: String, in folder: URL, tag: String) -> String {
        let mine = folder.appendingPathComponent("\(tag)-\(name).started").path
        let theirs = folder.appendingPathComponent("\(tag)-\(other).started").path
        return """
            touch '\(mine)'
            i=0
            while [ ! -e '\(theirs)' ] && [ "$i" -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
            if [ ! -e '\(theirs)' ]; then echo "\(name): \(other) was never built at the same time" >&2; exit 1; fi
            echo 'met \(other)' > "$out"

            """
    }

    /// A builder that writes `text` to `$out` at once.
    static func writing(_ text: String) -> String {
        "echo '\(text)' > \"$out\"\n"
    }
}

extension Workspace {
    /// A repository (`repo/`) whose flake has one quick package, `a`, and a pipeline building it
    /// in the stage `a`; returns the pipeline's path.
    func oneStagePipeline() throws -> String {
        let repository = try makeRepository(at: root.appendingPathComponent("repo"))
        try ScriptFlake.commit(["a": ScriptFlake.writing("a")], to: repository)
        return try writePipeline(nixPipeline(repository: repository.directory, stages: [(name: "a", installable: ".#a", needs: [])]))
    }
}

/// Makes an empty repository with a `main` branch in `folder`.
func makeRepository(at folder: URL) throws -> GitFixtureRepository {
    try GitFixtureRepository(at: folder)
}

// MARK: - Reading a run's output

extension SutradharCLI.Result {
    /// Everything printed, for failure messages.
    var transcript: String { "exit \(exitCode)\n--- stdout\n\(stdout)\n--- stderr\n\(stderr)" }

    /// The raw stdout lines.
    var lines: [String] { stdout.split(separator: "\n").map(String.init) }

    /// Every event named `name`, in order.
    func events(named name: String) -> [[String: Any]] {
        events.filter { $0["event"] as? String == name }
    }

    /// The summary's stage names, in the order they finished.
    var stageNames: [String] {
        ((summary?["stages"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }
    }

    /// `outputs[key]` of stage `name` in the summary.
    func output(_ key: String, of name: String) -> Any? {
        (stage(name)?["outputs"] as? [String: Any])?[key]
    }

    /// The `time` of the first event named `event` for stage `stage`.
    func time(of event: String, stage: String) -> Date? {
        events(named: event).first { $0["stage"] as? String == stage }
            .flatMap { $0["time"] as? String }
            .flatMap(parseRFC3339)
    }
}

/// Parses the `time` of an event (RFC 3339, UTC, milliseconds).
func parseRFC3339(_ text: String) -> Date? {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.date(from: text)
}

/// Expects every stdout line to be a JSON event object starting with `event`, `schema`, `time`
/// and `run` (the same run everywhere), and the last to be `run-finished`.
func expectEveryLineIsAnEvent(_ result: SutradharCLI.Result, sourceLocation: SourceLocation = #_sourceLocation) {
    let lines = result.lines
    #expect(!lines.isEmpty, "no output: \(result.transcript)", sourceLocation: sourceLocation)
    // The first four fields every line has, in this order, with `time` in RFC 3339 UTC.
    let eventPrefix = #/^\{"event":"[a-z-]+","schema":1,"time":"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z","run":"([^"]+)",/#
    var runs = Set<String>()
    for line in lines {
        let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        #expect(object != nil, "not a JSON object: \(line)", sourceLocation: sourceLocation)
        guard let match = line.firstMatch(of: eventPrefix) else {
            Issue.record("line does not start with event, schema, time (RFC 3339), run: \(line)", sourceLocation: sourceLocation)
            continue
        }
        runs.insert(String(match.output.1))
        if let time = object?["time"] as? String {
            #expect(parseRFC3339(time) != nil, "unreadable time \(time)", sourceLocation: sourceLocation)
        }
    }
    #expect(runs.count == 1, "events of several runs: \(runs)", sourceLocation: sourceLocation)
    #expect(lines.last?.hasPrefix(#"{"event":"run-finished""#) == true, "last line: \(lines.last ?? "")",
            sourceLocation: sourceLocation)
}

/// Whether `text` is a commit ID: 40 lowercase hex digits.
func isCommitID(_ text: String?) -> Bool {
    guard let text else { return false }
    return text.count == 40 && text.allSatisfy { $0.isHexDigit && !$0.isUppercase }
}

/// The inode of `path` (to tell the same folder from a re-created one).
func inode(of path: URL) -> UInt64? {
    var info = stat()
    guard stat(path.path, &info) == 0 else { return nil }
    return UInt64(info.st_ino)
}

