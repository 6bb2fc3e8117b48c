import Foundation
import SutradharTesting
import Testing

/// The dashboard in a real browser: Debian's headless Chromium, driven by Selenium (PyPI, in the
/// venv scripts/setup.sh makes) from Browser/dashboard_browser.py, against the real `sutradhar
/// serve` and a real `sutradhar run` of the example flake (real nix, real rootless daemon).
/// Under CI=true a missing venv, browser, driver, daemon or nix fails this test instead of
/// skipping it.
@Suite(.serialized) struct DashboardBrowserTests {
    /// The Python with Selenium: `$SUTRADHAR_BROWSER_PYTHON`, else the set-up script's venv.
    static let python = ProcessInfo.processInfo.environment["SUTRADHAR_BROWSER_PYTHON"] ?? "/opt/sutradhar-venv/bin/python3"

    /// Why the browser test cannot run here (no venv, browser or driver), or nil.
    static let unavailableReason: String? = {
        let fileManager = FileManager.default
        guard fileManager.isExecutableFile(atPath: python) else {
            return "no Python at \(python); run scripts/setup.sh (it makes /opt/sutradhar-venv) or set SUTRADHAR_BROWSER_PYTHON"
        }
        for program in ["/usr/bin/chromium", "/usr/bin/chromedriver"] where !fileManager.isExecutableFile(atPath: program) {
            return "\(program) is missing; run scripts/setup.sh (it installs Debian's chromium and chromium-driver)"
        }
        return nil
    }()

    static var enabled: Bool { (unavailableReason == nil && NixFixtures.unavailableReason == nil) || TestEnvironment.isCI }

    /// Opens the runs page, starts the example pipeline from the CLI and, without reloading,
    /// sees its row appear and turn `passed`; then the run page's timeline (one bar per stage)
    /// and stage rows, the pages without JavaScript, and a log line `<script>alert(1)</script>`
    /// shown as text with no alert. The script prints `ok: CHECK` for each check; here the test
    /// asks for every one and removes what the runs loaded into the daemon. The time limit only
    /// stops a hung test: the whole test took 8 to 41 s on the shared 2-core machine (load 6 to
    /// 9), a fresh machine's first nix build takes longer, and a hung wait of the script (10 min
    /// each) fails before it.
    @Test(.requiresDocker, .enabled(if: enabled, "a browser, its driver and nix are here, or CI is set"), .timeLimit(.minutes(15)))
    func aRunStartedFromTheCLIAppearsAndPassesWithoutAReload() async throws {
        if let reason = Self.unavailableReason {
            Issue.record(Comment(rawValue: reason))
            return
        }
        try NixFixtures.requireNix()
        let host = try DockerTestSupport.requireDockerHost()
        try await GitFixtures.withTemporaryDirectory("sutradhar-browser") { workspace in
            let name = "sutradhar-browser-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
            let tag = "\(name):latest", archiveTag = "\(name)-archive:built"
            try Self.makeExampleFlake(at: workspace.appendingPathComponent("hello-server"), repoTag: archiveTag)
            let example = workspace.appendingPathComponent("pipelines/example.yaml")
            try Self.write(Self.examplePipeline(tag: tag), to: example)
            let hostile = workspace.appendingPathComponent("pipelines/hostile-log.yaml")
            try Self.write(Self.hostileLogPipeline(image: tag), to: hostile)

            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Browser/dashboard_browser.py")
            var arguments = [script.path, "--sutradhar", SutradharCLI.executable.path, "--cache-dir", workspace.appendingPathComponent("cache").path,
                             "--docker-host", host, "--pipeline", example.path, "--hostile-pipeline", hostile.path]
            // Screenshots only when asked (SUTRADHAR_SCREENSHOTS=FOLDER), so CI never rewrites committed files.
            if let folder = ProcessInfo.processInfo.environment["SUTRADHAR_SCREENSHOTS"], !folder.isEmpty {
                arguments += ["--screenshots", folder]
            }
            let (status, output) = try await ScriptRunner.run(Self.python, arguments)
            let imageID = output.split(separator: "\n").first { $0.hasPrefix("loaded-image: ") }?.dropFirst("loaded-image: ".count)
            for reference in [imageID.map(String.init), tag, archiveTag].compactMap({ $0 }) {
                _ = try? DockerTestSupport.run("/usr/local/bin/docker", ["rmi", "-f", reference], environment: ["DOCKER_HOST": host])
            }
            #expect(status == 0, "\(output)")
            for button in ["run again", "run the failed stages"] {
                #expect(output.contains("ok: '\(button)' started run "), "missing the '\(button)' check in:\n\(output)")
            }
            for check in ["the runs page renders its table without JavaScript", "the new run's row appeared without a reload",
                          "the row turned passed without a reload", "the page was never reloaded", "the CLI run passed",
                          "the run page renders without JavaScript", "one timeline bar per stage", "every stage row says passed",
                          "the verdict says passed", "the hostile run failed", "the script in the log is shown as text",
                          "no alert opened", "the script in the log is escaped in the HTML",
                          "the printed login URL logs the browser in and the token leaves the address",
                          "a page of another origin that auto-submits the form is refused and starts nothing"] {
                #expect(output.contains("ok: \(check)\n"), "missing check '\(check)' in:\n\(output)")
            }
        }
    }

    /// The bundled example pipeline's stages, on a copy of its flake whose image is tagged
    /// `tag` (never the shared `hello-server:latest`).
    static func examplePipeline(tag: String) -> String {
        let bundled = (try? String(contentsOf: SutradharCLI.repositoryRoot.appendingPathComponent("pipelines/example.yaml"), encoding: .utf8)) ?? ""
        return bundled
            .replacingOccurrences(of: "path: ../Examples/hello-server", with: "path: ../hello-server")
            .replacingOccurrences(of: "tags: [\"hello-server:latest\"]", with: "tags: [\"\(tag)\"]")
    }

    /// A run whose failing stage logs `<script>alert(1)</script>`, in the image the example loaded.
    static func hostileLogPipeline(image: String) -> String {
        """
        version: 1
        name: hostile-log
        source: { path: ../hello-server }
        stages:
          shout:
            timeout: 60s
            container:
              image: "\(image)"
              command: [sh, -c, "echo '<script>alert(1)</script>'; exit 3"]

        """
    }

    /// Copies Examples/hello-server to `destination` with a nonce (a new image ID, so no other
    /// test's removal touches it) and its archive tagged `repoTag`.
    static func makeExampleFlake(at destination: URL, repoTag: String) throws {
        try FileManager.default.copyItem(at: SutradharCLI.repositoryRoot.appendingPathComponent("Examples/hello-server"), to: destination)
        try write(UUID().uuidString + "\n", to: destination.appendingPathComponent("www/nonce"))
        let script = destination.appendingPathComponent("build-image.sh")
        let text = try String(contentsOf: script, encoding: .utf8)
        #expect(text.contains("\"RepoTags\":[\"hello-server:latest\"]"), "the example's build script changed; update this fixture")
        try text.replacingOccurrences(of: "\"RepoTags\":[\"hello-server:latest\"]", with: "\"RepoTags\":[\"\(repoTag)\"]")
            .write(to: script, atomically: true, encoding: .utf8)
    }

    static func write(_ text: String, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }
}
