import Foundation
import SutradharTesting
import Testing

extension DockerEndToEndTests {
    /// A real run's attestations: the image's provenance and the smoke verdict, checked by
    /// `attest verify` and by verifiers nobody here wrote (Tests/AttestationTests/Verifiers,
    /// in the venv scripts/setup.sh makes); a cached rerun reuses them; the private key is in
    /// no file of the cache and no event.
    @Suite struct Attestations {
        static let python = (ProcessInfo.processInfo.environment["SUTRADHAR_VENV"] ?? "/opt/sutradhar-venv") + "/bin/python3"
        static let verifier = SutradharCLI.repositoryRoot.appendingPathComponent("Tests/AttestationTests/Verifiers/verify_attestation.py").path

        static func pipeline(tag: String) -> String {
            """
            version: 1
            name: e2e-attest
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
                  probe:
                    exec: [wget, -qO-, "http://127.0.0.1:8080/health"]
                    expect-stdout: ok
                    attempts: 20
                    interval: 500ms
              inside:
                needs: [load]
                timeout: 60s
                smoke:
                  image: load
                  probe:
                    exec: [sh, -c, "env; cut -d' ' -f1-3 /proc/mounts | head -c 700"]
                    expect-stdout: PATH=

            """
        }

        /// Gives the copied example flake one input (a local folder, not a flake) and locks it
        /// with nix itself, so that `flake.lock` is nix's own.
        static func addLockedInput(to workspace: DockerE2EWorkspace) throws {
            let pinned = try workspace.write("pinned/data.txt", "pinned input \(UUID().uuidString)\n").deletingLastPathComponent()
            let flake = workspace.root.appendingPathComponent("hello-server/flake.nix")
            let text = try String(contentsOf: flake, encoding: .utf8)
            #expect(text.contains("outputs = { self }:"), "the example flake changed; update this fixture")
            try text.replacingOccurrences(of: "outputs = { self }:",
                                          with: "inputs.pinned = { url = \"path:\(pinned.path)\"; flake = false; };\n  outputs = { self, pinned }:")
                .write(to: flake, atomically: true, encoding: .utf8)
            _ = try DockerTestSupport.run("/usr/bin/env", ["nix", "--extra-experimental-features", "nix-command flakes", "flake", "lock",
                                                           workspace.root.appendingPathComponent("hello-server").path])
        }

