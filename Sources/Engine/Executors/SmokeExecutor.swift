import Attestation
import BuildCache
import DockerEngine
import Foundation
import Pipeline
import RunEvents

/// Starts the image in an isolated container and probes it — inside with `exec`, or from a
/// sidecar that shares only the server's loopback — until the probe passes, the attempts run
/// out, or the server dies. The stage's timeout bounds the whole. The verdict is the probe's
/// answer: the containers are removed just after it (off the stage's path) and before the run ends.
struct SmokeExecutor: StageExecutor {
    typealias Spec = SmokeSpec
    static let needsDocker = true
    static let needsNix = false
    static var defaultTimeout: Duration { .seconds(5 * 60) }

    func execute(_ spec: SmokeSpec, context: StageContext) async throws -> StageOutcome {
        let stage = try await PreparedContainerStage(settings: spec.container, image: spec.image, context: context)
        let tree = spec.container.mounts.isEmpty ? nil : context.treeID
        let verdicts = VerdictCache(kind: Self.kind, image: stage.image, identity: spec.cacheIdentity, policy: stage.policy, tree: tree)
        let tags = Self.tags(of: spec.image, context: context)
        do {
            var outcome = try await stage.runUnlessPassed(kind: Self.kind, identity: spec.cacheIdentity, tree: tree, context: context) {
                try await run(spec, image: stage.image, policy: stage.policy, docker: stage.docker, context: context)
            }
            outcome.claim = Self.claim(spec, image: stage.image, tags: tags, policy: stage.policy, key: verdicts.key, passed: true)
            return outcome
        } catch var failure as StageFailure where failure.code == .probeFailed || failure.code == .serverExited {
            // A verdict against the image is attested too; a failure of the machine or the policy is not a verdict.
            failure.claim = Self.claim(spec, image: stage.image, tags: tags, policy: stage.policy, key: verdicts.key, passed: false)
            throw failure
        }
    }

    /// The tags the stage that made the image gave it (a reference names itself), for the subject's name.
    private static func tags(of source: ImageSource, context: StageContext) -> [String] {
        switch source {
        case .reference(let name): return [name]
        case .stage(let reference):
            guard case .array(let tags)? = context.outputsByStage[reference.name]?.first(where: { $0.0 == "tags" })?.1 else { return [] }
            return tags.compactMap(\.stringValue)
        }
    }

    /// The test-result claim of a verdict (a pass is kept with its cached verdict; a failure, never
    /// cached, lives in its run's folder only): the image, the probe and the policy it ran under (each
    /// setting as sent to the daemon, each limit with whether it was enforced), by digest.
    static func claim(_ spec: SmokeSpec, image: String, tags: [String], policy: ContainerPolicy, key: CacheKey, passed: Bool) -> StageClaim {
        let probe = spec.probe
        var probeFields: [String: AttestedValue] = [
            "expect_exit": .int(Int64(probe.expectExit)), "attempts": .int(Int64(probe.attempts)),
        ]
        switch probe.runner {
        case .exec(let command):
            probeFields["exec"] = .array(command.map(AttestedValue.string))
        case .sidecar(_, let command):
            probeFields["sidecar"] = .array(command.map(AttestedValue.string))
        }
        if let text = probe.expectStdout { probeFields["expect_stdout"] = .string(text) }
        if let pattern = probe.expectStdoutMatches { probeFields["expect_stdout_matches"] = .string(pattern) }
        if let text = probe.readyWhenLog { probeFields["ready_when_log"] = .string(text) }
        let host = policy.hostConfig()
        var limits: [String: AttestedValue] = [:]
        for limit in policy.limits {
            limits[limit.name] = .object(["value": .string(limit.value), "enforced": .bool(limit.enforced), "by": .string(limit.mechanism)])
        }
        var policyFields: [String: AttestedValue] = [
            "network": .string(host.networkMode), "cap_drop": .array(host.capDrop.map(AttestedValue.string)),
            "read_only_root": .bool(host.readonlyRootfs), "privileged": .bool(host.privileged),
            "security_opt": .array(host.securityOpt.map(AttestedValue.string)), "limits": .object(limits),
        ]
        if let runtime = host.runtime { policyFields["runtime"] = .string(runtime) }
        func descriptor(_ name: String, _ fields: [String: AttestedValue]) -> ResourceDescriptor {
            let digest = (try? CanonicalJSON.encode(fields)).map { sha256Hex($0) } ?? ""
            return ResourceDescriptor(name: name, digest: ["sha256": digest], annotations: fields)
        }
        return StageClaim(cacheKind: kind, identity: key.hex, subjects: [StageClaim.image(image, tags: tags)], parameters: [:],
                          verdict: .tested(result: passed ? "PASSED" : "FAILED", passed: passed ? ["probe"] : [], failed: passed ? [] : ["probe"],
                                           configuration: [descriptor("probe", probeFields), descriptor("container-policy", policyFields)]),
                          kept: passed)
    }

