import Attestation
import BuildCache
import Foundation
import GitMirror
import NixBuild
import Pipeline
import RunEvents
import Synchronization

/// Turns the claims of passed stages into signed envelopes, kept with the cache entry they are
/// about (`attestations/KIND/KEY/`, removed by gc with the entry) and linked into the run's folder
/// (`runs/RUN/attestations/`). A cached stage reuses the envelope of the run that did the work.
///
/// The private key is loaded on the first claim and held here only: it is not in `StageContext`,
/// so no executor, container, log line or event can reach it.
final class StageAttestor: Sendable {
    private let keyFile: KeyFile
    private let key = Mutex<Result<SigningKey, AttestationError>?>(nil)
    private let runID: String
    private let plan: Plan
    private let cache: BuildCache
    private let runFolder: URL
    private let checkoutFolder: URL
    private let source: ResourceDescriptor
    private let definition: AttestedValue
    private let builder: Provenance.Builder
    private let warn: @Sendable (String) -> Void
    /// `nix path-info` answers being fetched, by store path (see `prefetch`).
    private let closures = Mutex<[String: Task<Void, any Error>]>([:])
    /// How long attesting has waited for nix so far (reported with each attestation's time).
    private let nixWait = Mutex<Duration>(.zero)
    /// Where envelopes also go when `cache.nix-push` names a `file://` binary cache.
    private let push: AttestationPush?

    /// The largest `flake.lock` read for the provenance (nixpkgs-sized locks are a few KiB).
    static let maximumLockFileSize = 4 << 20

    /// The version written as the builder's.
    static let version = "0.1.0"

    init(options: RunOptions, runID: String, plan: Plan, source: SourceSelection, checkout: CheckoutResult, cache: BuildCache,
         warn: @escaping @Sendable (String) -> Void) {
        let commit = checkout.commit.sha
        checkoutFolder = checkout.directory
        keyFile = options.attestation.keyFile(environment: options.environment)
        self.runID = runID
        self.plan = plan
        self.cache = cache
        self.warn = warn
        runFolder = cache.folder(.runs).appendingPathComponent(runID).appendingPathComponent("attestations")
        push = plan.definition.cache.nixPush.flatMap(AttestationPush.init)
        switch source.mode {
        case .git(let location):
            let uri = location.hasPrefix("/") ? "git+file://" + location : (location.contains("://") ? "git+" + location : location)
            self.source = ResourceDescriptor(name: "source", uri: uri, digest: ["gitCommit": commit])
        case .snapshot(let path):
            // A snapshot's commit is made here of the folder as it was, uncommitted changes included.
            self.source = ResourceDescriptor(name: "source", uri: "file://" + path, digest: ["gitCommit": commit],
                                             annotations: ["snapshot": true])
        }
        let file = URL(fileURLWithPath: plan.definition.file, relativeTo: plan.definition.directory)
        var definition: [String: AttestedValue] = ["file": .string(file.lastPathComponent)]
        if let bytes = try? Data(contentsOf: file) { definition["sha256"] = .string(sha256Hex(bytes)) }
        self.definition = .object(definition)
        let host = ProcessInfo.processInfo.hostName
        builder = Provenance.Builder(id: "https://sutradhar.dev/builder/" + (host.isEmpty ? "localhost" : host),
                                     version: ["sutradhar": Self.version])
    }

    /// Starts describing the closure of every store path the stage's dependencies produced
    /// (their `out`), unless it is known already: the `nix path-info` call (tens of ms) then runs
    /// while the stage loads its image, not after. A store path's closure never changes, so the
    /// answer is kept under `attestations/nix-closures/` and asked of nix once per path.
    func prefetch(_ stage: PlannedStage, outputs: [String: [(String, JSONValue)]], nix: Nix) {
        for dependency in stage.dependencies {
            guard let out = outputs[dependency]?.first(where: { $0.0 == "out" })?.1.stringValue, out.hasPrefix("/nix/store/"),
                  !FileManager.default.fileExists(atPath: closureFile(of: out).path) else { continue }
            closures.withLock { inFlight in
                guard inFlight[out] == nil else { return }
                inFlight[out] = Self.describe(out, into: closureFile(of: out), nix: nix)
            }
        }
    }