        @Test func aRunSignsProvenanceAndVerdictsThatIndependentVerifiersAccept() async throws {
            try NixFixtures.requireNix()
            let host = try DockerE2E.host()
            let name = DockerE2E.uniqueName()
            let archiveTag = "\(name)-archive:built", tag = "\(name):latest"
            defer { DockerE2E.removeImages([archiveTag, tag], host: host) }
            try await DockerE2E.withWorkspace { workspace in
                try workspace.makeHelloServerFlake(repoTag: archiveTag)
                try Self.addLockedInput(to: workspace)
                let pipeline = try workspace.write("attest.yaml", Self.pipeline(tag: tag))
                let config = workspace.root.appendingPathComponent("config")
                let environment = ["XDG_CONFIG_HOME": config.path]
                let arguments = ["run", pipeline.path, "--json", "--cache-dir", workspace.cache.path, "--docker-host", host]

                let first = try await SutradharCLI.run(arguments, environment: environment, timeout: .seconds(240))
                #expect(first.exitCode == 0, first.diagnosis)
                let provenance = try #require(first.outputs(of: "load")["attestation"] as? String, first.diagnosis)
                let verdict = try #require(first.outputs(of: "smoke")["attestation"] as? String, first.diagnosis)
                let sbom = try #require(first.outputs(of: "load")["sbom"] as? String, first.diagnosis)
                let runID = try #require(first.runID)
                #expect(provenance == workspace.cache.path + "/runs/\(runID)/attestations/load.provenance.json")

                // The key: made on first use, mode 0600; its public half as `attest public-key` prints it.
                let keyFile = config.appendingPathComponent("sutradhar/signing-key.pem")
                #expect(try FileManager.default.attributesOfItem(atPath: keyFile.path)[.posixPermissions] as? Int == 0o600)
                let publicKey = try await SutradharCLI.run(["attest", "public-key"], environment: environment)
                #expect(publicKey.exitCode == 0, "\(publicKey.stderr)")
                let pem = workspace.root.appendingPathComponent("public.pem")
                try publicKey.stdout.split(separator: "\n").prefix(3).joined(separator: "\n").appending("\n")
                    .write(to: pem, atomically: true, encoding: .utf8)

                // The statement: the subject is the image ID the daemon reports (asked through the
                // docker CLI), the source commit and the flake input are resolved dependencies.
                let statement = try Self.statement(in: provenance)
                let daemonID = try #require(DockerE2E.imageID(tag, host: host))
                let subjects = try #require(statement["subject"] as? [[String: Any]])
                #expect(subjects.contains { ($0["digest"] as? [String: String])?["sha256"].map { "sha256:" + $0 } == daemonID })
                let image = try #require(first.outputs(of: "image")["out"] as? String)
                #expect(subjects.contains { $0["name"] as? String == image })
                let predicate = try #require(statement["predicate"] as? [String: Any])
                let definition = try #require(predicate["buildDefinition"] as? [String: Any])
                let dependencies = try #require(definition["resolvedDependencies"] as? [[String: Any]])
                let commit = try #require(first.summary?["commit"] as? String)
                #expect(dependencies.contains { ($0["digest"] as? [String: String])?["gitCommit"] == commit })
                let lock = try JSONSerialization.jsonObject(with: Data(contentsOf: workspace.root.appendingPathComponent("hello-server/flake.lock"))) as? [String: Any]
                let lockedHash = try #require(((lock?["nodes"] as? [String: Any])?["pinned"] as? [String: Any]).flatMap { ($0["locked"] as? [String: Any])?["narHash"] as? String })
                let input = try #require(dependencies.first { $0["name"] as? String == "flake-input:pinned" }, "\(dependencies)")
                let hex = Data(base64Encoded: String(lockedHash.dropFirst("sha256-".count)))!.map { String(format: "%02x", $0) }.joined()
                #expect((input["digest"] as? [String: String])?["sha256"] == hex)
                #expect(dependencies.contains { $0["name"] as? String == "derivation" })

                // Ours: signature, shape and the daemon's image; another image is refused.
                let verify = try await SutradharCLI.run(["attest", "verify", provenance, "--key", pem.path, "--image", tag, "--docker-host", host])
                #expect(verify.exitCode == 0, "\(verify.stdout)\(verify.stderr)")
                #expect(verify.stdout.contains("image \(tag) in the daemon is \(daemonID): a subject"))
                let wrongImage = try await SutradharCLI.run(["attest", "verify", verdict, "--key", pem.path, "--image", archiveTag + "-absent", "--docker-host", host])
                #expect(wrongImage.exitCode == 1 && wrongImage.stderr.contains("has no image"), "\(wrongImage.stderr)")

                // Theirs: securesystemslib, in-toto-attestation, jsonschema, cyclonedx-python-lib.
                let independent = try await ScriptRunner.run(Self.python, [Self.verifier, pem.path, provenance, verdict, "--sbom", sbom])
                #expect(independent.status == 0, "\(independent.output)")
                #expect(independent.output.contains("valid CycloneDX 1.5"), "\(independent.output)")

                // A flipped byte (in the payload's middle) fails both.
                var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: provenance)))
                bytes[bytes.count / 2] ^= 0x01
                let flipped = workspace.root.appendingPathComponent("flipped.json")
                try Data(bytes).write(to: flipped)
                let ours = try await SutradharCLI.run(["attest", "verify", flipped.path, "--key", pem.path])
                #expect(ours.exitCode == 1 && ours.stderr.contains("not verified"), "\(ours.stdout)\(ours.stderr)")
                let theirs = try await ScriptRunner.run(Self.python, [Self.verifier, pem.path, flipped.path])
                #expect(theirs.status == 1 && theirs.output.contains("FAILED \(flipped.path)"), "\(theirs.output)")

                // A cached rerun reuses the envelopes of the run that did the work, byte for byte.
                let second = try await SutradharCLI.run(arguments, environment: environment, timeout: .seconds(240))
                #expect(second.exitCode == 0, second.diagnosis)
                #expect(second.stage("load")?["cached"] as? Bool == true && second.stage("smoke")?["cached"] as? Bool == true)
                let reused = try #require(second.outputs(of: "load")["attestation"] as? String, second.diagnosis)
                #expect(reused != provenance)
                #expect(try Data(contentsOf: URL(fileURLWithPath: reused)) == Data(contentsOf: URL(fileURLWithPath: provenance)))
                let rerunVerdict = try #require(second.outputs(of: "smoke")["attestation"] as? String)
                #expect(try Data(contentsOf: URL(fileURLWithPath: rerunVerdict)) == Data(contentsOf: URL(fileURLWithPath: verdict)))

