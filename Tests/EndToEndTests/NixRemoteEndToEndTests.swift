import Foundation
import SutradharTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension DockerEndToEndTests {
    /// Beyond one machine, for real: the second host of `scripts/second-host.sh` (sshd in a
    /// network namespace, an empty `/nix` in a mount namespace) as a remote builder over
    /// `ssh-ng://`, and a signed `file://` binary cache pushed by one host and substituted from
    /// by the other. Each test uses a new nonce in the flake, so nothing is already built.
    @Suite(.requiresSecondHost) struct NixRemote {
        @Test func remoteBuilderBuildsTheExampleWhichIsLoadedAndSmokedHere() async throws {
            try NixFixtures.requireNix()
            let host = try DockerE2E.host()
            let second = try SecondHost.start()
            let name = DockerE2E.uniqueName()
            let archiveTag = "\(name)-archive:built", tag = "\(name):latest"
            defer { DockerE2E.removeImages([archiveTag, tag], host: host) }
            try await DockerE2E.withWorkspace { workspace in
                try workspace.makeHelloServerFlake(repoTag: archiveTag)
                let pipeline = try workspace.write("remote.yaml", """
                    version: 1
                    name: e2e-remote
                    source: { path: ./hello-server }
                    nix:
                      options: { substituters: "" }
                      builders: ["\(second.builder)"]
                      max-jobs: 0
                    \(Self.loadAndSmokeStages(tag: tag))
                    """)
                let result = try await DockerE2E.run(pipeline, workspace: workspace, host: host)
                #expect(result.exitCode == 0, result.diagnosis)
                #expect(result.stage("smoke")?["status"] as? String == "passed", result.diagnosis)
                let image = result.outputs(of: "image")
                let out = try #require(image["out"] as? String, result.diagnosis)
                let machine = "ssh-ng://root@\(second.address)"
                #expect(image["built_on"] as? [String] == [machine])
                #expect(result.logLines(of: "image").contains { $0.hasPrefix("building '") && $0.contains("' on '\(machine)'") })
                // Built there (max-jobs 0 forbids building here), copied back here, loaded from here.
                #expect(second.storeHolds(out), "the second host's store has no \(out)")
                #expect(FileManager.default.fileExists(atPath: out))
                try expectNoContainersLeft(result, host: host)
            }
        }

        @Test func unreachableBuilderIsAnEnvironmentProblemAndDoctorSaysWhich() async throws {
            try NixFixtures.requireNix()
            let host = try DockerE2E.host()
            let second = try SecondHost.start()
            try await DockerE2E.withWorkspace { workspace in
                try workspace.makeHelloServerFlake(repoTag: DockerE2E.uniqueName() + ":never")
                // This host's end of the veth: no sshd of the second host answers there (and an
                // sshd of this machine would refuse the key or fail the host key check).
                let unreachable = "ssh-ng://root@10.231.0.1"
                let pipeline = try workspace.write("unreachable.yaml", """
                    version: 1
                    name: e2e-unreachable
                    source: { path: ./hello-server }
                    nix:
                      options: { substituters: "" }
                      builders: ["\(unreachable) x86_64-linux \(second.sshKey) 1 1 - - \(second.publicHostKey)"]
                      max-jobs: 0
                    stages:
                      image:
                        nix-build: { installable: .#docker-image }

                    """)
                let result = try await DockerE2E.run(pipeline, workspace: workspace, host: host)
                #expect(result.exitCode == 3, result.diagnosis)
                #expect(result.stage("image")?["code"] as? String == "builder-unreachable", result.diagnosis)
                #expect((result.stage("image")?["error"] as? String)?.contains(unreachable) == true, result.diagnosis)
                #expect(result.summary?["environment_problem"] != nil, result.diagnosis)

                let doctor = try await SutradharCLI.run(
                    ["doctor", pipeline.path, "--json", "--cache-dir", workspace.cache.path, "--docker-host", host],
                    timeout: .seconds(120))
                #expect(doctor.exitCode == 3, "\(doctor.stdout)\n\(doctor.stderr)")
                let report = try #require(try JSONSerialization.jsonObject(with: Data(doctor.stdout.utf8)) as? [String: Any])
                let builder = (report["checks"] as? [[String: Any]])?.first { $0["name"] as? String == "builder" }
                #expect(builder?["ok"] as? Bool == false, "\(doctor.stdout)")
                #expect((builder?["detail"] as? String)?.contains("\(unreachable) is unreachable") == true, "\(doctor.stdout)")
            }
        }

        @Test func pushedClosureIsSubstitutedOnTheSecondHostWhichBuildsNothing() async throws {
            try NixFixtures.requireNix()
            let host = try DockerE2E.host()
            let second = try SecondHost.start()
            let name = DockerE2E.uniqueName()
            let archiveTag = "\(name)-archive:built", tagA = "\(name)-a:latest", tagB = "\(name)-b:latest"
            defer { DockerE2E.removeImages([archiveTag, tagA, tagB], host: host) }
            try await DockerE2E.withWorkspace { workspace in
                try workspace.makeHelloServerFlake(repoTag: archiveTag)
                let secretKey = try workspace.makeCacheSigningKey(named: "\(name)-1")
                let publicKey = try Self.publicKey(of: secretKey)
                let binaryCache = "file://" + workspace.root.appendingPathComponent("binary-cache").path

                // Host A builds and pushes.
                let pipelineA = try workspace.write("a.yaml", """
                    version: 1
                    name: e2e-push
                    source: { path: ./hello-server }
                    nix:
                      options: { substituters: "" }
                    cache: { nix-push: "\(binaryCache)", nix-push-key: "\(secretKey)" }
                    \(Self.loadAndSmokeStages(tag: tagA))
                    """)
                let resultA = try await DockerE2E.run(pipelineA, workspace: workspace, host: host)
                #expect(resultA.exitCode == 0, resultA.diagnosis)
                let out = try #require(resultA.outputs(of: "image")["out"] as? String, resultA.diagnosis)
                let pushed = resultA.logLines(of: "nix-push")
                #expect(pushed.contains { $0.hasPrefix("pushed \(out) (from 'image': ") && $0.contains(" bytes) to \(binaryCache) in ") },
                        resultA.diagnosis)
                let hash = String(out.dropFirst("/nix/store/".count).prefix(32))
                #expect(FileManager.default.fileExists(atPath: workspace.root.appendingPathComponent("binary-cache/\(hash).narinfo").path))
                #expect(!second.storeHolds(out), "the second host already had \(out): the test proves nothing")

                // Host B, with its empty store, runs the same source and substitutes.
                let pipelineB = try workspace.write("b.yaml", """
                    version: 1
                    name: e2e-substitute
                    source: { path: ./hello-server }
                    nix:
                      substituters: ["\(binaryCache)"]
                      trusted-public-keys: ["\(publicKey)"]
                    \(Self.loadAndSmokeStages(tag: tagB))
                    """)
                let resultB = try await second.sutradhar(
                    ["run", pipelineB.path, "--json", "--cache-dir", workspace.root.appendingPathComponent("cache-b").path,
                     "--docker-host", host], workingDirectory: workspace.root)
                #expect(resultB.exitCode == 0, resultB.diagnosis)
                #expect(resultB.stage("smoke")?["status"] as? String == "passed", resultB.diagnosis)
                let image = resultB.outputs(of: "image")
                #expect(image["out"] as? String == out)
                #expect(image["substituted_from"] as? [String] == [binaryCache], resultB.diagnosis)
                #expect(resultB.logLines(of: "image").contains { $0.hasPrefix("copying path '\(out)' from '\(binaryCache)'") },
                        resultB.diagnosis)
                let built = resultB.logLines(of: "image").filter { $0.hasPrefix("building '") }
                #expect(built.isEmpty, "the second host built: \(built)")
                #expect(second.storeHolds(out))
                try expectNoContainersLeft(resultB, host: host)
            }
        }

        /// A push that never ends (the cache's `nix-cache-info` is a FIFO nobody writes, so
        /// `nix copy` blocks opening it) holds the run at its end; Ctrl-C then cancels it: the run
        /// ends, the verdict stands, a warning says so, and no `nix copy` is left running.
        @Test func ctrlCWhileAPushIsPendingStopsItAndLeavesNothingRunning() async throws {
            try NixFixtures.requireNix()
            let host = try DockerE2E.host()
            try await DockerE2E.withWorkspace { workspace in
                try workspace.makeHelloServerFlake(repoTag: DockerE2E.uniqueName() + ":never-loaded")
                let cache = workspace.root.appendingPathComponent("stuck-cache")
                try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
                #expect(mkfifo(cache.appendingPathComponent("nix-cache-info").path, 0o600) == 0)
                let key = workspace.root.appendingPathComponent("stuck.sec").path
                try "stuck-1:\(Data(repeating: 1, count: 64).base64EncodedString())\n".write(toFile: key, atomically: true, encoding: .utf8)
                let pipeline = try workspace.write("stuck.yaml", """
                    version: 1
                    name: e2e-stuck-push
                    source: { path: ./hello-server }
                    nix:
                      options: { substituters: "" }
                    cache: { nix-push: "file://\(cache.path)", nix-push-key: "\(key)" }
                    stages:
                      image:
                        nix-build: { installable: .#docker-image }

                    """)
                let invocation = try SutradharCLI.start(
                    ["run", pipeline.path, "--json", "--cache-dir", workspace.cache.path, "--docker-host", host])
                #expect(await invocation.waitForOutput(containing: #""event":"stage-finished""#), "\(invocation.stderrSoFar)")
                // The push runs: a `nix copy` naming this test's key (unique to the workspace).
                let pushing = await eventually(timeout: .seconds(60)) { !Self.processes(mentioning: key).isEmpty }
                #expect(pushing, "no nix copy started: \(invocation.stdoutSoFar)")
                #expect(!invocation.stdoutSoFar.contains("run-finished"), "the run ended before its push")
                invocation.signal(SIGINT)
                // Bounded generously for a loaded machine: nix gets SIGTERM, then SIGKILL after 3 s.
                let ended = await invocation.finish(timeout: .seconds(60))
                #expect(ended.stage("image")?["status"] as? String == "passed", ended.diagnosis)
                #expect(ended.stdout.contains("nix-push: the push of"), ended.diagnosis)
                let left = Self.processes(mentioning: key)
                #expect(left.isEmpty, "left running: \(left)")
            }
        }

        /// The PIDs of processes whose command line contains `text`.
        static func processes(mentioning text: String) -> [Int32] {
            let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.compactMap(Int32.init) ?? []
            return pids.filter { pid in
                guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
                return String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(text)
            }
        }

        /// `stages:` building `.#docker-image`, loading it as `tag` and probing its /health.
        /// A push over ssh to the second host's store takes the image's attestations along: they
        /// land in the folder the definition names on that host (written by its sshd's shell) and,
        /// read back over ssh, verify with the builder's public key against the daemon's image.
        @Test func attestationsArePushedOverSSHBesideTheStoreAndVerifyWhenReadBack() async throws {
            try NixFixtures.requireNix()
            let host = try DockerE2E.host()
            let second = try SecondHost.start()
            let name = DockerE2E.uniqueName()
            let archiveTag = "\(name)-archive:built", tag = "\(name):latest"
            defer { DockerE2E.removeImages([archiveTag, tag], host: host) }
            try await DockerE2E.withWorkspace { workspace in
                try workspace.makeHelloServerFlake(repoTag: archiveTag)
                let secretKey = try workspace.makeCacheSigningKey(named: "\(name)-1")
                // The second host shares this machine's files but /nix: the folder is named in the
                // workspace so that the test leaves nothing behind, and is only ever read over ssh.
                let remoteFolder = workspace.root.appendingPathComponent("on-second-host/attestations").path
                let store = "ssh://root@\(second.address)?ssh-key=\(second.sshKey)&base64-ssh-public-host-key=\(second.publicHostKey)"
                let pipeline = try workspace.write("ssh-push.yaml", """
                    version: 1
                    name: e2e-ssh-attest
                    source: { path: ./hello-server }
                    nix:
                      options: { substituters: "" }
                    cache: { nix-push: "\(store)", nix-push-key: "\(secretKey)", nix-push-attestations: "\(remoteFolder)" }
                    \(Self.loadAndSmokeStages(tag: tag))
                    """)
                let config = workspace.root.appendingPathComponent("config")
                let environment = ["XDG_CONFIG_HOME": config.path]
                let result = try await SutradharCLI.run(
                    ["run", pipeline.path, "--json", "--cache-dir", workspace.cache.path, "--docker-host", host],
                    environment: environment, timeout: .seconds(240))
                #expect(result.exitCode == 0, result.diagnosis)
                let out = try #require(result.outputs(of: "image")["out"] as? String, result.diagnosis)
                #expect(second.storeHolds(out), "the closure was not pushed: \(result.diagnosis)")

                let imageID = try #require(DockerE2E.imageID(tag, host: host))
                let hex = String(imageID.dropFirst("sha256:".count))
                let location = "root@\(second.address):\(remoteFolder)/\(hex).intoto.jsonl"
                // Sent in the background (no stage waits for the host), done before the run's summary.
                #expect(result.logLines(of: "load").contains("pushing the attestation to root@\(second.address) over ssh, in the background"),
                        result.diagnosis)
                #expect(result.logLines(of: "nix-push").contains("pushed the attestation of 'load' beside the binary cache: \(location)"),
                        result.diagnosis)
                #expect(result.logLines(of: "nix-push").contains { $0.hasPrefix("pushed the attestation of 'smoke' beside the binary cache: ") },
                        result.diagnosis)

                // Read back over ssh, as a deploy step on another machine would.
                let bundle = workspace.root.appendingPathComponent("read-back.intoto.jsonl")
                try Data(try Self.readOverSSH(second, "\(remoteFolder)/\(hex).intoto.jsonl").utf8).write(to: bundle)
                let lines = try String(contentsOf: bundle, encoding: .utf8).split(separator: "\n")
                #expect(lines.count == 2, "\(lines)")  // the image's provenance and the smoke verdict
                let sbom = try #require(result.outputs(of: "load")["sbom"] as? String)
                #expect(try Self.readOverSSH(second, "\(remoteFolder)/\(hex).sbom.cdx.json")
                    == String(contentsOf: URL(fileURLWithPath: sbom), encoding: .utf8))
                let leftovers = try Self.readOverSSH(second, "-", command: "ls -A '\(remoteFolder)'")
                #expect(leftovers.split(separator: "\n").sorted() == [".lock", "\(hex).intoto.jsonl", "\(hex).sbom.cdx.json"])

                let publicKey = try await SutradharCLI.run(["attest", "public-key"], environment: environment)
                let pem = workspace.root.appendingPathComponent("public.pem")
                try publicKey.stdout.split(separator: "\n").prefix(3).joined(separator: "\n").appending("\n")
                    .write(to: pem, atomically: true, encoding: .utf8)
                let verify = try await SutradharCLI.run(["attest", "verify", bundle.path, "--key", pem.path, "--image", tag,
                                                         "--docker-host", host])
                #expect(verify.exitCode == 0, "\(verify.stdout)\(verify.stderr)")
                #expect(verify.stdout.components(separatedBy: "in the daemon is \(imageID): a subject").count == 3, "\(verify.stdout)")
                var bytes = Array(try Data(contentsOf: bundle))
                bytes[bytes.count / 2] ^= 0x01
                let flipped = workspace.root.appendingPathComponent("flipped.intoto.jsonl")
                try Data(bytes).write(to: flipped)
                let refused = try await SutradharCLI.run(["attest", "verify", flipped.path, "--key", pem.path])
                #expect(refused.exitCode == 1 && refused.stderr.contains("not verified: line "), "\(refused.stdout)\(refused.stderr)")

                // A cached rerun pushes the same envelopes again: no line is added.
                let again = try await SutradharCLI.run(
                    ["run", pipeline.path, "--json", "--cache-dir", workspace.cache.path, "--docker-host", host],
                    environment: environment, timeout: .seconds(240))
                #expect(again.exitCode == 0 && again.stage("load")?["cached"] as? Bool == true, again.diagnosis)
                #expect(try Self.readOverSSH(second, "\(remoteFolder)/\(hex).intoto.jsonl").split(separator: "\n").sorted()
                    == lines.sorted())
            }
        }

        /// An unreachable ssh cache: the push of the attestation is a warning, the verdict stands.
        @Test func anUnreachableSSHCacheWarnsAndTheRunStillPasses() async throws {
            try NixFixtures.requireNix()
            let host = try DockerE2E.host()
            let second = try SecondHost.start()
            let name = DockerE2E.uniqueName()
            let archiveTag = "\(name)-archive:built", tag = "\(name):latest"
            defer { DockerE2E.removeImages([archiveTag, tag], host: host) }
            try await DockerE2E.withWorkspace { workspace in
                try workspace.makeHelloServerFlake(repoTag: archiveTag)
                let secretKey = try workspace.makeCacheSigningKey(named: "\(name)-1")
                // This host's end of the veth: no sshd of the second host answers there.
                let store = "ssh://root@10.231.0.1?ssh-key=\(second.sshKey)&base64-ssh-public-host-key=\(second.publicHostKey)"
                let pipeline = try workspace.write("ssh-unreachable.yaml", """
                    version: 1
                    name: e2e-ssh-attest-unreachable
                    source: { path: ./hello-server }
                    nix:
                      options: { substituters: "" }
                    cache: { nix-push: "\(store)", nix-push-key: "\(secretKey)" }
                    \(Self.loadAndSmokeStages(tag: tag))
                    """)
                let result = try await SutradharCLI.run(
                    ["run", pipeline.path, "--json", "--cache-dir", workspace.cache.path, "--docker-host", host],
                    environment: ["XDG_CONFIG_HOME": workspace.root.appendingPathComponent("config").path], timeout: .seconds(240))
                #expect(result.exitCode == 0, result.diagnosis)
                #expect(result.stage("smoke")?["status"] as? String == "passed", result.diagnosis)
                #expect(result.stdout.contains("was not pushed beside ssh://root@10.231.0.1"), result.diagnosis)
                #expect(result.stdout.contains("over ssh: "), result.diagnosis)
            }
        }

        /// `ssh HOST COMMAND` with the second host's key and host key; `path` is `cat`ed unless
        /// `command` is given.
        static func readOverSSH(_ second: SecondHost, _ path: String, command: String? = nil) throws -> String {
            let knownHosts = FileManager.default.temporaryDirectory.appendingPathComponent("known-hosts-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: knownHosts) }
            let hostKey = String(decoding: Data(base64Encoded: second.publicHostKey) ?? Data(), as: UTF8.self)
            try "\(second.address) \(hostKey)\n".write(to: knownHosts, atomically: true, encoding: .utf8)
            return try DockerTestSupport.run("/usr/bin/ssh", [
                "-i", second.sshKey, "-o", "BatchMode=yes", "-o", "UserKnownHostsFile=\(knownHosts.path)",
                "-o", "StrictHostKeyChecking=yes", "-o", "LogLevel=ERROR", "root@\(second.address)", command ?? "cat '\(path)'"])
        }

        static func loadAndSmokeStages(tag: String) -> String {
            """
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
                  probe:
                    exec: [wget, -qO-, "http://127.0.0.1:8080/health"]
                    expect-stdout: ok
                    attempts: 40
                    interval: 250ms

            """
        }

        /// `nix key convert-secret-to-public < FILE`.
        static func publicKey(of secretKey: String) throws -> String {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/nix")
            process.arguments = ["--extra-experimental-features", "nix-command", "key", "convert-secret-to-public"]
            process.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: secretKey))
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return output.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }
}
