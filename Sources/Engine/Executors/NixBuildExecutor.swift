import BuildCache
import Foundation
import NixBuild
import Pipeline
import RunEvents
import Synchronization

/// Runs `nix build` on the checkout. The result is cached by the commit's tree, the installable
/// and the nix options: a hit whose store path is still valid skips nix entirely, and the
/// out-link under `nix/roots` keeps the path alive (a GC root) while the entry lives.
struct NixBuildExecutor: StageExecutor {
    typealias Spec = NixBuildSpec
    static let needsDocker = false
    static let needsNix = true
    static var defaultTimeout: Duration { .seconds(2 * 3600) }
    static let checksReproducibility = true

    /// Builds (or finds in the cache) the output; in a reproducibility check, then rebuilds it
    /// and compares (see `NixReproducibilityCheck`).
    func execute(_ spec: NixBuildSpec, context: StageContext) async throws -> StageOutcome {
        let outcome = try await buildOrReuse(spec, context: context)
        guard let settings = context.options.reproduce else { return outcome }
        let installable = Nix.resolveInstallable(spec.installable, in: context.checkout)
        let checked = try await NixReproducibilityCheck.run(installable: installable, built: outcome.outputs,
                                                            settings: settings, context: context)
        return StageOutcome(outputs: outcome.outputs + checked, cached: outcome.cached)
    }

    private func buildOrReuse(_ spec: NixBuildSpec, context: StageContext) async throws -> StageOutcome {
        let key = CacheKey(["nix-build", context.treeID, spec.installable]
            + context.nix.options.flatMap { [$0.name, $0.value] })
        let outLink = context.cache.folder(.nixRoots).appendingPathComponent("\(context.pipeline)-\(context.stage.name)-\(key.short)")

        if !context.options.noCache, let outcome = cachedOutcome(key: key, outLink: outLink, context: context) {
            return outcome
        }
        // One build per key across runs and processes: a second run waits, then reuses it.
        let lock = context.cache.folder(.locks).appendingPathComponent("nix-build-\(key.short).lock")
        return try await context.exclusively(lock: lock, work: "building the same tree") {
            if !context.options.noCache, let outcome = cachedOutcome(key: key, outLink: outLink, context: context) {
                return outcome
            }
            let installable = Nix.resolveInstallable(spec.installable, in: context.checkout)
            let pidFile = context.cache.folder(.locks).appendingPathComponent("nix-build-\(key.short).pid")
            await Self.stopOrphan(recordedIn: pidFile, context: context)
            defer { try? FileManager.default.removeItem(at: pidFile) }
            context.log("nix build \(installable)")
            let sources = BuildSources()
            let result = try await context.step("nix build") {
                try await context.nix.build(installable: installable, workingDirectory: context.checkout,
                                            outLink: outLink, log: { line in
                                                context.log(line)
                                                sources.note(line)
                                            },
                                            started: { pid in Self.record(pid, in: pidFile) })
            }
            guard let out = result.outputs["out"] ?? result.outputs.values.first else {
                throw StageFailure("nix build reported no output path for \(spec.installable)")
            }
            try context.cache.store(kind: Self.kind, key: key, pipeline: context.pipeline,
                                    outputs: ["out": out, "drv": result.drvPath])
            context.nixPush?.push(out, after: context.stage.name)
            return StageOutcome(outputs: Self.outputs(out: out, drv: result.drvPath, key: key) + sources.outputs, cached: false)
        }
    }

    /// Notes which nix builds this key, for the case where this process is killed (SIGKILL
    /// leaves it no chance to stop nix, which runs in a session of its own; nix's watchdog
    /// stops it, and this record lets the next run make sure).
    private static func record(_ pid: Int32, in pidFile: URL) {
        guard let process = NixProcess(pid: pid) else { return }
        try? AtomicFile.write(Data(process.description.utf8), to: pidFile)
    }

    /// A record left while we hold the key's lock means its writer died mid-build: stop the
    /// nix it left running before starting another.
    private static func stopOrphan(recordedIn pidFile: URL, context: StageContext) async {
        guard let text = try? String(contentsOf: pidFile, encoding: .utf8) else { return }
        if let orphan = NixProcess(parsing: text), await orphan.stop() {
            context.log("stopped nix (pid \(orphan.pid)) left running by a run that was killed")
        }
        try? FileManager.default.removeItem(at: pidFile)
    }

    /// The cached result, if its store path is still valid and still rooted.
    private func cachedOutcome(key: CacheKey, outLink: URL, context: StageContext) -> StageOutcome? {
        guard let entry = context.cache.entry(kind: Self.kind, key: key), let out = entry.outputs["out"] else { return nil }
        // The out-link is a GC root, so a rooted path that still exists is still valid: no nix
        // process is needed on a hit. (`cache verify` asks nix itself.)
        let rooted = (try? FileManager.default.destinationOfSymbolicLink(atPath: outLink.path)) == out
        guard rooted, FileManager.default.fileExists(atPath: out) else {
            context.cache.remove(kind: Self.kind, key: key)
            return nil
        }
        context.log("cached: \(out)")
        context.nixPush?.push(out, after: context.stage.name)
        return StageOutcome(outputs: Self.outputs(out: out, drv: entry.outputs["drv"] ?? "", key: key), cached: true)
    }

    private static func outputs(out: String, drv: String, key: CacheKey) -> [(String, JSONValue)] {
        [("out", .string(out)), ("drv", .string(drv)), ("cache_key", .string(key.hex))]
    }
}

/// Where a build's derivations were built and its paths fetched from, read from nix's log
/// lines as they stream ("building '…drv' on 'ssh-ng://…'", "copying path '…' from 'file://…'").
private final class BuildSources: Sendable {
    private let state = Mutex<(machines: [String], builds: [String], caches: [String], substituted: Int)>(([], [], [], 0))

    func note(_ line: String) {
        if let (derivation, machine) = Nix.remoteBuild(in: line) {
            state.withLock { state in
                if !state.machines.contains(machine) { state.machines.append(machine) }
                state.builds.append("\(derivation) on \(machine)")
            }
        } else if let (_, cache) = Nix.substitution(in: line) {
            state.withLock { state in
                // A remote build's result comes back as "copying path … from 'ssh-ng://builder'":
                // a copy from a machine that built, not a substitution.
                guard !state.machines.contains(cache) else { return }
                if !state.caches.contains(cache) { state.caches.append(cache) }
                state.substituted += 1
            }
        }
    }

    /// `built_on` (the remote machines, with `remote_builds`: each derivation and its machine)
    /// and `substituted` (paths fetched, with `substituted_from`: the caches), only when any.
    var outputs: [(String, JSONValue)] {
        let state = state.withLock { $0 }
        var outputs: [(String, JSONValue)] = []
        if !state.machines.isEmpty {
            outputs.append(("built_on", .array(state.machines.map(JSONValue.string))))
            outputs.append(("remote_builds", .array(state.builds.map(JSONValue.string))))
        }
        if state.substituted > 0 {
            outputs.append(("substituted", .int(Int64(state.substituted))))
            outputs.append(("substituted_from", .array(state.caches.map(JSONValue.string))))
        }
        return outputs
    }
}