                // `runs show` and `attest show` say who signed it and that it verifies.
                let shown = try await SutradharCLI.run(["attest", "show", second.runID ?? "", "--cache-dir", workspace.cache.path], environment: environment)
                #expect(shown.exitCode == 0, "\(shown.stderr)")
                let keyID = try #require(publicKey.stdout.split(separator: "\n").last { $0.hasPrefix("key id: ") }?.dropFirst(8))
                #expect(shown.stdout.contains("load: provenance/v1 — signed by \(keyID.prefix(16)), verified"), "\(shown.stdout)")
                #expect(shown.stdout.contains("smoke: test-result/v0.1 — signed by \(keyID.prefix(16)), verified"), "\(shown.stdout)")
                let runShown = try await SutradharCLI.run(["runs", "show", runID, "--cache-dir", workspace.cache.path], environment: environment)
                #expect(runShown.stdout.contains("signed by \(keyID.prefix(16)), verified"), "\(runShown.stdout)")

                // What a container sees — its environment and its mounts, printed by the `inside`
                // probe into the events — holds no key (checked with every event below).
                let inside = try #require(first.outputs(of: "inside")["probe_stdout"] as? String, first.diagnosis)
                #expect(inside.contains("PATH=") && inside.contains("/proc"), "\(inside)")
                // The private key is in no file under the cache (history, entries, attestations)
                // and in nothing either run printed (every event).
                try Self.expectKeyNowhere(keyFile, cache: workspace.cache, outputs: [first.stdout, first.stderr, second.stdout, second.stderr])
                try expectNoContainersLeft(second, host: host)
            }
        }

        @Test func aFailedProbeIsAttestedFailedInTheRunFolderOnly() async throws {
            try await DockerE2E.withServerImage { workspace, server, host, _ in
                let pipeline = try workspace.write("failing.yaml", """
                    version: 1
                    name: e2e-attest-failing
                    source: { path: ./src }
                    stages:
                      smoke:
                        timeout: 60s
                        smoke:
                          image: \(server.tag)
                          probe:
                            exec: [wget, -qO-, "http://127.0.0.1:8080/health"]
                            expect-stdout: never-there
                            attempts: 2
                            interval: 200ms

                    """)
                let environment = ["XDG_CONFIG_HOME": workspace.root.appendingPathComponent("config").path]
                let result = try await SutradharCLI.run(["run", pipeline.path, "--json", "--cache-dir", workspace.cache.path, "--docker-host", host],
                                                        environment: environment)
                #expect(result.exitCode == 1, result.diagnosis)
                #expect(result.stage("smoke")?["code"] as? String == "probe-failed", result.diagnosis)
                let file = try #require(result.outputs(of: "smoke")["attestation"] as? String, result.diagnosis)
                let statement = try Self.statement(in: file)
                let predicate = statement["predicate"] as? [String: Any]
                #expect(predicate?["result"] as? String == "FAILED")
                #expect(predicate?["failedTests"] as? [String] == ["probe"])
                let subject = (statement["subject"] as? [[String: Any]])?.first
                #expect(subject?["name"] as? String == server.tag)
                #expect((subject?["digest"] as? [String: String])?["sha256"].map { "sha256:" + $0 } == server.id)
                // Never cached, so never kept with the cache: only the run has it.
                let kept = workspace.cache.appendingPathComponent("attestations/smoke")
                #expect(((try? FileManager.default.contentsOfDirectory(atPath: kept.path)) ?? []).isEmpty)
                let folder = URL(fileURLWithPath: file).deletingLastPathComponent()
                #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["smoke.test-result.json"])
                try expectNoContainersLeft(result, host: host)
            }
        }

        @Test func envelopesArePushedBesideAFileBinaryCacheWhereTheImageIDFindsThem() async throws {
            try NixFixtures.requireNix()
            let host = try DockerE2E.host()
            let name = DockerE2E.uniqueName()
            let archiveTag = "\(name)-archive:built", tag = "\(name):latest"
            defer { DockerE2E.removeImages([archiveTag, tag], host: host) }
            try await DockerE2E.withWorkspace { workspace in
                try workspace.makeHelloServerFlake(repoTag: archiveTag)
                let secretKey = try workspace.makeCacheSigningKey(named: "\(name)-1")
                let cacheFolder = workspace.root.appendingPathComponent("binary-cache")
                let pipeline = try workspace.write("push.yaml", Self.pipeline(tag: tag).replacingOccurrences(
                    of: "stages:\n", with: "cache: { nix-push: \"file://\(cacheFolder.path)\", nix-push-key: \"\(secretKey)\" }\nstages:\n"))
                let config = workspace.root.appendingPathComponent("config")
                let environment = ["XDG_CONFIG_HOME": config.path]
                let result = try await SutradharCLI.run(["run", pipeline.path, "--json", "--cache-dir", workspace.cache.path, "--docker-host", host],
                                                        environment: environment, timeout: .seconds(240))
                #expect(result.exitCode == 0, result.diagnosis)

                // Found by the image's ID, as the daemon reports it: the provenance and both verdicts.
                let imageID = try #require(DockerE2E.imageID(tag, host: host))
                let hex = String(imageID.dropFirst("sha256:".count))
                let bundle = cacheFolder.appendingPathComponent("attestations/\(hex).intoto.jsonl")
                #expect(result.logLines(of: "load").contains("pushed the attestation beside the binary cache: \(bundle.path)"), result.diagnosis)
                let lines = try String(contentsOf: bundle, encoding: .utf8).split(separator: "\n").map(String.init)
                #expect(lines.count == 3, "\(lines)")
                let types = try lines.map { line -> String in
                    let envelope = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                    let payload = try #require(Data(base64Encoded: envelope["payload"] as? String ?? ""))
                    return try #require((try JSONSerialization.jsonObject(with: payload) as? [String: Any])?["predicateType"] as? String)
                }
                #expect(types.sorted() == ["https://in-toto.io/attestation/test-result/v0.1", "https://in-toto.io/attestation/test-result/v0.1",
                                           "https://slsa.dev/provenance/v1"])
                let sbom = try #require(result.outputs(of: "load")["sbom"] as? String)
                #expect(try Data(contentsOf: cacheFolder.appendingPathComponent("attestations/\(hex).sbom.cdx.json"))
                    == Data(contentsOf: URL(fileURLWithPath: sbom)))

                // The deploy step's check: every envelope verifies with the builder's public key and
                // names the daemon's image; a flipped byte fails.
                let publicKey = try await SutradharCLI.run(["attest", "public-key"], environment: environment)
                let pem = workspace.root.appendingPathComponent("public.pem")
                try publicKey.stdout.split(separator: "\n").prefix(3).joined(separator: "\n").appending("\n")
                    .write(to: pem, atomically: true, encoding: .utf8)
                let verify = try await SutradharCLI.run(["attest", "verify", bundle.path, "--key", pem.path, "--image", tag, "--docker-host", host])
                #expect(verify.exitCode == 0, "\(verify.stdout)\(verify.stderr)")
                #expect(verify.stdout.components(separatedBy: "in the daemon is \(imageID): a subject").count == 4, "\(verify.stdout)")
                var bytes = Array(try Data(contentsOf: bundle))
                bytes[bytes.count / 2] ^= 0x01
                let flipped = workspace.root.appendingPathComponent("flipped.intoto.jsonl")
                try Data(bytes).write(to: flipped)
                let refused = try await SutradharCLI.run(["attest", "verify", flipped.path, "--key", pem.path])
                #expect(refused.exitCode == 1 && refused.stderr.contains("not verified: line "), "\(refused.stdout)\(refused.stderr)")

                // A rerun served from the cache pushes the same envelopes again: no new line.
                let again = try await SutradharCLI.run(["run", pipeline.path, "--json", "--cache-dir", workspace.cache.path, "--docker-host", host],
                                                       environment: environment, timeout: .seconds(240))
                #expect(again.exitCode == 0 && again.stage("load")?["cached"] as? Bool == true, again.diagnosis)
                #expect(try String(contentsOf: bundle, encoding: .utf8).split(separator: "\n").map(String.init).sorted() == lines.sorted())
                // What is beside the cache holds no private key.
                try Self.expectKeyNowhere(config.appendingPathComponent("sutradhar/signing-key.pem"), cache: cacheFolder, outputs: [], minimumFiles: 5)
            }
        }

        @Test func nightlySignsWithTheNamedKeyAndRefusesOneItCannotUse() async throws {
            try await DockerE2E.withServerImage { workspace, server, host, _ in
                let pipeline = try workspace.write("nightly-signed.yaml", """
                    version: 1
                    name: e2e-attest-nightly
                    source: { path: ./src }
                    stages:
                      smoke:
                        timeout: 60s
                        smoke:
                          image: \(server.tag)
                          probe:
                            exec: [wget, -qO-, "http://127.0.0.1:8080/health"]
                            expect-stdout: ok
                            attempts: 20
                            interval: 200ms

                    """)
                // Key A is made under one config folder; the nightly runs under another, naming A.
                let keyHome = workspace.root.appendingPathComponent("key-home"), runHome = workspace.root.appendingPathComponent("run-home")
                let publicKey = try await SutradharCLI.run(["attest", "public-key"], environment: ["XDG_CONFIG_HOME": keyHome.path])
                let keyID = try #require(publicKey.stdout.split(separator: "\n").last { $0.hasPrefix("key id: ") }?.dropFirst(8), "\(publicKey.stderr)")
                let keyFile = keyHome.appendingPathComponent("sutradhar/signing-key.pem")

                let missing = try await SutradharCLI.run(["nightly", pipeline.path, "--cache-dir", workspace.cache.path, "--docker-host", host,
                                                          "--signing-key", workspace.root.appendingPathComponent("absent.pem").path],
                                                         environment: ["XDG_CONFIG_HOME": runHome.path])
                #expect(missing.exitCode == 2 && missing.stderr.contains("--signing-key: no signing key at"), "\(missing.stdout)\(missing.stderr)")
                #expect(!missing.stdout.contains("nightly:"), "a run started: \(missing.stdout)")

                let nightly = try await SutradharCLI.run(["nightly", pipeline.path, "--cache-dir", workspace.cache.path, "--docker-host", host,
                                                          "--signing-key", keyFile.path],
                                                         environment: ["XDG_CONFIG_HOME": runHome.path], timeout: .seconds(120))
                #expect(nightly.exitCode == 0, "\(nightly.stdout)\(nightly.stderr)")
                let runs = try FileManager.default.contentsOfDirectory(atPath: workspace.cache.appendingPathComponent("runs").path)
                    .filter { !$0.hasPrefix(".") }
                let envelope = try #require(runs.lazy.map { workspace.cache.appendingPathComponent("runs/\($0)/attestations/smoke.test-result.json") }
                    .first { FileManager.default.fileExists(atPath: $0.path) }, "\(runs)")
                let signatures = (try JSONSerialization.jsonObject(with: Data(contentsOf: envelope)) as? [String: Any])?["signatures"] as? [[String: Any]]
                #expect(signatures?.map { $0["keyid"] as? String } == [String(keyID)])
                // The named key is used, never a default one made beside it.
                #expect(!FileManager.default.fileExists(atPath: runHome.appendingPathComponent("sutradhar/signing-key.pem").path))
            }
        }

        /// The statement inside the envelope at `path`.
        static func statement(in path: String) throws -> [String: Any] {
            let envelope = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
            let payload = try #require(Data(base64Encoded: envelope["payload"] as? String ?? ""))
            return try #require(try JSONSerialization.jsonObject(with: payload) as? [String: Any])
        }

        /// Searches every file under `cache` and every output for the key's 32 secret bytes, raw, as
        /// hex, and as the base64 of its PKCS#8 body.
        static func expectKeyNowhere(_ keyFile: URL, cache: URL, outputs: [String], minimumFiles: Int = 10) throws {
            let pemText = try String(contentsOf: keyFile, encoding: .utf8)
            let body = pemText.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
            let der = try #require(Data(base64Encoded: body))
            let seed = der.suffix(32)
            let hex = seed.map { String(format: "%02x", $0) }.joined()
            let needles = [Data(seed), Data(body.utf8), Data(hex.utf8), Data(seed.base64EncodedString().dropLast(4).utf8)]
            var searched = 0
            let files = FileManager.default.enumerator(at: cache, includingPropertiesForKeys: [.isRegularFileKey])
            while let url = files?.nextObject() as? URL {
                guard (try? url.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true,
                      let data = try? Data(contentsOf: url) else { continue }
                searched += 1
                for needle in needles { #expect(data.range(of: needle) == nil, "the private key is in \(url.path)") }
            }
            #expect(searched > minimumFiles, "only \(searched) files were searched under \(cache.path)")
            for output in outputs {
                for needle in needles { #expect(Data(output.utf8).range(of: needle) == nil, "the private key is in a run's output") }
            }
        }
    }
}
