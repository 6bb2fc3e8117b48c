import Attestation
import BuildCache
import DockerEngine
import Foundation
import NIOCore
import NixBuild
import Pipeline
import RunEvents
import Subprocess

#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Loads a nix-built image into the daemon, streaming it from disk (or from the script that
/// nixpkgs' `streamLayeredImage` makes) with constant memory, then tags it. An image the daemon
/// already has is not sent again: its ID is read from the archive's manifest first.
struct DockerLoadExecutor: StageExecutor {
    typealias Spec = DockerLoadSpec
    static let needsDocker = true
    static let needsNix = false
    static var defaultTimeout: Duration { .seconds(30 * 60) }

    func execute(_ spec: DockerLoadSpec, context: StageContext) async throws -> StageOutcome {
        let docker = context.docker!
        guard let storePath = context.output("out", of: spec.from.name) else {
            throw StageFailure("stage '\(spec.from.name)' produced no output path to load")
        }
        let artifact = try ImageArtifact(path: storePath)
        // The store path names its content, so it is the key of what was loaded from it.
        let key = CacheKey(["docker-load", storePath])
        let lock = context.cache.folder(.locks).appendingPathComponent("\(Self.kind)-\(key.short).lock")
        return try await context.exclusively(lock: lock, work: "loading the same image") {
            let image: ImageDetails
            var loaded = false
            var bytes: Int64 = 0
            let cached = context.options.noCache ? nil : context.cache.entry(kind: Self.kind, key: key)
            if let entry = cached, let id = entry.outputs["image"], let details = try await docker.client.inspectImage(id) {
                context.log("cached: the daemon has \(id) from \(storePath)")
                image = details
            } else if case .archive = artifact {
                let info = try await ImageArchive.imageID(ofArchiveAt: storePath)
                if let details = try await docker.client.inspectImage(info.id) {
                    context.log("the daemon already has \(info.id); not sending it again")
                    image = details
                } else {
                    (bytes, _) = try await load(artifact, docker: docker, context: context)
                    loaded = true
                    guard let details = try await docker.client.inspectImage(info.id) else {
                        throw StageFailure(.loadFailed, "the daemon accepted the archive but has no image \(info.id) (the ID its manifest names)")
                    }
                    image = details
                }
            } else {
                let result: LoadResult
                (bytes, result) = try await load(artifact, docker: docker, context: context)
                loaded = true
                guard let reference = result.references.first, let details = try await docker.client.inspectImage(reference) else {
                    throw StageFailure(.loadFailed, "the image script's archive loaded, but the daemon named no image it has")
                }
                image = details
            }
            let id = image.id
            for tag in spec.tags {
                let (repository, version) = Self.split(tag)
                // A tag that already names this image (the inspect above listed it) is left alone.
                guard !image.isTagged("\(repository):\(version)") else {
                    context.log("\(tag) already names it")
                    continue
                }
                try await docker.client.tagImage(id, repository: repository, tag: version)
                context.log("tagged \(tag)")
            }
            // The tags go into the entry so that gc can untag exactly what this stage tagged; its
            // size is the image's in the daemon, so that cache limits count the daemon's disk too.
            // An entry that already says exactly this is not written again (a cached rerun writes
            // nothing): entries are only ever renamed into place whole, so one that reads back is
            // complete, and `entry` above has marked it used.
            let outputs = ["image": id, "tags": spec.tags.joined(separator: ",")]
            if cached?.outputs != outputs {
                try context.cache.store(kind: Self.kind, key: key, pipeline: context.pipeline, outputs: outputs, size: image.size)
            }
            return StageOutcome(outputs: [
                ("image", .string(id)), ("tags", .array(spec.tags.map(JSONValue.string))),
                ("loaded", .bool(loaded)), ("bytes", .int(bytes)),
            ], cached: !loaded, claim: Self.claim(spec, image: id, storePath: storePath, key: key, context: context))
        }
    }

    /// The provenance claim: the image (by the ID the daemon reports) made from the store path,
    /// which the engine adds as a subject with its NAR hash; the derivation as a dependency.
    private static func claim(_ spec: DockerLoadSpec, image: String, storePath: String, key: CacheKey,
                              context: StageContext) -> StageClaim {
        var dependencies: [ResourceDescriptor] = []
        if let drv = context.output("drv", of: spec.from.name), !drv.isEmpty {
            var digest: [String: String] = [:]
            if let text = FileManager.default.contents(atPath: drv) { digest["sha256"] = sha256Hex(text) }
            dependencies.append(ResourceDescriptor(name: "derivation", uri: "file://" + drv, digest: digest.isEmpty ? nil : digest))
        }
        return StageClaim(cacheKind: kind, identity: key.hex, subjects: [StageClaim.image(image, tags: spec.tags)],
                          parameters: ["from": .string(spec.from.name), "tags": .array(spec.tags.map(AttestedValue.string))],
                          dependencies: dependencies, storePath: storePath, verdict: .built)
    }

