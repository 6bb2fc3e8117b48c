import Foundation
import SutradharTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension DockerEndToEndTests {
    /// `container:` stages through the real executable: the checkout at /src read-only, the
    /// rlimits really in force inside, `expect-exit`, and the network policy.
    @Suite struct ContainerStage {
        /// The daemon hands a line longer than 16 KiB over in several frames; the log shows it as
        /// one line (cut at the log's line limit), not as pieces.
        @Test func aLongLineCutIntoFramesByTheDaemonIsLoggedAsOneLine() async throws {
            try await DockerE2E.withServerImage { workspace, server, host, _ in
                let pipeline = try workspace.write("long-line.yaml", """
                    version: 1
                    name: e2e-long-line
                    source: { path: ./src }
                    stages:
                      long:
                        timeout: 60s
                        container:
                          image: "\(server.tag)"
                          command: [sh, -c, "head -c 40000 /dev/zero | tr '\\\\0' x; echo; echo after"]

                    """)
                let result = try await DockerE2E.run(pipeline, workspace: workspace, host: host)
                #expect(result.exitCode == 0, result.diagnosis)
                let printed = result.logLines(of: "long", stream: "stdout")
                #expect(printed.count == 2, "lines: \(printed.map { "\($0.prefix(20))… (\($0.count))" })")
                #expect(printed.first?.hasPrefix(String(repeating: "x", count: 16 * 1024)) == true)
                #expect(printed.first?.hasSuffix("[line truncated]") == true)
                #expect(printed.last == "after")
                try expectNoContainersLeft(result, host: host)
            }
        }

        @Test func commandSeesTheReadOnlyCheckoutAndTheStageLimits() async throws {
            try await DockerE2E.withServerImage { workspace, server, host, marker in
                let pipeline = try workspace.write("container.yaml", """
                    version: 1
                    name: e2e-container
                    source: { path: ./src }
                    stages:
                      list:
                        timeout: 60s
                        container:
                          image: "\(server.tag)"
                          command: [sh, -c, "ls /src && ulimit -n && ulimit -u && pwd"]
                          limits: { nofile: 1024, nproc: 512 }
                      defaults:
                        timeout: 60s
                        container:
                          image: "\(server.tag)"
                          command: [sh, -c, "ulimit -n && ulimit -u"]
                      write:
                        timeout: 60s
                        container:
                          image: "\(server.tag)"
                          command: [sh, -c, "echo written > /src/written-by-the-container"]

                    """)
                let result = try await DockerE2E.run(pipeline, workspace: workspace, host: host)
                #expect(result.exitCode == 1, "the failed write fails the run: \(result.diagnosis)")

                // The checkout is at /src, the working directory, and the rlimits are the stage's.
                #expect(result.stage("list")?["status"] as? String == "passed", result.diagnosis)
                let printed = result.logLines(of: "list", stream: "stdout")
                let limits = result.outputs(of: "list")["limits"] as? [String: [String: Any]] ?? [:]
                #expect(limits["nofile"]?["value"] as? String == "1024")
                #expect(limits["nproc"]?["value"] as? String == "512")
                // Honest limits, measured inside the container: each is reported enforced exactly
                // when the container really runs under it.
                #expect(printed.count == 4 && printed[0] == marker && printed[3] == "/src", "printed: \(printed)")
                let applied = printed.count == 4 && printed[1] == "1024" && printed[2] == "512"
                #expect(limits["nofile"]?["enforced"] as? Bool == applied, "printed \(printed), reported \(limits)")
                #expect(limits["nproc"]?["enforced"] as? Bool == applied, "printed \(printed), reported \(limits)")
                // Rootless Docker applies them; rootless Podman 4.3 drops Ulimits (and says so).
                #expect(applied == !DockerTestSupport.isPodman, "printed: \(printed)")
                #expect(result.outputs(of: "list")["exit_code"] as? Int == 0)

                // Without explicit limits: nofile is this host's hard limit (which sutradhar
                // inherits from this process) capped at 64000, nproc the default 2048.
                var own = rlimit()
                #expect(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &own) == 0)
                let expectedNofile = min(64_000, Int(clamping: own.rlim_max))
                if !DockerTestSupport.isPodman {
                    #expect(result.logLines(of: "defaults", stream: "stdout") == [String(expectedNofile), "2048"], result.diagnosis)
                }

                // /src is read-only: the write fails inside and nothing appears in the checkout.
                #expect(result.stage("write")?["status"] as? String == "failed")
                #expect(result.outputs(of: "write")["exit_code"] as? Int != 0)
                let writeLog = result.logLines(of: "write").joined(separator: "\n")
                #expect(writeLog.contains("Read-only file system"), "write's log: \(writeLog)")
                let checkout = try #require(result.outputs(of: "checkout")["path"] as? String)
                #expect(FileManager.default.fileExists(atPath: checkout + "/" + marker))
                #expect(!FileManager.default.fileExists(atPath: checkout + "/written-by-the-container"))
                try expectNoContainersLeft(result, host: host)
            }
        }

        @Test func expectExitPassesOnTheExpectedCodeAndFailsOnAnother() async throws {
            try await DockerE2E.withServerImage { workspace, server, host, _ in
                let pipeline = try workspace.write("container.yaml", """
                    version: 1
                    name: e2e-container
                    source: { path: ./src }
                    stages:
                      exit-3:
                        timeout: 60s
                        container:
                          image: "\(server.tag)"
                          command: [sh, -c, "exit 3"]
                          expect-exit: 3
                      exit-4:
                        timeout: 60s
                        container:
                          image: "\(server.tag)"
                          command: [sh, -c, "exit 4"]
                          expect-exit: 3

                    """)
                let result = try await DockerE2E.run(pipeline, workspace: workspace, host: host)
                #expect(result.exitCode == 1, result.diagnosis)
                #expect(result.stage("exit-3")?["status"] as? String == "passed", result.diagnosis)
                #expect(result.outputs(of: "exit-3")["exit_code"] as? Int == 3)
                #expect(result.stage("exit-4")?["status"] as? String == "failed")
                #expect(result.outputs(of: "exit-4")["exit_code"] as? Int == 4)
                let error = result.stage("exit-4")?["error"] as? String ?? ""
                #expect(error.contains("exited with code 4, expected 3"), "error: \(error)")
                try expectNoContainersLeft(result, host: host)
            }
        }

        @Test func bridgeNetworkWithoutAllowNetworkFailsWithItsRemedyAndTheCLINamesTheFlag() async throws {
            try await DockerE2E.withServerImage { workspace, server, host, _ in
                let pipeline = try workspace.write("container.yaml", """
                    version: 1
                    name: e2e-network
                    source: { path: ./src }
                    stages:
                      online:
                        timeout: 60s
                        container:
                          image: "\(server.tag)"
                          command: [sh, -c, "ip link"]
                          network: bridge

                    """)
                let result = try await DockerE2E.run(pipeline, workspace: workspace, host: host)
                #expect(result.exitCode == 1, result.diagnosis)
                #expect(result.stage("online")?["status"] as? String == "failed")
                // The events name the setting, not a flag (front ends without flags read them)...
                let error = result.stage("online")?["error"] as? String ?? ""
                #expect(error.contains("does not allow networks") && !error.contains("--allow-network"), "error: \(error)")
                #expect(result.stage("online")?["code"] as? String == "policy-refused")
                #expect(result.stage("online")?["remedy"] as? String == "allow-network", result.diagnosis)
                #expect(result.outputs(of: "online")["exit_code"] == nil, "no container may have run")
                try expectNoContainersLeft(result, host: host)

                // ...and the CLI, printing for a person, adds its flag.
                let printed = try await SutradharCLI.run(["run", pipeline.path, "--cache-dir", workspace.cache.path, "--docker-host", host],
                                                         timeout: .seconds(180))
                #expect(printed.exitCode == 1, "\(printed.stdout)\(printed.stderr)")
                #expect(printed.stdout.contains("does not allow networks; containers have no network unless the caller allows it (pass --allow-network)"),
                        "\(printed.stdout)")
            }
        }
    }
}
