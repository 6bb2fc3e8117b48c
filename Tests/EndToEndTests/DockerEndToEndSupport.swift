import Foundation
import SutradharTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The parent of every end-to-end suite that drives the real `sutradhar` against a Docker
/// daemon. `.serialized` so the suites below share the daemon one test at a time (each test
/// makes its own uniquely named images and removes them).
@Suite(.serialized, .requiresDocker)
struct DockerEndToEndTests {}

/// Fixtures and daemon cross-checks for the Docker end-to-end tests. Everything checked on the
/// daemon goes through the docker CLI (`/usr/local/bin/docker`), independent of Sutradhar's
/// own Engine API client.
enum DockerE2E {
    static let dockerCLI = "/usr/local/bin/docker"

    /// `unix://…` of the rootless test daemon; throws (failing the test) when it is missing.
    static func host() throws -> String {
        try DockerTestSupport.requireDockerHost()
    }

    /// Runs the docker CLI against `host` and returns its output (trimmed).
    @discardableResult
    static func docker(_ arguments: [String], host: String) throws -> String {
        try DockerTestSupport.run(dockerCLI, arguments, environment: ["DOCKER_HOST": host])
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The IDs of every container (running or not) labelled with run `runID`.
    static func containers(ofRun runID: String, host: String) throws -> [String] {
        try docker(["ps", "-a", "-q", "--no-trunc", "--filter", "label=dev.sutradhar.run=\(runID)"], host: host)
            .split(whereSeparator: \.isNewline).map(String.init)
    }

    /// The image ID `reference` names on `host`, or nil if the daemon has no such image.
    static func imageID(_ reference: String, host: String) -> String? {
        try? docker(["image", "inspect", "--format", "{{.Id}}", reference], host: host)
    }

    /// Removes images (by ID or tag, with every tag), ignoring those already gone.
    static func removeImages(_ references: [String], host: String) {
        for reference in references {
            _ = try? docker(["rmi", "-f", reference], host: host)
        }
    }

    /// A name no other test or run uses: `sutradhar-e2e-<random hex>`.
    static func uniqueName() -> String {
        "sutradhar-e2e-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
    }

    /// Runs `body` in a fresh temporary folder (removed afterwards).
    static func withWorkspace<T>(_ body: (DockerE2EWorkspace) async throws -> T) async throws -> T {
        try await GitFixtures.withTemporaryDirectory("sutradhar-e2e-docker") { root in
            try await body(DockerE2EWorkspace(root: root))
        }
    }

    /// What the smoke and container tests start from: a workspace whose `src/` holds one marker
    /// file (its name is passed on) and a tiny server image loaded into the daemon, removed
    /// afterwards.
    static func withServerImage(
        _ body: (DockerE2EWorkspace, _ server: (tag: String, id: String), _ host: String, _ marker: String) async throws -> Void
    ) async throws {
        let host = try Self.host()
        try await withWorkspace { workspace in
            let server = try loadServerImage(host: host, in: workspace)
            defer { removeImages([server.id], host: host) }
            try await body(workspace, server, host, try workspace.makePlainSource())
        }
    }

    /// Runs `sutradhar run PIPELINE --json --cache-dir … --docker-host …` (plus `extra`).
    static func run(_ pipeline: URL, workspace: DockerE2EWorkspace, host: String, extra: [String] = [],
                    timeout: Duration = .seconds(180)) async throws -> SutradharCLI.Result {
        try await SutradharCLI.run(
            ["run", pipeline.path, "--json", "--cache-dir", workspace.cache.path, "--docker-host", host] + extra,
            timeout: timeout)
    }

    /// The run ID of the `run-started` event among `--json` output lines.
    static func runID(inJSONLines text: String) -> String? {
        for line in text.split(separator: "\n") {
            guard let event = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                  event["event"] as? String == "run-started" else { continue }
            return event["run"] as? String
        }
        return nil
    }

    /// Loads a tiny busybox image serving `www/` with httpd on port 8080 (its default command)
    /// into the daemon with the docker CLI, and returns its tag and ID. Unique per call.
    static func loadServerImage(host: String, in workspace: DockerE2EWorkspace) throws -> (tag: String, id: String) {
        let tag = uniqueName() + ":latest"
        let archive = try DockerTestSupport.makeTinyImageArchive(
            at: workspace.root.appendingPathComponent("server-image.tar").path, tag: tag,
            command: ["/bin/httpd", "-f", "-p", "8080", "-h", "/www"],
            labels: ["dev.sutradhar.e2e": tag],
            extraFiles: ["www/health": "ok\n", "www/index.html": "hello from the e2e understudy\n"])
        try docker(["load", "-i", archive.path], host: host)
        return (tag, archive.imageID)
    }
}

/// A test's temporary folder: pipelines, sources and the cache live here.
struct DockerE2EWorkspace {
    let root: URL

    /// The `--cache-dir` of every run in this workspace.
    var cache: URL { root.appendingPathComponent("cache") }

    /// Writes `contents` to `name` (parent folders created) and returns its URL.
    @discardableResult
    func write(_ name: String, _ contents: String) throws -> URL {
        let url = root.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(contents.utf8).write(to: url)
        return url
    }

