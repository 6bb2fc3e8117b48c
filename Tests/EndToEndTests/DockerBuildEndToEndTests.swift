import Foundation
import SutradharTesting
import Testing

extension DockerEndToEndTests {
    /// `docker-build` through the real executable and the rootless daemon: a git repository with
    /// a Dockerfile `FROM` a busybox image already in the daemon (nothing is pulled).
    @Suite struct DockerBuild {
        static func pipeline(base: String, tag: String) -> String {
            """
            version: 1
            name: e2e-build
            source: { git: ./repo, ref: main }
            stages:
              image:
                docker-build:
                  context: .
                  dockerfile: Dockerfile
                  build-args: { BASE: "\(base)" }
                  tags: ["\(tag)"]
              smoke:
                needs: [image]
                timeout: 60s
                smoke:
                  image: image
                  probe:
                    exec: [wget, -qO-, "http://127.0.0.1:8080/health"]
                    expect-stdout: built
                    attempts: 40
                    interval: 250ms

            """
        }

        /// Intermediate containers of builds from `base` (they are not labelled: `ancestor` finds them).
        static func containers(from base: String, host: String) throws -> [String] {
            if DockerTestSupport.isPodman {
                // Podman's builder (buildah) keeps its step containers out of `ps -a`: they are
                // "external", listed by the podman CLI of the store's owner.
                let hex = base.hasPrefix("sha256:") ? String(base.dropFirst("sha256:".count)) : base
                let lines = try DockerTestSupport.run("/bin/su", ["-s", "/bin/sh", "sutradhar", "-c",
                    "cd / && XDG_RUNTIME_DIR=/run/user/$(id -u) podman ps -a --external --no-trunc --format '{{.ID}} {{.ImageID}} {{.Image}}'"])
                return lines.split(whereSeparator: \.isNewline).filter { $0.contains(hex.prefix(12)) }
                    .map { String($0.split(separator: " ")[0]) }
            }
            return try DockerE2E.docker(["ps", "-a", "-q", "--filter", "ancestor=\(base)"], host: host)
                .split(whereSeparator: \.isNewline).map(String.init)
        }