    private func run(_ spec: SmokeSpec, image: String, policy: ContainerPolicy, docker: DockerSession,
                     context: StageContext) async throws -> StageOutcome {
        let serverSpec = policy.containerSpec(image: image, labels: docker.labels(stage: context.stage.name),
                                              workingDirectory: spec.container.workingDirectory,
                                              binds: try policy.binds(checkout: context.checkout))

        // The verdict is the probe's answer: the server is removed after the stage's result is
        // out (stage-finished, the next stage), and before the run ends.
        return try await docker.withContainer(serverSpec, name: docker.containerName(stage: context.stage.name, role: "server"),
                                              removal: .afterVerdict(stage: context.stage.name), context: context) { serverID in
            let exit = try await docker.client.waitContainer(serverID)
            try await context.step("container start") { try await docker.start(serverID) }
            context.log("started \(serverID.prefix(12)) from \(image.prefix(19)) (network \(serverSpec.hostConfig.networkMode), caps dropped, read-only root)")
            // With `ready-when-log`, the first attempt waits for the server's line instead of polling;
            // the stream ends (and the probe starts) when the line is seen or the log ends.
            let (ready, readySignal) = AsyncStream<Void>.makeStream()
            if spec.probe.readyWhenLog == nil { readySignal.finish() }
            return try await withThrowingTaskGroup(of: StageOutcome?.self) { group in
                group.addTask {
                    let text = spec.probe.readyWhenLog
                    await docker.forwardLogs(of: serverID, prefix: "server: ", context: context) { line in
                        if let text, line.contains(text) { readySignal.finish() }
                    }
                    readySignal.finish()
                    return nil
                }
                group.addTask {
                    // If the server exits, no probe can pass: fail at once with its exit code.
                    let code = try await exit.value
                    let state = try? await docker.client.inspectContainer(serverID)
                    let oom = state?.oomKilled == true ? " (killed by the OOM killer)" : ""
                    throw StageFailure(.serverExited, "the server container exited with code \(code.statusCode)\(oom) before the probe passed",
                                       outputs: [("exit_code", .int(Int64(code.statusCode)))])
                }
                group.addTask {
                    for await _ in ready {}
                    try Task.checkCancellation()
                    if let text = spec.probe.readyWhenLog { context.log("ready: the server printed a line with \"\(text)\"") }
                    return try await context.step("probe") {
                        try await probe(spec.probe, serverID: serverID, image: image, policy: policy, docker: docker, context: context)
                    }
                }
                defer { group.cancelAll() }
                while let next = try await group.next() {
                    if let outcome = next { return outcome }
                }
                throw StageFailure("the smoke stage ended without a verdict")
            }
        }
    }

    private func probe(_ probe: Probe, serverID: String, image: String, policy: ContainerPolicy,
                       docker: DockerSession, context: StageContext) async throws -> StageOutcome {
        var lastProblem = "no attempt was made"
        for attempt in 1...probe.attempts {
            try Task.checkCancellation()
            let (exitCode, output) = try await runProbeOnce(probe, serverID: serverID, policy: policy, docker: docker, context: context)
            if let problem = verdict(probe, exitCode: exitCode, output: output) {
                lastProblem = problem
                context.log("probe attempt \(attempt)/\(probe.attempts): \(problem)")
                if attempt < probe.attempts { try await Task.sleep(for: probe.interval) }
                continue
            }
            context.log("probe passed on attempt \(attempt)")
            return StageOutcome(outputs: [
                ("container", .string(String(serverID.prefix(12)))), ("image", .string(image)),
                ("network", .string(policy.networkMode)), ("probe_attempts", .int(Int64(attempt))),
                ("probe_stdout", .string(String(output.prefix(1024)))), ("limits", policy.limitOutputs),
            ], cached: false)
        }
        throw StageFailure(.probeFailed, "the probe did not pass in \(probe.attempts) attempts: \(lastProblem)",
                           outputs: [("probe_attempts", .int(Int64(probe.attempts)))])
    }

    private func runProbeOnce(_ probe: Probe, serverID: String, policy: ContainerPolicy, docker: DockerSession,
                              context: StageContext) async throws -> (Int, String) {
        switch probe.runner {
        case .exec(let command):
            let result = try await docker.client.exec(serverID, command: command, timeout: max(probe.interval * 10, .seconds(10)))
            return (result.exitCode, result.stdout)
        case .sidecar(let imageSource, let command):
            let image = try await docker.resolveImage(imageSource, context: context)
            let sidecar = ContainerSpec(image: image, command: command, labels: docker.labels(stage: context.stage.name),
                                        hostConfig: policy.hostConfig(networkMode: "container:\(serverID)"))
            // An exited sidecar is removed in the background while the next attempt (or the verdict) goes on.
            return try await docker.withContainer(sidecar, name: docker.containerName(stage: context.stage.name, role: "probe"),
                                                  removal: .inBackground, context: context) { id in
                let exit = try await docker.client.waitContainer(id)
                try await docker.start(id)
                let code = try await exit.value
                var output = ""
                for try await frame in docker.client.logs(id, follow: false) where frame.stream == .stdout {
                    if output.utf8.count < 64 * 1024 { output += frame.text }
                }
                return (code.statusCode, output)
            }
        }
    }

    /// Why an attempt failed, or nil if it passed.
    func verdict(_ probe: Probe, exitCode: Int, output: String) -> String? {
        if exitCode != probe.expectExit {
            return "exit code \(exitCode), expected \(probe.expectExit)"
        }
        if let expected = probe.expectStdout, !output.contains(expected) {
            return "stdout \(quoted(output)) does not contain \(quoted(expected))"
        }
        if let pattern = probe.expectStdoutMatches, let regex = try? Regex(pattern), output.firstMatch(of: regex) == nil {
            return "stdout \(quoted(output)) does not match /\(pattern)/"
        }
        return nil
    }

    private func quoted(_ text: String) -> String {
        let short = text.count > 120 ? String(text.prefix(120)) + "…" : text
        return "\"" + short.replacingOccurrences(of: "\n", with: "\\n") + "\""
    }
}
