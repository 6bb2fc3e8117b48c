import Foundation
import SutradharTesting
import Testing

/// A test's temporary folder for end-to-end cache tests: a git repository holding a copy of the
/// example flake (with a nonce, so its derivation and image are new), pipelines, and the cache.
struct CacheWorkspace {
    let root: URL
    /// The repository (`repo/`), a copy of Examples/hello-server.
    let repository: GitFixtureRepository
    /// The tag the image's archive carries and the docker-load stage adds (unique per workspace).
    let imageTag: String

    /// `--cache-dir` of every run here.
    var cache: URL { root.appendingPathComponent("cache") }

    /// The folder the held build watches (writable by nix's build users).
    var buildGate: URL { root.appendingPathComponent("gate") }

    /// Makes the workspace. With `holdingTheFirstBuild`, the first image build of its commit
    /// announces itself and then waits until ``releaseTheHeldBuild()`` (or two minutes); later
    /// builds of the same derivation do not wait. Tests that kill or overlap a build then depend
    /// on what they do, not on how fast the machine is.
    static func make(holdingTheFirstBuild: Bool = false) throws -> CacheWorkspace {
        let root = try NixFixtures.makeTemporaryDirectory(prefix: "sutradhar-cache-e2e")
        let tag = "sutradhar-cache-e2e-\(String(UInt64.random(in: 0...UInt64.max), radix: 16)):latest"
        let repository = try ExampleRepository.make(at: root.appendingPathComponent("repo"))
        try repository.write("www/nonce", UUID().uuidString + "\n")
        let script = repository.directory.appendingPathComponent("build-image.sh")
        var text = try String(contentsOf: script, encoding: .utf8)
        #expect(text.contains("\"RepoTags\":[\"hello-server:latest\"]"), "the example's build script changed; update this fixture")
        // Never move the shared daemon's hello-server:latest.
        text = text.replacingOccurrences(of: "\"RepoTags\":[\"hello-server:latest\"]", with: "\"RepoTags\":[\"\(tag)\"]")
        if holdingTheFirstBuild {
            let gate = root.appendingPathComponent("gate")
            try FileManager.default.createDirectory(at: gate, withIntermediateDirectories: false)
            try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: gate.path)
            try Data().write(to: gate.appendingPathComponent("hold"))
            // nix runs this as a build user with the sandbox off, so it sees the gate folder.
            let hold = """
                set -eu
                if mkdir '\(gate.path)/first-build' 2>/dev/null; then
                  echo 'cache-e2e: building slowly' >&2
                  i=0
                  while [ -e '\(gate.path)/hold' ] && [ "$i" -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
                fi

                """
            text = text.replacingOccurrences(of: "set -eu\n", with: hold)
        }
        try text.write(to: script, atomically: true, encoding: .utf8)
        _ = try repository.git("add", "-A")
        _ = try repository.git("commit", "-q", "-m", "nonce")
        return CacheWorkspace(root: root, repository: repository, imageTag: tag)
    }

    /// Writes a pipeline `NAME.yaml` building `repo` at `ref`: `image` (nix-build) and, with
    /// `docker`, `load` (tagged `imageTag`) and a `smoke` stage whose probe first sleeps `probeDelay`.
    func pipeline(_ name: String, docker: Bool, probeDelay: Int = 0, cache: String? = nil) throws -> URL {
        var yaml = """
            version: 1
            name: \(name)
            source: { git: ./repo, ref: main }
            nix:
              options: { substituters: "" }

            """
        if let cache { yaml += "cache: \(cache)\n" }
        yaml += """
            stages:
              image:
                nix-build: { installable: .#docker-image }

            """
        if docker {
            yaml += """
                  load:
                    needs: [image]
                    docker-load: { from: image, tags: ["\(imageTag)"] }
                  smoke:
                    needs: [load]
                    timeout: 120s
                    smoke:
                      image: load
                      probe:
                        exec: [sh, -c, "sleep \(probeDelay); wget -qO- http://127.0.0.1:8080/health"]
                        expect-stdout: ok
                        attempts: 20
                        interval: 500ms

                """
        }
        let url = root.appendingPathComponent("\(name).yaml")
        try Data(yaml.utf8).write(to: url)
        return url
    }

    /// Commits a change to the served files (a new image), returning the commit.
    @discardableResult
    func commitNewImage() throws -> String {
        try repository.commit("another image", files: ["www/nonce": UUID().uuidString + "\n"])
    }

    /// Starts `sutradhar run PIPELINE --json --cache-dir CACHE` (plus `extra`).
    func start(_ pipeline: URL, _ extra: [String] = []) throws -> SutradharCLI.Invocation {
        try SutradharCLI.start(["run", pipeline.path, "--json", "--cache-dir", cache.path] + extra)
    }

    /// Runs it to completion.
    func run(_ pipeline: URL, _ extra: [String] = [], timeout: Duration = .seconds(240)) async throws -> SutradharCLI.Result {
        try await SutradharCLI.run(["run", pipeline.path, "--json", "--cache-dir", cache.path] + extra, timeout: timeout)
    }

    /// Runs `sutradhar cache ARGUMENTS --json --cache-dir CACHE` and parses its JSON object.
    func cacheCommand(_ arguments: [String]) async throws -> [String: Any] {
        let result = try await SutradharCLI.run(["cache"] + arguments + ["--json", "--cache-dir", cache.path], timeout: .seconds(120))
        #expect(result.exitCode == 0, "sutradhar cache \(arguments): \(result.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
                            "not JSON: \(result.stdout)")
    }

    /// The entry files under `entries/KIND` (temporary files included, so none hide).
    func entryFiles(kind: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: cache.appendingPathComponent("entries/\(kind)").path)) ?? []
    }

    /// Lets the held first build finish.
    func releaseTheHeldBuild() {
        try? FileManager.default.removeItem(at: buildGate.appendingPathComponent("hold"))
    }

    /// Removes the workspace and the images it made.
    func remove(dockerHost: String?) {
        if let dockerHost { _ = try? docker(["rmi", "-f", imageTag], host: dockerHost) }
        try? FileManager.default.removeItem(at: root)
    }
}

/// The docker CLI against `host`, output trimmed (checks independent of Sutradhar's client).
@discardableResult
func docker(_ arguments: [String], host: String) throws -> String {
    try DockerTestSupport.run("/usr/local/bin/docker", arguments, environment: ["DOCKER_HOST": host])
        .trimmingCharacters(in: .whitespacesAndNewlines)
}

extension SutradharCLI.Result {
    /// Every `stage-finished` event of stage `name`.
    func finished(_ name: String) -> [[String: Any]] {
        events.filter { $0["event"] as? String == "stage-finished" && $0["stage"] as? String == name }
    }

    /// Whether the summary marks stage `name` cached.
    func cached(_ name: String) -> Bool? { stage(name)?["cached"] as? Bool }

    /// The summary's status.
    var status: String? { summary?["status"] as? String }

    /// The summary's warnings.
    var warnings: [String] { summary?["warnings"] as? [String] ?? [] }

    /// What a failed expectation should show.
    var diagnosis: Comment {
        let line = stdout.split(separator: "\n").last { $0.contains("\"run-finished\"") } ?? "no run-finished event"
        return Comment(rawValue: "exit \(exitCode)\nsummary: \(line)\nstderr: \(stderr.suffix(2000))")
    }
}

/// Fails (under CI) or skips: the daemon is needed. Returns its `unix://` address.
func requireDockerHost() throws -> String {
    try DockerTestSupport.requireDockerHost()
}