    private func closureFile(of storePath: String) -> URL {
        cache.folder(.attestations).appendingPathComponent("nix-closures")
            .appendingPathComponent((storePath.split(separator: "/").last.map(String.init) ?? "path") + ".json")
    }

    /// Streams `nix path-info -r --json` of `storePath` into `file` (whole or not at all).
    private static func describe(_ storePath: String, into file: URL, nix: Nix) -> Task<Void, any Error> {
        Task {
            try makeFolder(file.deletingLastPathComponent())
            _ = try await nix.closureInfo(of: storePath, into: file)
        }
    }

    /// The closure of `storePath`, read from its kept description, the one in flight, or one
    /// asked of nix now; the description is read a block at a time, never whole.
    private func closure(of storePath: String, nix: Nix) async throws -> [StorePathInfo] {
        let file = closureFile(of: storePath)
        if FileManager.default.fileExists(atPath: file.path), let kept = try? StorePathInfo.parse(pathInfoFile: file) { return kept }
        let task = closures.withLock { inFlight in
            if let task = inFlight[storePath] { return task }
            let task = Self.describe(storePath, into: file, nix: nix)
            inFlight[storePath] = task
            return task
        }
        let waited = ContinuousClock.now
        try await task.value
        nixWait.withLock { $0 += waited.duration(to: .now) }
        return try StorePathInfo.parse(pathInfoFile: file)
    }

    /// Signs (or, for a cached stage, reuses) the envelope of `claim` and returns the stage's
    /// extra outputs: `attestation` (the envelope in the run's folder) and, for a nix image,
    /// `sbom`. A failure is a warning, never a failed stage: the image is as good as before,
    /// and `attest verify` will say there is nothing to verify.
    func attest(_ claim: StageClaim, stage: PlannedStage, cached: Bool, started: Date, finished: Date,
                nix: Nix, log: (String) -> Void) async -> [(String, JSONValue)] {
        // A claim that is not kept is written straight into the run's folder (under the stage's name).
        let kept = claim.kept ? cache.attestationFolder(kind: claim.cacheKind, key: claim.identity)
            : runFolder.appendingPathComponent(".unkept-\(stage.name)")
        let envelopeName: String
        switch claim.verdict {
        case .built: envelopeName = "provenance.json"
        case .tested: envelopeName = "test-result.json"
        }
        let envelope = kept.appendingPathComponent(envelopeName), sbom = kept.appendingPathComponent("sbom.cdx.json")
        let clock = ContinuousClock.now
        do {
            // A kept envelope that does not read back whole (a crash before the disk had it) is signed again.
            let reused = cached && (try? Data(contentsOf: envelope)).flatMap { try? Envelope.decode($0) } != nil
            if !reused {
                try await write(claim, stage: stage, started: started, finished: finished, nix: nix,
                                envelope: envelope, sbom: sbom)
            }
            defer {
                // Time spent waiting for `nix path-info` is said apart: it is nix's, and overlaps the load when the load is longer.
                let waited = nixWait.withLock { total in defer { total = .zero }; return total }
                let work = clock.duration(to: .now) - waited
                let nix = waited > .zero ? ", after waiting \(Self.milliseconds(waited)) ms for nix path-info" : ""
                log("\(reused ? "reused the attestation of the run that did the work" : "signed \(envelopeName)") in \(Self.milliseconds(work)) ms\(nix)")
            }
            var outputs: [(String, JSONValue)] = [("attestation", .string(try link(envelope, as: "\(stage.name).\(envelopeName)").path))]
            if claim.storePath != nil, FileManager.default.fileExists(atPath: sbom.path) {
                outputs.append(("sbom", .string(try link(sbom, as: "\(stage.name).sbom.cdx.json").path)))
            }
            pushBesideBinaryCache(claim, envelope: envelope, sbom: outputs.count > 1 ? sbom : nil, log: log)
            if !claim.kept { try? FileManager.default.removeItem(at: kept) }
            return outputs
        } catch {
            warn("stage '\(stage.name)' passed but was not attested: \((error as? AttestationError)?.message ?? "\(error)")")
            return []
        }
    }

