import Foundation
import SutradharTesting
import Testing

/// `sutradhar mcp` driven by a client nobody here wrote: the official Python `mcp` package
/// (PyPI, installed by scripts/setup.sh into a virtual environment), against the real rootless
/// daemon. Under CI=true a missing venv or daemon fails these tests instead of skipping them.
@Suite(.serialized) struct MCPClientTests {
    /// The Python with the `mcp` package: `$SUTRADHAR_MCP_PYTHON`, else the set-up script's venv.
    static let python = ProcessInfo.processInfo.environment["SUTRADHAR_MCP_PYTHON"] ?? "/opt/sutradhar-venv/bin/python3"

    static var pythonAvailable: Bool { FileManager.default.isExecutableFile(atPath: python) }

    /// Everything an agent does with the CLI, over MCP: tools listed, a broken definition
    /// validated, a run with progress, a failing stage's log, 8 concurrent get_run during a run,
    /// a run cancelled mid-stage, bad input refused while the server keeps serving, whole frames
    /// under back-pressure, and SIGTERM stopping a run. The script checks each (see Client/mcp_client_check.py); here
    /// the daemon is asked whether the cancelled run left a container. The time limit only
    /// stops a hung test (the script takes 5 to 9 s here).
    @Test(.requiresDocker, .enabled(if: pythonAvailable || TestEnvironment.isCI, "the venv with the Python mcp package exists"),
          .timeLimit(.minutes(5)))
    func thePythonClientDrivesEveryTool() async throws {
        guard Self.pythonAvailable else {
            Issue.record("no Python with the mcp package at \(Self.python); run scripts/setup.sh (it makes /opt/sutradhar-venv) or set SUTRADHAR_MCP_PYTHON")
            return
        }
        let host = try DockerTestSupport.requireDockerHost()
        try await GitFixtures.withTemporaryDirectory("sutradhar-mcp") { workspace in
            let fileManager = FileManager.default
            for folder in ["src", "pipelines", "allowed/tree"] {
                try fileManager.createDirectory(at: workspace.appendingPathComponent(folder), withIntermediateDirectories: true)
            }
            try Data("a file\n".utf8).write(to: workspace.appendingPathComponent("src/file.txt"))
            let tag = "sutradhar-mcp-test-\(UUID().uuidString.prefix(8).lowercased()):latest"
            // A label of its own gives the image an ID of its own: other suites load the same tiny
            // image at the same time and remove it by ID (`rmi -f`), which would untag this one too.
            let archive = try DockerTestSupport.makeTinyImageArchive(at: workspace.appendingPathComponent("image.tar").path, tag: tag,
                                                                     labels: ["dev.sutradhar.test.owner": tag])
            try DockerTestSupport.run("/usr/local/bin/docker", ["load", "-i", archive.path], environment: ["DOCKER_HOST": host])
            defer { _ = try? DockerTestSupport.run("/usr/local/bin/docker", ["rmi", "-f", archive.imageID], environment: ["DOCKER_HOST": host]) }
            try pipeline("quick", in: workspace, image: tag, command: "echo hello over mcp")
            try pipeline("failing", in: workspace, image: tag, command: "echo line 1 of the failing stage; echo boom on stderr >&2; exit 3")
            try pipeline("sleeper", in: workspace, image: tag, command: "sleep 600")

            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Client/mcp_client_check.py")
            let (status, output) = try await ScriptRunner.run(Self.python, [script.path, SutradharCLI.executable.path, workspace.path,
                                                                             workspace.appendingPathComponent("cache").path, host])
            #expect(status == 0, "\(output)")
            for check in ["lists the tools", "validates a broken definition with line and column", "progress for stage work",
                          "reads the failing stage's log", "8 concurrent get_run during a run", "cancelling the request cancels the run",
                          "unknown tool", "missing argument", "mistyped argument", "unknown pipeline", "source outside --allow-source",
                          "unknown run ID", "still serving after bad input", "whole frames under back-pressure with a slow reader",
                          "SIGTERM stops the runs in flight, then exits 130"] {
                #expect(output.contains("ok: \(check)\n"), "missing check '\(check)' in:\n\(output)")
            }
            for label in ["cancelled-run: ", "terminated-run: "] {
                let runID = try #require(output.split(separator: "\n").first { $0.hasPrefix(label) }?.dropFirst(label.count), "\(output)")
                let left = try DockerTestSupport.run("/usr/local/bin/docker", ["ps", "-aq", "--filter", "label=dev.sutradhar.run=\(runID)"],
                                                     environment: ["DOCKER_HOST": host])
                #expect(left.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "containers of run \(runID) left: \(left)")
            }
        }
    }

    func pipeline(_ name: String, in workspace: URL, image: String, command: String) throws {
        try Data("""
            version: 1
            name: \(name)
            source: { path: ../src }
            stages:
              work:
                timeout: 15m
                container:
                  image: "\(image)"
                  command: [sh, -c, "\(command)"]

            """.utf8).write(to: workspace.appendingPathComponent("pipelines/\(name).yaml"))
    }
}