    /// Sends the image to `POST /images/load`, logging progress every 64 MiB.
    private func load(_ artifact: ImageArtifact, docker: DockerSession, context: StageContext) async throws -> (Int64, LoadResult) {
        let reporter = ProgressReporter(context: context)
        let result: LoadResult
        do {
            switch artifact {
            case .archive(let path):
                context.log("loading \(path)")
                result = try await context.step("image upload") { try await docker.client.loadImage(fileAt: path, progress: reporter.report) }
            case .script(let path):
                context.log("running \(path) and streaming its archive to the daemon")
                result = try await context.step("image upload") {
                    try await loadFromScript(path, docker: docker, context: context, progress: reporter.report)
                }
            }
        } catch let error as DockerError where !Task.isCancelled && error.code != .invalidArchive {
            // A daemon that dies mid-upload only cuts the request short: if it no longer answers,
            // the machine is to blame (exit 3), not the image.
            if docker.daemonIsGone { throw docker.daemonFate.goneError! }
            // The load has failed already: a daemon that accepts a connection but does not answer
            // a ping within 1 s is taken for gone (the run must say so within 2 s of its death).
            if let gone = await docker.client.unreachableError(within: .seconds(1)) { throw docker.daemonFate.noteGone(gone) }
            throw error
        }
        context.log("sent \(ByteSize(bytes: result.bytesSent))")
        return (result.bytesSent, result)
    }

    /// Runs a `streamLayeredImage`-style script and sends its stdout as the request body, pulled
    /// with backpressure: the script blocks while the daemon is slower, nothing piles up here.
    private func loadFromScript(_ path: String, docker: DockerSession, context: StageContext,
                                progress: @escaping @Sendable (Int64) -> Void) async throws -> LoadResult {
        var platformOptions = PlatformOptions()
        platformOptions.createSession = true
        platformOptions.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: .seconds(3))]
        let outcome = try await run(.path(FilePath(path)), arguments: [], platformOptions: platformOptions,
                                    input: .none, output: .sequence, error: .sequence) { execution in
            try await withThrowingTaskGroup(of: LoadResult?.self) { group in
                group.addTask {
                    // Lines may be cut anywhere by the pipe's reads: reassemble them first.
                    var splitter = LineSplitter(maxLineBytes: Nix.maxLogLineBytes)
                    for try await chunk in execution.standardError {
                        let lines = chunk.withUnsafeBytes { splitter.feed($0) }
                        for line in lines { context.log("image script: \(line)") }
                    }
                    splitter.finish().map { context.log("image script: \($0)") }
                    return nil
                }
                group.addTask {
                    let body = execution.standardOutput.map { @Sendable chunk in
                        chunk.withUnsafeBytes { ByteBuffer(bytes: $0) }
                    }
                    return try await docker.client.loadImage(body, progress: progress)
                }
                var result: LoadResult?
                for try await value in group { if let value { result = value } }
                return result!
            }
        }
        guard outcome.terminationStatus.isSuccess else {
            throw StageFailure(.loadFailed, "the image script \(path) failed (\(outcome.terminationStatus)); its stderr is in the log")
        }
        return outcome.closureResult
    }

    /// `name:tag` → (`name`, `tag`); a missing tag is `latest`.
    static func split(_ reference: String) -> (String, String) {
        if let colon = reference.lastIndex(of: ":"), !reference[colon...].contains("/") {
            return (String(reference[..<colon]), String(reference[reference.index(after: colon)...]))
        }
        return (reference, "latest")
    }
}

/// What a nix build produced for an image.
enum ImageArtifact {
    /// A docker-archive file (tar, gzipped or not).
    case archive(String)
    /// An executable that writes the archive to stdout (nixpkgs `streamLayeredImage`).
    case script(String)

    init(path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw StageFailure("cannot read the image at \(path)")
        }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 2)) ?? Data()
        if head == Data("#!".utf8), FileManager.default.isExecutableFile(atPath: path) {
            self = .script(path)
        } else {
            self = .archive(path)
        }
    }
}

/// Logs a line per 64 MiB sent.
final class ProgressReporter: Sendable {
    private let context: StageContext
    private let reported = Mutex<Int64>(0)

    init(context: StageContext) { self.context = context }

    var report: @Sendable (Int64) -> Void {
        { [self] total in
            let step: Int64 = 64 << 20
            let due = reported.withLock { last -> Bool in
                guard total / step > last / step else { return false }
                last = total
                return true
            }
            if due { context.log("sent \(ByteSize(bytes: total))") }
        }
    }
}

import Synchronization