    /// Adds the envelope (and SBOM) to the image's bundle beside the binary cache, if the pipeline
    /// pushes to a folder; a failure is a warning, as a failed nix push is.
    private func pushBesideBinaryCache(_ claim: StageClaim, envelope: URL, sbom: URL?, log: (String) -> Void) {
        guard let push else {
            if let uri = plan.definition.cache.nixPush?.uri {
                log("the attestation is not pushed to \(uri): only a file:// binary cache has a folder to put it beside")
            }
            return
        }
        guard let imageHex = claim.subjects.first?.digest?["sha256"] else { return }
        do {
            let bundle = try push.push(envelope: envelope, sbom: sbom, imageHex: imageHex)
            log("pushed the attestation beside the binary cache: \(bundle.path)")
        } catch {
            warn("the attestation of image sha256:\(imageHex) was not pushed beside \(push.uri): \((error as? AttestationError)?.message ?? "\(error)")")
        }
    }

    /// Writes `data` to a temporary file beside `url` and renames it into place: a reader sees
    /// the whole file or none. No fsync (two of them cost more than the 5 ms a run may spend
    /// attesting on a busy disk): what a crash loses is signed again by the next run that needs it,
    /// since a kept file is used only if it reads back whole.
    static func write(_ data: Data, to url: URL) throws {
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp")
        // Plain system calls: Foundation's file writing and FileManager's errors cost a millisecond each here.
        let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        let written = data.withUnsafeBytes { buffer -> Bool in
            var offset = 0
            while offset < buffer.count {
                let count = Foundation.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { return false }
                offset += count
            }
            return true
        }
        close(descriptor)
        guard written, rename(temporary.path, url.path) == 0 else {
            let failure = POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
            unlink(temporary.path)
            throw failure
        }
    }