        @Test func dockerfileIsBuiltSmokeTestedThenCachedWithoutFollowingALinkOutOfTheCheckout() async throws {
            try await DockerE2E.withServerImage { workspace, server, host, _ in
                let tag = DockerE2E.uniqueName() + ":built"
                defer { DockerE2E.removeImages([tag], host: host) }
                try workspace.write("outside.txt", "TOPSECRET\n")
                let repo = try GitFixtureRepository(at: workspace.root.appendingPathComponent("repo"))
                try repo.write("Dockerfile", """
                    ARG BASE
                    FROM ${BASE}
                    COPY . /ctx
                    RUN echo built > /www/health && test -L /ctx/leak && ! grep -q TOPSECRET /ctx/leak 2>/dev/null \\
                        && test ! -e /ctx/secret.txt && echo link-not-followed

                    """)
                try repo.write(".dockerignore", "secret.txt\n")
                try repo.write("secret.txt", "ignored\n")
                try repo.symlink("leak", to: workspace.root.appendingPathComponent("outside.txt").path)
                try repo.commit("a Dockerfile project")
                let pipeline = try workspace.write("build.yaml", Self.pipeline(base: server.tag, tag: tag))

                let first = try await DockerE2E.run(pipeline, workspace: workspace, host: host)
                #expect(first.exitCode == 0, first.diagnosis)
                let image = try #require(first.outputs(of: "image")["image"] as? String, first.diagnosis)
                #expect(first.stage("image")?["cached"] as? Bool == false)
                #expect(first.stage("smoke")?["status"] as? String == "passed", first.diagnosis)
                #expect(DockerE2E.imageID(tag, host: host) == image)
                // Its provenance: the image by the daemon's ID; the base image by its ID, the
                // context by its tree; the build argument's value only as a digest.
                let provenance = try Attestations.statement(in: try #require(first.outputs(of: "image")["attestation"] as? String, first.diagnosis))
                let subject = (provenance["subject"] as? [[String: Any]])?.first
                #expect((subject?["digest"] as? [String: String])?["sha256"].map { "sha256:" + $0 } == image)
                let definition = (provenance["predicate"] as? [String: Any])?["buildDefinition"] as? [String: Any]
                let dependencies = definition?["resolvedDependencies"] as? [[String: Any]] ?? []
                #expect(dependencies.contains { ($0["digest"] as? [String: String])?["sha256"].map { "sha256:" + $0 } == server.id }, "\(dependencies)")
                #expect(dependencies.contains { $0["name"] as? String == "build-context" && ($0["digest"] as? [String: String])?["gitTree"] != nil })
                let arguments = (definition?["externalParameters"] as? [String: Any])?["build_args"] as? [String: String]
                #expect(arguments?["BASE"]?.hasPrefix("sha256:") == true && arguments?["BASE"] != server.tag, "\(String(describing: arguments))")
                #expect(first.logLines(of: "image").contains("link-not-followed"), first.diagnosis)
                #expect(try Self.containers(from: server.id, host: host).isEmpty, "intermediate containers are left")
                try expectNoContainersLeft(first, host: host)

                let second = try await DockerE2E.run(pipeline, workspace: workspace, host: host)
                #expect(second.exitCode == 0, second.diagnosis)
                #expect(second.stage("image")?["cached"] as? Bool == true, second.diagnosis)
                #expect(second.outputs(of: "image")["image"] as? String == image)
                #expect(!second.logLines(of: "image").contains("link-not-followed"), "the rerun built again")

                // `cache verify` treats the entry like docker-load's: gone from the daemon, dropped.
                DockerE2E.removeImages([image], host: host)
                let verify = try await SutradharCLI.run(["cache", "verify", "--json", "--cache-dir", workspace.cache.path, "--docker-host", host])
                let report = try #require(try? JSONSerialization.jsonObject(with: Data(verify.stdout.utf8)) as? [String: Any], "\(verify.stderr)")
                let dropped = (report["dropped"] as? [[String: Any]]) ?? []
                #expect(dropped.contains { $0["kind"] as? String == "docker-build" }, "verify: \(report)")
            }
        }

        @Test func failingRunStepAndMissingBaseImageFailWithTheirCodesAndLeaveNoContainer() async throws {
            try await DockerE2E.withServerImage { workspace, server, host, _ in
                let tag = DockerE2E.uniqueName() + ":broken"
                defer { DockerE2E.removeImages([tag], host: host) }
                let repo = try GitFixtureRepository(at: workspace.root.appendingPathComponent("repo"))
                try repo.write("Dockerfile", "ARG BASE\nFROM ${BASE}\nRUN echo about-to-fail && exit 7\n")
                try repo.commit("a failing step")
                let pipeline = try workspace.write("build.yaml", Self.pipeline(base: server.tag, tag: tag))
                let failed = try await DockerE2E.run(pipeline, workspace: workspace, host: host)
                #expect(failed.exitCode != 0, failed.diagnosis)
                #expect(failed.stage("image")?["code"] as? String == "build-failed", failed.diagnosis)
                let error = failed.stage("image")?["error"] as? String ?? ""
                if DockerTestSupport.isPodman {
                    // buildah's words for the same failure.
                    #expect(error.contains("exit status 7"), "error: \(error)")
                    #expect(error.contains("about-to-fail") && error.contains(#"STEP "RUN echo about-to-fail"#), "error: \(error)")
                } else {
                    #expect(error.contains("returned a non-zero code: 7"), "error: \(error)")
                    #expect(error.contains("about-to-fail") && error.contains("Step 3/3"), "error: \(error)")
                }
                #expect(try Self.containers(from: server.id, host: host).isEmpty, "intermediate containers are left")

                let missing = DockerE2E.uniqueName() + ":absent"
                let absent = try workspace.write("absent.yaml", Self.pipeline(base: missing, tag: tag))
                let refused = try await DockerE2E.run(absent, workspace: workspace, host: host)
                #expect(refused.stage("image")?["code"] as? String == "image-missing", refused.diagnosis)
                let message = refused.stage("image")?["error"] as? String ?? ""
                #expect(message.contains(missing) && message.contains("docker load"), "error: \(message)")
            }
        }
        /// The daemon's builder fetches `ADD http://…` itself and pulls a `COPY --from`
        /// image it lacks, whatever `network: none` says. Both are refused, naming the line,
        /// before anything is sent to /build.
        @Test func remoteAddAndCopyFromAnAbsentImageAreRefusedBeforeBuilding() async throws {
            try await DockerE2E.withServerImage { workspace, server, host, _ in
                let tag = DockerE2E.uniqueName() + ":refused"
                defer { DockerE2E.removeImages([tag], host: host) }
                let missing = DockerE2E.uniqueName() + ":absent"
                let repo = try GitFixtureRepository(at: workspace.root.appendingPathComponent("repo"))
                // The URL's port is closed: were it fetched, the build would fail differently.
                try repo.write("remote/Dockerfile", "ARG BASE\nFROM ${BASE}\nRUN true\nADD \\\n  http://127.0.0.1:9/payload /payload\n")
                try repo.write("copyfrom/Dockerfile", "ARG BASE\nFROM ${BASE} AS first\nFROM ${BASE}\nCOPY --from=first / /tmp/a\ncopy --from=\(missing) / /tmp/b\n")
                try repo.commit("Dockerfiles that reach out")
                for (folder, code, line, words) in [("remote", "policy-refused", "Dockerfile:4:", ["http://127.0.0.1:9/payload", "does not allow the network"]),
                                                    ("copyfrom", "image-missing", "Dockerfile:5:", [missing, "never pulls"])] {
                    let yaml = Self.pipeline(base: server.tag, tag: tag)
                        .replacingOccurrences(of: "context: .", with: "context: \(folder)")
                    let result = try await DockerE2E.run(try workspace.write("\(folder).yaml", yaml), workspace: workspace, host: host)
                    #expect(result.exitCode != 0, result.diagnosis)
                    #expect(result.stage("image")?["code"] as? String == code, result.diagnosis)
                    let error = result.stage("image")?["error"] as? String ?? ""
                    #expect(error.hasPrefix(line), "error: \(error)")
                    #expect(words.allSatisfy(error.contains), "error: \(error)")
                    if code == "policy-refused" { #expect(result.stage("image")?["remedy"] as? String == "allow-network", result.diagnosis) }
                    #expect(!result.logLines(of: "image").contains { $0.contains("classic builder") || $0.contains("Step ") },
                            "nothing was sent to /build: \(result.diagnosis)")
                    #expect(DockerE2E.imageID(tag, host: host) == nil)
                }
            }
        }

        /// A base image's `ONBUILD ADD http://…` runs in the build `FROM` it: refused like the line
        /// (on Podman, whose inspect leaves `OnBuild` out, found in the image's history).
        @Test func onBuildTriggerOfABaseImageIsRefusedLikeADockerfileLine() async throws {
            try await DockerE2E.withServerImage { workspace, server, host, _ in
                let name = DockerE2E.uniqueName()
                let triggerTag = "\(name)-trigger:ci", appTag = "\(name)-app:ci"
                defer { DockerE2E.removeImages([appTag, triggerTag], host: host) }
                let repo = try GitFixtureRepository(at: workspace.root.appendingPathComponent("repo"))
                try repo.write("trigger/Dockerfile", "FROM \(server.tag)\nONBUILD ADD http://127.0.0.1:9/payload /payload\n")
                try repo.write("app/Dockerfile", "# the app\nFROM \(triggerTag)\nRUN true\n")
                try repo.commit("an image with an ONBUILD trigger, and one built from it")
                let yaml = """
                    version: 1
                    name: e2e-build-onbuild
                    source: { git: ./repo, ref: main }
                    stages:
                      trigger:
                        docker-build: { context: trigger, tags: ["\(triggerTag)"] }
                      app:
                        needs: [trigger]
                        docker-build: { context: app, tags: ["\(appTag)"] }

                    """
                let result = try await DockerE2E.run(try workspace.write("onbuild.yaml", yaml), workspace: workspace, host: host)
                #expect(result.stage("trigger")?["status"] as? String == "passed", "an ONBUILD line is not run where it is written: \(result.diagnosis)")
                #expect(result.stage("app")?["code"] as? String == "policy-refused", result.diagnosis)
                let error = result.stage("app")?["error"] as? String ?? ""
                #expect(error.hasPrefix("Dockerfile:2: the base image '\(triggerTag)' has the ONBUILD trigger"), "error: \(error)")
                #expect(result.stage("app")?["remedy"] as? String == "allow-network", result.diagnosis)
                #expect(DockerE2E.imageID(appTag, host: host) == nil)
            }
        }

        /// Whether a run's events warn that Podman's builder goes on with a cancelled build.
        static func warnsOfBuildahGoingOn(_ events: [[String: Any]]) -> Bool {
            events.contains { $0["event"] as? String == "warning" && ($0["message"] as? String)?.contains("buildah") == true }
        }

        /// A pipeline whose build step runs far longer than any test waits, with stage timeout `timeout`.
        static func sleepingRepository(in workspace: DockerE2EWorkspace) throws {
            let repo = try GitFixtureRepository(at: workspace.root.appendingPathComponent("repo"))
            try repo.write("Dockerfile", "ARG BASE\nFROM ${BASE}\nRUN echo sleeping-now && sleep 300\n")
            try repo.commit("a step that hangs")
        }

        @Test func timedOutBuildLeavesNoIntermediateContainer() async throws {
            try await DockerE2E.withServerImage { workspace, server, host, _ in
                try Self.sleepingRepository(in: workspace)
                let yaml = Self.pipeline(base: server.tag, tag: DockerE2E.uniqueName() + ":slow")
                    .replacingOccurrences(of: "  image:\n    docker-build:", with: "  image:\n    timeout: 5s\n    docker-build:")
                let pipeline = try workspace.write("build.yaml", yaml)
                let result = try await DockerE2E.run(pipeline, workspace: workspace, host: host)
                #expect(result.stage("image")?["code"] as? String == "timeout", result.diagnosis)
                #expect(result.logLines(of: "image").contains("sleeping-now"), "the step ran: \(result.diagnosis)")
                if DockerTestSupport.isPodman {
                    // Podman's builder goes on with the step (300 s): the run says so instead.
                    #expect(Self.warnsOfBuildahGoingOn(result.events), result.diagnosis)
                    return
                }
                // The daemon removes the step's container once it sees the connection close; it
                // kills `sleep` first, which takes a moment on a loaded 2-core machine: 60 s is
                // generous, and the step itself would run 300 s.
                let gone = await eventually(timeout: .seconds(60)) { (try? Self.containers(from: server.id, host: host).isEmpty) ?? false }
                #expect(gone, "an intermediate container is left: \((try? Self.containers(from: server.id, host: host)) ?? [])")
            }
        }

        /// Ctrl-C (SIGINT: the run cancels its request) and kill -9 (no code of ours runs).
        @Test(.serialized, arguments: [SIGINT, SIGKILL])
        func interruptedOrKilledRunLeavesNoIntermediateContainer(signal: Int32) async throws {
            try await DockerE2E.withServerImage { workspace, server, host, _ in
                try Self.sleepingRepository(in: workspace)
                let pipeline = try workspace.write("build.yaml", Self.pipeline(base: server.tag, tag: DockerE2E.uniqueName() + ":slow"))
                let invocation = try SutradharCLI.start(
                    ["run", pipeline.path, "--json", "--cache-dir", workspace.cache.path, "--docker-host", host])
                // The step's own output line (not the `Step 3/3 : RUN echo sleeping-now …` line before it).
                #expect(await invocation.waitForOutput(containing: #""line":"sleeping-now""#), "\(invocation.stderrSoFar)")
                // The step's container exists while it runs: what follows checks a real removal.
                #expect(try !Self.containers(from: server.id, host: host).isEmpty)
                invocation.signal(signal)
                let ended = await invocation.finish(timeout: .seconds(30))
                if signal == SIGINT { #expect(ended.stage("image")?["status"] as? String == "cancelled", ended.diagnosis) }
                if DockerTestSupport.isPodman {
                    // Podman's builder goes on with the step (300 s) whatever the client does: a
                    // Ctrl-C'd run says so; after kill -9 nothing can, and the container is still there
                    // (removed with the base image at the end of the test).
                    if signal == SIGINT { #expect(Self.warnsOfBuildahGoingOn(ended.events), ended.diagnosis) }
                    #expect(try !Self.containers(from: server.id, host: host).isEmpty, "buildah's step container runs on")
                    return
                }
                // Either way the request's connection closes (kill -9 runs no code of ours: the
                // kernel closes the socket), and the daemon cancels the build and force-removes
                // its container (bound as above).
                let gone = await eventually(timeout: .seconds(60)) { (try? Self.containers(from: server.id, host: host).isEmpty) ?? false }
                #expect(gone, "an intermediate container is left: \((try? Self.containers(from: server.id, host: host)) ?? [])")
            }
        }
        @Test func fromStagePinsTheEarlierImageAndBridgeNeedsAllowNetwork() async throws {
            try await DockerE2E.withServerImage { workspace, server, host, _ in
                let name = DockerE2E.uniqueName()
                let baseTag = "\(name)-base:ci", appTag = "\(name)-app:ci"
                defer { DockerE2E.removeImages([appTag, baseTag], host: host) }
                let repo = try GitFixtureRepository(at: workspace.root.appendingPathComponent("repo"))
                try repo.write("base/Dockerfile", "FROM \(server.tag)\nRUN echo base > /base.txt\n")
                try repo.write("app/Dockerfile", "FROM \(baseTag)\nRUN cat /base.txt\n")
                try repo.commit("two images, one built from the other")
                let yaml = """
                    version: 1
                    name: e2e-build-chain
                    source: { git: ./repo, ref: main }
                    stages:
                      base:
                        docker-build: { context: base, tags: ["\(baseTag)"] }
                      app:
                        docker-build: { context: app, tags: ["\(appTag)"], from-stage: base, network: NETWORK }

                    """
                let refused = try await DockerE2E.run(
                    try workspace.write("bridge.yaml", yaml.replacingOccurrences(of: "NETWORK", with: "bridge")), workspace: workspace, host: host)
                #expect(refused.stage("app")?["code"] as? String == "policy-refused", refused.diagnosis)
                #expect((refused.stage("app")?["error"] as? String ?? "").contains("--allow-network"), refused.diagnosis)

                let result = try await DockerE2E.run(
                    try workspace.write("chain.yaml", yaml.replacingOccurrences(of: "NETWORK", with: "none")), workspace: workspace, host: host)
                #expect(result.exitCode == 0, result.diagnosis)
                let base = try #require(result.outputs(of: "base")["image"] as? String, result.diagnosis)
                #expect(result.logLines(of: "app").contains { $0.contains("pinned to \(base)") }, result.diagnosis)
                #expect(result.logLines(of: "app").contains("base"), "the app's step read the base's file: \(result.diagnosis)")
                #expect(DockerE2E.imageID(appTag, host: host) == result.outputs(of: "app")["image"] as? String)
            }
        }
    }
}
