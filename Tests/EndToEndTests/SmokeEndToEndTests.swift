import Foundation
import SutradharTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension DockerEndToEndTests {
    /// Smoke stages through the real executable: probes that pass, fail and never answer, the
    /// limits report, and Ctrl-C. Every test checks that no container of its run is left.
    @Suite struct Smoke {
        @Test func examplePipelineShapePassesWithExecAndSidecarProbesAndReportsLimits() async throws {
            try NixFixtures.requireNix()
            let host = try DockerE2E.host()
            let name = DockerE2E.uniqueName()
            let archiveTag = "\(name)-archive:built", tag = "\(name):latest"
            var imageToRemove: String?
            defer { DockerE2E.removeImages([imageToRemove, archiveTag, tag].compactMap { $0 }, host: host) }
            try await DockerE2E.withWorkspace { workspace in
                try workspace.makeHelloServerFlake(repoTag: archiveTag)
                let pipeline = try workspace.write("smoke.yaml", """
                    version: 1
                    name: e2e-smoke
                    source: { path: ./hello-server }
                    nix:
                      options: { substituters: "" }
                    stages:
                      image:
                        nix-build: { installable: .#docker-image }
                      load:
                        needs: [image]
                        docker-load: { from: image, tags: ["\(tag)"] }
                      smoke:
                        needs: [load]
                        timeout: 60s
                        smoke:
                          image: load
                          limits: { memory: 256MiB, data: 256MiB, cpu-seconds: 60 }
                          probe:
                            exec: [wget, -qO-, "http://127.0.0.1:8080/health"]
                            expect-stdout: ok
                            attempts: 40
                            interval: 250ms
                      probe-from-sidecar:
                        needs: [load]
                        timeout: 60s
                        smoke:
                          image: load
                          probe:
                            sidecar:
                              image: load
                              command: [wget, -qO-, "http://127.0.0.1:8080/"]
                            expect-stdout-matches: "hello from .*understudy"
                            attempts: 40
                            interval: 250ms

                    """)
                let result = try await DockerE2E.run(pipeline, workspace: workspace, host: host)
                imageToRemove = result.outputs(of: "load")["image"] as? String
                #expect(result.exitCode == 0, result.diagnosis)
                #expect(result.summary?["status"] as? String == "passed")

                let smoke = result.outputs(of: "smoke")
                #expect(result.stage("smoke")?["status"] as? String == "passed")
                #expect((smoke["probe_stdout"] as? String)?.contains("ok") == true, result.diagnosis)
                #expect(smoke["network"] as? String == "none")
                let limits = try #require(smoke["limits"] as? [String: [String: Any]], result.diagnosis)
                // Rlimits hold on rootless Docker; rootless Podman 4.3 drops them, and the report says so.
                let rlimitsHold = !DockerTestSupport.isPodman
                #expect(limits["nofile"]?["enforced"] as? Bool == rlimitsHold)
                #expect(limits["nproc"]?["enforced"] as? Bool == rlimitsHold)
                #expect(limits["data"]?["enforced"] as? Bool == rlimitsHold)
                // The daemon's cgroup driver is `none`: the memory limit is accepted, not enforced.
                #expect(limits["memory"]?["value"] as? String == String(256 << 20))
                #expect(limits["memory"]?["enforced"] as? Bool == false)

                let sidecar = result.outputs(of: "probe-from-sidecar")
                #expect(result.stage("probe-from-sidecar")?["status"] as? String == "passed")
                #expect((sidecar["probe_stdout"] as? String)?.contains("bommalata's understudy") == true, result.diagnosis)
                #expect((sidecar["limits"] as? [String: Any])?["memory"] == nil, "no memory limit was asked for")
                try expectNoContainersLeft(result, host: host)
            }
        }

        /// The verdict is the probe's answer: the smoke stage's stage-finished event comes before
        /// the server's removal begins (the daemon's own kill/die/destroy events, from the audit
        /// trail, are no earlier than it), and the removal still ends before the process exits.
        @Test func theVerdictComesBeforeTheServersRemovalWhichEndsBeforeTheRunExits() async throws {
            try await DockerE2E.withServerImage { workspace, server, host, _ in
                let pipeline = try workspace.write("smoke.yaml", Self.smokePipeline(image: server.tag))
                let result = try await DockerE2E.run(pipeline, workspace: workspace, host: host)
                // Right after the process exits, before anything else can remove them.
                let runID = try #require(result.runID, "no run-started event")
                let left = try DockerE2E.containers(ofRun: runID, host: host)
                #expect(left.isEmpty, "containers of run \(runID) are left after the process exited: \(left)")
                if !left.isEmpty { _ = try? DockerE2E.docker(["rm", "-f"] + left, host: host) }
                #expect(result.exitCode == 0, result.diagnosis)

                // The order is read from the audit trail, which rootless Podman 4.3 left empty for
                // this run (seen in the Podman pass; to look into): there only "nothing left" is checked.
                guard !DockerTestSupport.isPodman else { return }
                let server = try #require(result.outputs(of: "smoke")["container"] as? String, result.diagnosis)
                let finished = try #require(result.events.first {
                    $0["event"] as? String == "stage-finished" && $0["stage"] as? String == "smoke"
                }?["time"] as? String, result.diagnosis)
                // Audit lines: "<RFC 3339 time> container <action> <id prefix> name=… stage=…".
                let teardown = result.logLines(of: "docker-audit").map { $0.split(separator: " ").map(String.init) }
                    .filter { $0.count >= 4 && $0[1] == "container" && $0[3] == server && ["kill", "die", "stop", "destroy"].contains($0[2]) }
                #expect(teardown.contains { $0[2] == "destroy" },
                        "the audit trail does not show the server's removal: \(result.logLines(of: "docker-audit"))")
                // RFC 3339 UTC with milliseconds on both sides: the strings order as the times do.
                let firstTeardown = try #require(teardown.map { $0[0] }.min(), result.diagnosis)
                #expect(finished <= firstTeardown,
                        "the server's removal began at \(firstTeardown), before the stage-finished event at \(finished)")
            }
        }

        @Test func requireEnforcedRefusesAMemoryLimitTheDaemonWouldIgnore() async throws {
            try await DockerE2E.withServerImage { workspace, server, host, _ in
                let pipeline = try workspace.write("smoke.yaml", Self.smokePipeline(image: server.tag, extra: """
                          limits: { memory: 256MiB, require-enforced: true }
                    """))
                let result = try await DockerE2E.run(pipeline, workspace: workspace, host: host)
                #expect(result.exitCode == 1, result.diagnosis)
                #expect(result.stage("smoke")?["status"] as? String == "failed")
                let error = result.stage("smoke")?["error"] as? String ?? ""
                #expect(error.contains("memory") && error.contains("would not be enforced"), "error: \(error)")
                try expectNoContainersLeft(result, host: host)

                // The same stage without require-enforced runs (so the refusal above is the flag's doing).
                let relaxed = try workspace.write("relaxed.yaml", Self.smokePipeline(image: server.tag, extra: """
                          limits: { memory: 256MiB }
                    """))
                let passing = try await DockerE2E.run(relaxed, workspace: workspace, host: host)
                #expect(passing.exitCode == 0, passing.diagnosis)
                try expectNoContainersLeft(passing, host: host)
            }
        }

        @Test func aStageRunsOnTheRuntimeItNamesAndOneTheDaemonLacksIsAnEnvironmentProblem() async throws {
            try await DockerE2E.withServerImage { workspace, server, host, _ in
                let pipeline = try workspace.write("runc.yaml", Self.smokePipeline(image: server.tag, extra: """
                          runtime: runc
                    """))
                let result = try await DockerE2E.run(pipeline, workspace: workspace, host: host)
                #expect(result.exitCode == 0, result.diagnosis)
                // The signed verdict says which runtime the container ran on.
                let envelope = try #require(result.outputs(of: "smoke")["attestation"] as? String, result.diagnosis)
                let statement = try DockerEndToEndTests.Attestations.statement(in: envelope)
                let configuration = (statement["predicate"] as? [String: Any])?["configuration"] as? [[String: Any]]
                let policy = configuration?.first { $0["name"] as? String == "container-policy" }?["annotations"] as? [String: Any]
                #expect(policy?["runtime"] as? String == "runc", "\(configuration ?? [])")
                try expectNoContainersLeft(result, host: host)

                let missing = try workspace.write("missing.yaml", Self.smokePipeline(image: server.tag, extra: """
                          runtime: no-such-runtime
                    """))
                let refused = try await DockerE2E.run(missing, workspace: workspace, host: host)
                #expect(refused.exitCode == 3, refused.diagnosis)
                let error = refused.stage("smoke")?["error"] as? String ?? ""
                #expect(error.contains("'no-such-runtime', which") && error.contains("does not offer") && error.contains("runc"), "error: \(error)")
                try expectNoContainersLeft(refused, host: host)
            }
        }

        @Test func readyWhenLogWaitsForTheServersLineInsteadOfPolling() async throws {
            try await DockerE2E.withServerImage { workspace, server, host, _ in
                // The server answers only after a second, and says so: one attempt, made when the
                // line appears, passes; the same single attempt made at start (below) cannot.
                let command = #"command: [sh, -c, "echo warming up; sleep 1; httpd -p 8080 -h /www && echo listening on 8080 && exec sleep 600"]"#
                let probe = """
                            exec: [wget, -qO-, "http://127.0.0.1:8080/health"]
                            expect-stdout: ok
                            attempts: 1
                    """
                let pipeline = try workspace.write("ready.yaml", Self.smokePipeline(image: server.tag, extra: "      " + command,
                                                                                     probe: probe + "\n        ready-when-log: listening on"))
                let result = try await DockerE2E.run(pipeline, workspace: workspace, host: host)
                #expect(result.exitCode == 0, result.diagnosis)
                let lines = result.logLines(of: "smoke")
                let heard = try #require(lines.firstIndex(of: "server: listening on 8080"), "\(lines)")
                let ready = try #require(lines.firstIndex { $0.hasPrefix("ready: the server printed a line with") }, "\(lines)")
                #expect(heard < ready && lines.contains("probe passed on attempt 1"), "\(lines)")
                try expectNoContainersLeft(result, host: host)

                let eager = try workspace.write("eager.yaml", Self.smokePipeline(image: server.tag, extra: "      " + command, probe: probe))
                let failing = try await DockerE2E.run(eager, workspace: workspace, host: host)
                #expect(failing.exitCode == 1 && failing.stage("smoke")?["code"] as? String == "probe-failed", failing.diagnosis)
                try expectNoContainersLeft(failing, host: host)
            }
        }

        @Test func theServersCommandAndEnvironmentAreTheStagesOwn() async throws {
            try await DockerE2E.withServerImage { workspace, server, host, _ in
                // The root is read-only: the server writes its page to the tmpfs /tmp.
                let pipeline = try workspace.write("smoke.yaml", Self.smokePipeline(image: server.tag, extra: """
                          command: [sh, -c, "mkdir -p /tmp/www && echo \\"$GREETING from $0\\" > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"]
                          env: { GREETING: namaste }
                    """, probe: """
                            exec: [wget, -qO-, "http://127.0.0.1:8080/"]
                            expect-stdout: "namaste from sh"
                            attempts: 40
                            interval: 250ms
                    """))
                let result = try await DockerE2E.run(pipeline, workspace: workspace, host: host)
                #expect(result.exitCode == 0, result.diagnosis)
                #expect((result.outputs(of: "smoke")["probe_stdout"] as? String)?.contains("namaste from sh") == true, result.diagnosis)
                try expectNoContainersLeft(result, host: host)
            }
        }

        @Test func wrongExpectedStdoutFailsNamingTheExpectation() async throws {
            try await DockerE2E.withServerImage { workspace, server, host, _ in
                let pipeline = try workspace.write("smoke.yaml", Self.smokePipeline(image: server.tag, probe: """
                            exec: [wget, -qO-, "http://127.0.0.1:8080/health"]
                            expect-stdout: not-what-the-server-says
                            attempts: 3
                            interval: 300ms
                    """))
                let result = try await DockerE2E.run(pipeline, workspace: workspace, host: host)
                #expect(result.exitCode == 1, result.diagnosis)
                #expect(result.stage("smoke")?["status"] as? String == "failed")
                let error = result.stage("smoke")?["error"] as? String ?? ""
                #expect(error.contains("not-what-the-server-says"), "error: \(error)")
                #expect(error.contains("3 attempts"), "error: \(error)")
                // The server did answer: the failure is about what it said, not about reaching it.
                #expect(error.contains("\"ok\\n\""), "error: \(error)")
                try expectNoContainersLeft(result, host: host)
            }
        }

        @Test func serverThatNeverAnswersTimesOutAtTheStageTimeout() async throws {
            try await DockerE2E.withServerImage { workspace, server, host, _ in
                let pipeline = try workspace.write("smoke.yaml", Self.smokePipeline(image: server.tag, timeout: "5s", extra: """
                          command: [sleep, "3600"]
                    """, probe: """
                            exec: [wget, -qO-, "http://127.0.0.1:8080/health"]
                            attempts: 1000
                            interval: 200ms
                    """))
                let started = ContinuousClock.now
                let result = try await DockerE2E.run(pipeline, workspace: workspace, host: host, timeout: .seconds(60))
                let elapsed = started.duration(to: .now)
                #expect(result.exitCode == 1, result.diagnosis)
                #expect(result.stage("smoke")?["status"] as? String == "failed")
                let error = result.stage("smoke")?["error"] as? String ?? ""
                #expect(error.contains("timed out after 5s"), "error: \(error)")
                let duration = result.stage("smoke")?["duration_ms"] as? Int ?? 0
                #expect((4_900...12_000).contains(duration), "the stage took \(duration) ms")
                #expect(elapsed < .seconds(20), "the run took \(elapsed)")
                #expect(result.logLines(of: "smoke").contains { $0.contains("probe attempt 2/1000") }, "the probe was retried")
                try expectNoContainersLeft(result, host: host)
            }
        }

        @Test func interruptDuringSmokeExits130AndRemovesTheContainers() async throws {
            try await DockerE2E.withServerImage { workspace, server, host, _ in
                let pipeline = try workspace.write("smoke.yaml", Self.smokePipeline(image: server.tag, timeout: "120s", probe: """
                            exec: [wget, -qO-, "http://127.0.0.1:8080/nothing-here"]
                            attempts: 1000
                            interval: 200ms
                    """))
                let invocation = try SutradharCLI.start(
                    ["run", pipeline.path, "--json", "--cache-dir", workspace.cache.path, "--docker-host", host])
                let probing = await invocation.waitForOutput(containing: "probe attempt 2/1000", timeout: .seconds(60))
                if !probing {
                    invocation.signal(SIGKILL)
                }
                let runID = try #require(DockerE2E.runID(inJSONLines: invocation.stdoutSoFar),
                                         "no run-started event: \(invocation.stdoutSoFar)")
                let running = try DockerE2E.containers(ofRun: runID, host: host)
                #expect(probing, "the probe never ran: \(invocation.stdoutSoFar)")
                #expect(running.count == 1, "the server container of run \(runID) should be there: \(running)")

                invocation.signal(SIGINT)
                let result = await invocation.finish(timeout: .seconds(30))
                #expect(result.exitCode == 130, result.diagnosis)
                #expect(result.summary?["status"] as? String == "cancelled", result.diagnosis)
                #expect(result.stage("smoke")?["status"] as? String == "cancelled")
                let left = try DockerE2E.containers(ofRun: runID, host: host)
                #expect(left.isEmpty, "containers of run \(runID) are left: \(left)")
                if !left.isEmpty { _ = try? DockerE2E.docker(["rm", "-f"] + left, host: host) }
            }
        }

        /// A run killed while its create request was in flight leaves a container the daemon makes
        /// only after the kill, which can be after the next run's first look for leftovers (the
        /// chaos suite's kill -9 row, 1 in 100). Such a container — labelled for this host and a
        /// dead process — made while a run is under way must be gone when that run ends.
        @Test func aLeftoverMadeDuringARunIsRemovedWhenTheRunEnds() async throws {
            try await DockerE2E.withServerImage { workspace, server, host, _ in
                let pipeline = try Self.gatedSmokePipeline(image: server.tag, timeout: "120s", in: workspace)
                let invocation = try SutradharCLI.start(
                    ["run", pipeline.path, "--json", "--cache-dir", workspace.cache.path, "--docker-host", host])
                let probing = await invocation.waitForOutput(containing: "probe attempt 2/1000", timeout: .seconds(60))
                // A process that has exited: the "killed run" the leftover claims to belong to.
                let gone = Process()
                gone.executableURL = URL(fileURLWithPath: "/bin/true")
                try gone.run()
                gone.waitUntilExit()
                let leftover = try DockerE2E.docker([
                    "create", "--label", "dev.sutradhar=1", "--label", "dev.sutradhar.run=killed-\(gone.processIdentifier)",
                    "--label", "dev.sutradhar.host=\(ProcessInfo.processInfo.hostName)",
                    "--label", "dev.sutradhar.pid=\(gone.processIdentifier)", "--network", "none", server.tag,
                ], host: host)
                let checkout = invocation.stdoutSoFar.split(separator: "\n").lazy.compactMap {
                    (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
                }.first { $0["event"] as? String == "stage-finished" && $0["stage"] as? String == "checkout" }
                    .flatMap { ($0["outputs"] as? [String: Any])?["path"] as? String }
                if let checkout {
                    try Data().write(to: URL(fileURLWithPath: checkout).appendingPathComponent("gate/open"))
                } else {
                    invocation.signal(SIGKILL)
                }
                let result = await invocation.finish(timeout: .seconds(120))
                #expect(probing, "the probe never ran: \(invocation.stdoutSoFar)")
                #expect(result.exitCode == 0, result.diagnosis)
                let left = try DockerE2E.docker(["ps", "-a", "-q", "--no-trunc", "--filter", "id=\(leftover)"], host: host)
                #expect(left.isEmpty, "the leftover made during the run is still there")
                if !left.isEmpty { _ = try? DockerE2E.docker(["rm", "-f", leftover], host: host) }
                // Not asserted: that this run's warning names it — with the suites in parallel, any
                // other run on this host may reap it first; what matters is that it is gone.
            }
        }

        /// Concurrent runs of one commit share one smoke verdict: one run starts the server and
        /// probes, the others wait for its lock and reuse its verdict. The probe waits for a gate
        /// (a file the test creates in the mounted checkout) that opens only once every run has
        /// reached the smoke stage, so without the lock all four would run it, however fast or
        /// slow the machine.
        @Test func concurrentRunsOfOneCommitRunTheSmokeStageOnce() async throws {
            try await DockerE2E.withServerImage { workspace, server, host, _ in
                let pipeline = try Self.gatedSmokePipeline(image: server.tag, timeout: "180s", in: workspace)
                let runs = try (0..<4).map { _ in
                    try SutradharCLI.start(["run", pipeline.path, "--json", "--cache-dir", workspace.cache.path,
                                            "--docker-host", host, "--max-runs", "4"])
                }
                func events(_ run: SutradharCLI.Invocation) -> [[String: Any]] {
                    run.stdoutSoFar.split(separator: "\n").compactMap {
                        (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
                    }
                }
                // A run has reached the smoke stage once it started a server or waits for another's.
                func atSmoke(_ run: SutradharCLI.Invocation) -> Bool {
                    events(run).contains { event in
                        event["stage"] as? String == "smoke" && (event["event"] as? String == "stage-waiting"
                            || (event["line"] as? String)?.hasPrefix("started ") == true)
                    }
                }
                let allThere = await eventually(timeout: .seconds(120)) { runs.allSatisfy(atSmoke) }
                let checkout = runs.lazy.flatMap(events).first {
                    $0["event"] as? String == "stage-finished" && $0["stage"] as? String == "checkout"
                }.flatMap { ($0["outputs"] as? [String: Any])?["path"] as? String }
                if let checkout {
                    try Data().write(to: URL(fileURLWithPath: checkout).appendingPathComponent("gate/open"))
                }
                var results: [SutradharCLI.Result] = []
                for run in runs { results.append(await run.finish(timeout: .seconds(240))) }
                #expect(allThere, "not every run reached the smoke stage: \(runs.map(\.stdoutSoFar))")
                #expect(checkout != nil, "no checkout path in the events")

                for result in results { #expect(result.exitCode == 0, result.diagnosis) }
                let smokes = results.compactMap { $0.stage("smoke")?["cached"] as? Bool }
                #expect(smokes.count == 4)
                #expect(smokes.filter { !$0 }.count == 1, "the smoke stage ran \(smokes.filter { !$0 }.count) times: \(smokes)")
                let waited = results.filter { result in
                    result.events.contains { $0["event"] as? String == "stage-waiting" && $0["stage"] as? String == "smoke" }
                }
                #expect(waited.count == 3, "\(waited.count) runs waited for the smoke verdict")
                for result in results { try expectNoContainersLeft(result, host: host) }
            }
        }

        /// The daemon goes away mid-smoke (a proxy in front of the real one is killed, so the
        /// shared daemon lives on): the run must say so at once, as an environment problem
        /// (exit 3), not after the probe's and the audit trail's deadlines.
        @Test func aDaemonThatDiesMidSmokeIsReportedWithinSecondsAsAnEnvironmentProblem() async throws {
            try await DockerE2E.withServerImage { workspace, server, host, _ in
                let proxy = try DaemonProxy(socketPath: workspace.root.appendingPathComponent("d.sock").path,
                                            upstreamPath: try DockerTestSupport.requireDaemon())
                defer { proxy.kill() }
                let pipeline = try workspace.write("smoke.yaml", Self.smokePipeline(image: server.tag, timeout: "120s", probe: """
                            exec: [wget, -qO-, "http://127.0.0.1:8080/nothing-here"]
                            attempts: 1000
                            interval: 200ms
                    """))
                let invocation = try SutradharCLI.start(
                    ["run", pipeline.path, "--json", "--cache-dir", workspace.cache.path, "--docker-host", "unix://" + proxy.socketPath])
                let probing = await invocation.waitForOutput(containing: "probe attempt 2/1000", timeout: .seconds(60))
                let runID = DockerE2E.runID(inJSONLines: invocation.stdoutSoFar)
                // The run cannot remove its containers from a daemon it cannot reach.
                defer {
                    if let runID, let left = try? DockerE2E.containers(ofRun: runID, host: host), !left.isEmpty {
                        _ = try? DockerE2E.docker(["rm", "-f"] + left, host: host)
                    }
                }
                #expect(probing, "the probe never ran: \(invocation.stdoutSoFar)")

                let killed = ContinuousClock.now
                proxy.kill()
                let result = await invocation.finish(timeout: .seconds(60))
                let noticed = killed.duration(to: .now)
                print("daemon gone mid-smoke: the run ended \(noticed) after the daemon's socket closed")
                #expect(result.exitCode == 3, result.diagnosis)
                #expect(result.summary?["environment_problem"] is String, result.diagnosis)
                #expect(result.stage("smoke")?["status"] as? String == "failed", result.diagnosis)
                let error = result.stage("smoke")?["error"] as? String ?? ""
                #expect(error.contains("went away"), "error: \(error)")
                #expect(result.logLines(of: "docker-audit").contains { $0.hasPrefix("no audit trail: ") },
                        "the audit trail was not skipped: \(result.logLines(of: "docker-audit"))")
                // The target is under 2 s; 5 s so that a loaded 2-core machine does not flake.
                // Before the fix, the audit trail alone waited 5 s more for the dead daemon.
                #expect(noticed < .seconds(5), "the dead daemon was reported after \(noticed): \(result.stdout.suffix(3000))")
            }
        }

        /// A smoke pipeline whose probe passes only once the test opens a gate: the file
        /// `gate/open` in the run's checkout (mounted at /gate), so the test decides when the
        /// smoke stage may end.
        static func gatedSmokePipeline(image: String, timeout: String, in workspace: DockerE2EWorkspace) throws -> URL {
            _ = try workspace.write("src/gate/.keep", "")
            return try workspace.write("smoke.yaml", smokePipeline(image: image, timeout: timeout, extra: """
                      mounts: [gate:/gate]
                """, probe: """
                        exec: [sh, -c, "test -e /gate/open && wget -qO- http://127.0.0.1:8080/health"]
                        expect-stdout: ok
                        attempts: 1000
                        interval: 200ms
                """))
        }

        /// A pipeline with one smoke stage on `image` (already in the daemon) over the plain
        /// source `src/`; `extra` adds smoke settings, `probe` replaces the health probe.
        static func smokePipeline(image: String, timeout: String = "60s", extra: String = "", probe: String? = nil) -> String {
            let defaultProbe = """
                        exec: [wget, -qO-, "http://127.0.0.1:8080/health"]
                        expect-stdout: ok
                        attempts: 40
                        interval: 250ms
                """
            return """
                version: 1
                name: e2e-smoke
                source: { path: ./src }
                stages:
                  smoke:
                    timeout: \(timeout)
                    smoke:
                      image: "\(image)"
                \(extra)
                      probe:
                \(probe ?? defaultProbe)

                """
        }
    }
}
