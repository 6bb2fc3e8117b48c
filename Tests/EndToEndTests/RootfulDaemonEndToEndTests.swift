import Foundation
import SutradharTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension DockerEndToEndTests {
    /// A rootful daemon, started by the test as root on its own socket and data root: refused
    /// before anything is created on it, accepted loudly with `--allow-rootful`.
    @Suite(.enabled(if: getuid() == 0 || TestEnvironment.isCI, "starting a rootful dockerd needs root"))
    struct RootfulDaemon {
        @Test func rootfulDaemonIsRefusedUnlessAllowedAndThenWarnedAbout() async throws {
            try NixFixtures.requireNix()
            try #require(getuid() == 0, "starting a rootful dockerd needs root (CI=true: this is a failure, not a skip)")
            let name = DockerE2E.uniqueName()
            let tag = "\(name):rootful"
            try await DockerE2E.withWorkspace { workspace in
                let archive = try DockerTestSupport.makeTinyImageArchive(
                    at: workspace.root.appendingPathComponent("image.tar").path, tag: "\(name)-archive:built",
                    labels: ["dev.sutradhar.e2e": name])
                try workspace.makeArchiveFlake("tiny", archive: archive.path, output: .archive)
                let pipeline = try workspace.write("load.yaml", DockerLoad.loadPipeline(folder: "tiny", tags: [tag]))

                try await RootfulDockerd.with { host in
                    let refused = try await DockerE2E.run(pipeline, workspace: workspace, host: host)
                    #expect(refused.exitCode == 3, refused.diagnosis)
                    let problem = refused.summary?["environment_problem"] as? String ?? ""
                    // The words name the setting; `remedy` names it for machines; no CLI flag in the events.
                    #expect(problem.contains("not rootless") && problem.contains("unless rootful daemons are allowed for this run")
                            && !problem.contains("--allow-rootful"), "problem: \(problem)")
                    #expect(refused.summary?["remedy"] as? String == "allow-rootful", refused.diagnosis)
                    #expect(refused.stage("image")?["remedy"] as? String == "allow-rootful", refused.diagnosis)
                    #expect(refused.stage("image")?["status"] as? String == "skipped", "nothing may run: \(refused.diagnosis)")
                    #expect(refused.stage("load")?["status"] as? String == "skipped")
                    #expect(try DockerE2E.docker(["images", "-q", "--all"], host: host).isEmpty, "nothing may be loaded")
                    #expect(try DockerE2E.docker(["ps", "-a", "-q"], host: host).isEmpty, "nothing may be created")

                    let allowed = try await DockerE2E.run(pipeline, workspace: workspace, host: host, extra: ["--allow-rootful"])
                    #expect(allowed.exitCode == 0, allowed.diagnosis)
                    #expect(allowed.outputs(of: "load")["loaded"] as? Bool == true, allowed.diagnosis)
                    #expect(DockerE2E.imageID(tag, host: host) == archive.imageID)
                    let warnings = allowed.summary?["warnings"] as? [String] ?? []
                    #expect(warnings.contains { $0.contains("ROOTFUL") && $0.contains("rootful daemons are allowed for this run")
                                                && !$0.contains("--allow-rootful") }, "warnings: \(warnings)")
                    #expect(allowed.events.contains { $0["event"] as? String == "warning" && ($0["message"] as? String)?.contains("ROOTFUL") == true },
                            "the warning is also an event")
                    try expectNoContainersLeft(allowed, host: host)
                }
            }
        }
    }
}

/// A root-run `dockerd` on its own socket, data root and exec root in a fresh folder under
/// /tmp, with no bridge and no iptables, so it touches nothing of the host's networking.
enum RootfulDockerd {
    /// Starts the daemon, waits until it answers, runs `body` with its `unix://` host, then
    /// stops it (SIGTERM, then SIGKILL after 20 s, and its containerd) and removes the folder —
    /// also when `body` throws.
    static func with<T>(_ body: (String) async throws -> T) async throws -> T {
        let dockerd = "/usr/sbin/dockerd"
        guard FileManager.default.isExecutableFile(atPath: dockerd) else {
            throw RootfulDaemonFailure("\(dockerd) is missing; install docker.io (scripts/setup.sh does)")
        }
        // Short: the containerd socket under the exec root must fit in a sockaddr_un.
        let folder = "/tmp/sutradhar-rf-" + String(UInt32.random(in: 0...UInt32.max), radix: 36)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        let log = folder + "/dockerd.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)  // FileHandle(forWritingTo:) below throws if it failed
        let process = Process()
        process.executableURL = URL(fileURLWithPath: dockerd)
        process.arguments = [
            "--host", "unix://\(folder)/docker.sock", "--data-root", "\(folder)/root", "--exec-root", "\(folder)/exec",
            "--pidfile", "\(folder)/dockerd.pid", "--bridge", "none", "--iptables=false", "--ip6tables=false",
            "--ip-masq=false", "--storage-driver", "overlay2",
        ]
        let logHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = logHandle
        process.standardError = logHandle
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            try? FileManager.default.removeItem(atPath: folder)
            throw RootfulDaemonFailure("could not start \(dockerd): \(error)")
        }
        let host = "unix://\(folder)/docker.sock"
        do {
            try await waitUntilAnswering(host: host, process: process, log: log)
            let value = try await body(host)
            await stop(process, folder: folder)
            return value
        } catch {
            await stop(process, folder: folder)
            throw error
        }
    }

    private static func waitUntilAnswering(host: String, process: Process, log: String) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            guard process.isRunning else {
                throw RootfulDaemonFailure("the rootful dockerd exited (\(process.terminationStatus)): \(tail(of: log))")
            }
            if let info = try? DockerE2E.docker(["info", "--format", "{{json .SecurityOptions}}"], host: host) {
                guard !info.contains("rootless") else {
                    throw RootfulDaemonFailure("the daemon started as root says it is rootless: \(info)")
                }
                return
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw RootfulDaemonFailure("the rootful dockerd did not answer within 30 s: \(tail(of: log))")
    }

    private static func stop(_ process: Process, folder: String) async {
        if process.isRunning { process.terminate() }
        let deadline = ContinuousClock.now + .seconds(20)
        while process.isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(100))
        }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        // dockerd stops the containerd it started; if it was killed, that containerd is left (and
        // may hold the descriptor through which Foundation sees dockerd exit): kill it first.
        if let text = try? String(contentsOfFile: folder + "/exec/containerd/containerd.pid", encoding: .utf8),
           let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1, kill(pid, 0) == 0 {
            kill(pid, SIGKILL)
        }
        if !process.waitForExit(until: .now + .seconds(10)) {
            Issue.record("the rootful dockerd was not seen to exit 10 s after SIGKILL")
        }
        // A killed daemon can leave overlay mounts under its data root; unmount them before removing.
        if let mounts = try? String(contentsOfFile: "/proc/mounts", encoding: .utf8) {
            for line in mounts.split(separator: "\n").reversed() {
                let fields = line.split(separator: " ")
                if fields.count > 1, fields[1].hasPrefix(folder + "/") { umount2(String(fields[1]), Int32(MNT_DETACH)) }
            }
        }
        try? FileManager.default.removeItem(atPath: folder)
    }

    private static func tail(of log: String) -> String {
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return String(text.suffix(1500))
    }
}

/// The rootful daemon of the test could not be started or used; the message says why.
struct RootfulDaemonFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