    /// `mkdir -p` without FileManager (whose "already exists" is an NSError made each time).
    static func makeFolder(_ url: URL) throws {
        if mkdir(url.path, 0o755) == 0 || errno == EEXIST { return }
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    private static func milliseconds(_ duration: Duration) -> String {
        String(format: "%.2f", Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15)
    }

    private func signingKey() throws -> SigningKey {
        try key.withLock { loaded in
            if loaded == nil {
                do { loaded = .success(try keyFile.load()) } catch let error as AttestationError { loaded = .failure(error) }
                catch { loaded = .failure(AttestationError(.badKey, "\(error)")) }
            }
            return try loaded!.get()
        }
    }

    private func write(_ claim: StageClaim, stage: PlannedStage, started: Date, finished: Date, nix: Nix,
                       envelope: URL, sbom: URL) async throws {
        let key = try signingKey()
        var subjects = claim.subjects
        var byproducts: [ResourceDescriptor] = []
        try Self.makeFolder(envelope.deletingLastPathComponent())
        if let path = claim.storePath, case .built = claim.verdict {
            let closure = try await closure(of: path, nix: nix)
            if let top = closure.first(where: { $0.path == path }) {
                subjects.append(ResourceDescriptor(name: path, digest: ["sha256": top.narSHA256],
                                                   annotations: ["nar_size": .int(top.narSize)]))
            }
            let bom = try NixClosureSBOM.encode(root: path, closure: closure, toolVersion: Self.version)
            try Self.write(bom, to: sbom)
            byproducts.append(ResourceDescriptor(name: "sbom.cdx.json", digest: ["sha256": sha256Hex(bom)],
                                                 mediaType: NixClosureSBOM.mediaType,
                                                 annotations: ["closure_paths": .int(Int64(closure.count))]))
        }
        let data: Data
        switch claim.verdict {
        case .built:
            var parameters = claim.parameters
            parameters["pipeline"] = .string(plan.definition.name)
            parameters["definition"] = definition
            parameters["stage"] = .string(stage.name)
            parameters["kind"] = .string(stage.kind)
            let (installables, flakeInputs) = nixInputs(of: stage)
            if !installables.isEmpty { parameters["installables"] = .object(installables) }
            let statement = Statement(subject: subjects, predicateType: Provenance.predicateType, predicate: Provenance(
                buildDefinition: .init(externalParameters: parameters,
                                       resolvedDependencies: [source] + flakeInputs + claim.dependencies),
                runDetails: .init(builder: builder,
                                  metadata: .init(invocationId: runID, startedOn: RunEvent.rfc3339(started),
                                                  finishedOn: RunEvent.rfc3339(finished)),
                                  byproducts: byproducts.isEmpty ? nil : byproducts)))
            data = try CanonicalJSON.encode(Envelope.sign(statement, with: key))
        case .tested(let result, let passed, let failed, let configuration):
            let statement = Statement(subject: subjects, predicateType: TestResult.predicateType, predicate: TestResult(
                result: result, configuration: configuration, url: "sutradhar:runs/\(runID)/\(stage.name)",
                passedTests: passed, failedTests: failed))
            data = try CanonicalJSON.encode(Envelope.sign(statement, with: key))
        }
        try Self.write(data, to: envelope)
    }

    /// The nix builds the stage depends on (directly or not): each one's installable and the
    /// inputs its flake's `flake.lock` pins.
    private func nixInputs(of stage: PlannedStage) -> ([String: AttestedValue], [ResourceDescriptor]) {
        var installables: [String: AttestedValue] = [:]
        var inputs: [ResourceDescriptor] = []
        var seen: Set<String> = []
        var queue = stage.dependencies
        while let name = queue.popLast() {
            guard seen.insert(name).inserted, let upstream = plan.stages.first(where: { $0.name == name }) else { continue }
            queue += upstream.dependencies
            guard let nix = upstream.definition.spec as? NixBuildSpec else { continue }
            installables[name] = .string(nix.installable)
            let lock = checkoutFolder.appendingPathComponent(Self.flakeFolder(of: nix.installable)).appendingPathComponent("flake.lock")
            // The lock file comes with the commit: one past `maximumLockFileSize` is not read (and said so).
            let size = (try? FileManager.default.attributesOfItem(atPath: lock.path)[.size] as? Int) ?? 0
            if size > Self.maximumLockFileSize {
                warn("\(lock.lastPathComponent) of stage '\(name)' is \(size) bytes, over \(Self.maximumLockFileSize): its inputs are not in the provenance")
            } else if let data = try? Data(contentsOf: lock), let pinned = try? FlakeLock.inputs(of: data) {
                inputs += pinned.filter { !inputs.contains($0) }
            }
        }
        return (installables, inputs)
    }

    /// `./sub#attr` → `sub`; `.#attr` and anything not a relative flake → `.`.
    static func flakeFolder(of installable: String) -> String {
        let reference = installable.split(separator: "#", maxSplits: 1).first.map(String.init) ?? "."
        let path = reference.hasPrefix("path:") ? String(reference.dropFirst(5)) : reference
        guard path.hasPrefix("./") || path == "." else { return "." }
        return path.split(separator: "?").first.map(String.init) ?? "."
    }

    /// Puts `file` into the run's folder as `name`: a hard link (the run keeps its envelope if gc
    /// removes the entry's), a copy where links are refused.
    private func link(_ file: URL, as name: String) throws -> URL {
        try Self.makeFolder(runFolder)
        let target = runFolder.appendingPathComponent(name)
        unlink(target.path)
        if Foundation.link(file.path, target.path) != 0 {
            try FileManager.default.copyItem(at: file, to: target)
        }
        return target
    }
}