    /// A plain source folder (`src/`) with one file, `marker-<nonce>.txt`; returns the file name.
    func makePlainSource() throws -> String {
        let marker = "marker-\(UUID().uuidString.prefix(8).lowercased()).txt"
        try write("src/\(marker)", "a file of the checkout\n")
        return marker
    }

    /// Makes a binary cache's signing key named `keyName` with `nix key generate-secret` into
    /// `cache.sec` of the workspace and returns its path (for `cache.nix-push-key`).
    func makeCacheSigningKey(named keyName: String) throws -> String {
        let path = root.appendingPathComponent("cache.sec").path
        let secret = try DockerTestSupport.run("/usr/bin/nix", ["--extra-experimental-features", "nix-command", "key",
                                                                "generate-secret", "--key-name", keyName])
        try secret.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Copies Examples/hello-server into `name/`, adds `www/nonce` (so the image ID is new)
    /// and makes the archive's own `RepoTags` `repoTag` instead of `hello-server:latest`, so the
    /// shared daemon's `hello-server:latest` is never moved.
    func makeHelloServerFlake(_ name: String = "hello-server", repoTag: String) throws {
        let destination = root.appendingPathComponent(name)
        try FileManager.default.copyItem(
            at: SutradharCLI.repositoryRoot.appendingPathComponent("Examples/hello-server"), to: destination)
        try write("\(name)/www/nonce", UUID().uuidString + "\n")
        let script = destination.appendingPathComponent("build-image.sh")
        let text = try String(contentsOf: script, encoding: .utf8)
        #expect(text.contains("\"RepoTags\":[\"hello-server:latest\"]"), "the example's build script changed; update this fixture")
        try text.replacingOccurrences(of: "\"RepoTags\":[\"hello-server:latest\"]", with: "\"RepoTags\":[\"\(repoTag)\"]")
            .write(to: script, atomically: true, encoding: .utf8)
    }

    /// How a fixture flake's `docker-image` output presents the archive `image.tar`.
    enum ImageOutput {
        /// `$out` is the archive itself.
        case archive
        /// `$out` is an executable `#!/bin/sh` script that writes the archive (kept in the
        /// derivation's second output, `archive`) to stdout, as nixpkgs `streamLayeredImage` does.
        case script
    }

    /// Writes a flake in `name/` whose `docker-image` is the docker-archive at `archive`
    /// (copied into the flake as `image.tar`), presented as `output` says.
    func makeArchiveFlake(_ name: String, archive: String, output: ImageOutput) throws {
        try FileManager.default.createDirectory(at: root.appendingPathComponent(name), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: archive, toPath: root.appendingPathComponent("\(name)/image.tar").path)
        let outputs: String
        let builder: String
        switch output {
        case .archive:
            outputs = ""
            builder = "cp \"$archiveSource\" \"$out\"\n"
        case .script:
            outputs = "outputs = [ \"out\" \"archive\" ];"
            builder = """
                cp "$archiveSource" "$archive"
                printf '#!/bin/sh\\necho "streaming the archive" >&2\\nexec /bin/cat %s\\n' "$archive" >"$out"
                chmod 755 "$out"

                """
        }
        try write("\(name)/build.sh", "set -eu\n" + builder)
        try write("\(name)/flake.nix", NixFixtures.offlineFlake(description: "sutradhar end-to-end image flake", packages: [
            ("docker-image", "e2e-docker-image", ["args = [ ./build.sh ];", "archiveSource = ./image.tar;", outputs]),
        ]))
    }
}

extension SutradharCLI.Result {
    /// The run's ID, from its `run-started` event.
    var runID: String? {
        DockerE2E.runID(inJSONLines: stdout)
    }

    /// The lines `stage` logged (`log` events), optionally only those of `stream`.
    func logLines(of stage: String, stream: String? = nil) -> [String] {
        events.filter {
            $0["event"] as? String == "log" && $0["stage"] as? String == stage
                && (stream == nil || $0["stream"] as? String == stream)
        }.compactMap { $0["line"] as? String }
    }

    /// The outputs of stage `name` in the summary.
    func outputs(of name: String) -> [String: Any] {
        stage(name)?["outputs"] as? [String: Any] ?? [:]
    }

    /// What a failed test should show: exit code, summary and the end of stderr.
    var diagnosis: Comment {
        let summaryLine = stdout.split(separator: "\n").last { $0.contains("\"run-finished\"") } ?? "no run-finished event"
        return Comment(rawValue: "exit \(exitCode)\nsummary: \(summaryLine)\nstderr: \(stderr.suffix(2000))")
    }
}

/// Asserts that no container of the run is left on the daemon (and that the run had an ID),
/// then removes any that are.
func expectNoContainersLeft(_ result: SutradharCLI.Result, host: String,
                            sourceLocation: SourceLocation = #_sourceLocation) throws {
    let runID = try #require(result.runID, "no run-started event", sourceLocation: sourceLocation)
    let left = try DockerE2E.containers(ofRun: runID, host: host)
    #expect(left.isEmpty, "containers of run \(runID) are left: \(left)", sourceLocation: sourceLocation)
    // Leave the shared daemon clean even when the run did not.
    if !left.isEmpty { _ = try? DockerE2E.docker(["rm", "-f"] + left, host: host) }
}
