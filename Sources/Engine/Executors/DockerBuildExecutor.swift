import Attestation
import BuildCache
import DockerEngine
import Foundation
import Pipeline
import RunEvents

/// Builds a Dockerfile of the checkout with the daemon's classic builder (`POST /build`; BuildKit
/// would need a gRPC session), streaming the context as a tar with constant memory. Nothing is
/// pulled and nothing downloaded: every image the Dockerfile reads (`FROM`, `COPY --from`) must be
/// in the daemon already and an `ADD` of a URL needs the run to allow the network
/// (`RunOptions.allowNetwork`), both checked before anything is sent
/// (``checkReferences(of:named:context:)``), so the daemon never reaches a registry or a URL on a
/// build's behalf, whatever the stage's `network`.
struct DockerBuildExecutor: StageExecutor {
    typealias Spec = DockerBuildSpec
    static let needsDocker = true
    static let needsNix = false
    static var defaultTimeout: Duration { .seconds(60 * 60) }
    static let checksReproducibility = true

    /// The largest Dockerfile read (it is held in memory to find and rewrite its `FROM` lines).
    static let maximumDockerfileSize = 1 << 20

    func execute(_ spec: DockerBuildSpec, context: StageContext) async throws -> StageOutcome {
        let docker = context.docker!
        if spec.network == .bridge && !context.options.allowNetwork {
            throw StageFailure(.policyRefused, "the stage asks for 'network: bridge' but the run did not pass --allow-network; "
                + "pass it to let RUN steps reach the network, or remove 'network'")
        }
        let paths = try BuildPaths(checkout: context.checkout, spec: spec)
        var dockerfileText = try paths.readDockerfile()

        // `from-stage`: FROM lines naming that stage (or one of its tags) are pinned to its image ID.
        if let reference = spec.fromStage {
            guard let image = context.output("image", of: reference.name) else {
                throw StageFailure("stage '\(reference.name)' produced no image for 'from-stage'")
            }
            var names: Set<String> = [reference.name]
            if case .array(let tags)? = context.outputsByStage[reference.name]?.first(where: { $0.0 == "tags" })?.1 {
                names.formUnion(tags.compactMap(\.stringValue))
            }
            let parsed = Dockerfile(dockerfileText, buildArgs: spec.buildArgsByName)
            if parsed.froms.contains(where: { names.contains($0.image) }) {
                dockerfileText = parsed.replacingBases(names, with: image)
                context.log("FROM \(names.sorted().joined(separator: ", ")) pinned to \(image) (stage '\(reference.name)')")
            } else {
                context.warn("'from-stage: \(reference.name)' but no FROM line names it or its tags (\(names.sorted().joined(separator: ", "))); the Dockerfile is sent as it is")
            }
        }

        // Everything the build would read from outside the daemon is refused before anything is
        // sent to /build; the images it reads, by ID: one that changed makes a new key.
        let baseIDs = try await Self.checkReferences(of: Dockerfile(dockerfileText, buildArgs: spec.buildArgsByName),
                                                     named: spec.dockerfile, context: context)

        // The daemon gets exactly the text just checked, not the file as it may be by the time
        // the walk reaches it.
        let buildContext = try BuildContext(root: paths.context, dockerfile: paths.dockerfileInContext,
                                            replacements: [paths.dockerfileInContext: Array(dockerfileText.utf8)])
        let content: String
        if spec.context == "." || spec.context == "./" {
            // The whole checkout: its tree ID names every file that could be sent.
            content = "tree:\(context.treeID)"
        } else {
            // Stopped at the next file by a timeout or Ctrl-C, however many files the context holds.
            content = try await "files:" + buildContext.digest()
        }
        let key = CacheKey(["docker-build", content, paths.dockerfileInContext, dockerfileText, spec.target ?? "",
                            spec.buildArgs.map { "\($0.name)=\($0.value)" }.joined(separator: "\n"), spec.network.rawValue]
                           + baseIDs)
        let lock = context.cache.folder(.locks).appendingPathComponent("\(Self.kind)-\(key.short).lock")
        return try await context.exclusively(lock: lock, work: "building the same image") {
            let cached = context.options.noCache ? nil : context.cache.entry(kind: Self.kind, key: key)
            var built = false
            let image: ImageDetails
            if let entry = cached, let id = entry.outputs["image"], let details = try await docker.client.inspectImage(id) {
                context.log("cached: the daemon has \(id) from this context, Dockerfile and base images")
                image = details
            } else {
                let request = BuildRequest(tags: spec.tags, dockerfile: paths.dockerfileInContext, target: spec.target,
                                           buildArgs: spec.buildArgsByName,
                                           networkMode: spec.network == .bridge ? "bridge" : "none")
                context.log("building \(spec.dockerfile) in \(spec.context) with the classic builder (network \(request.networkMode), no pull)")
                let id: String
                do {
                    id = try await docker.client.buildImage(context: buildContext.chunks, request, output: { line in
                        context.log(line, stream: "stdout")
                    })
                } catch {
                    // Docker stops a build whose connection closes and force-removes its step
                    // container; Podman 4.3's builder (buildah) goes on until the step ends.
                    let code = (error as? DockerError)?.code
                    if docker.client.engine == .podman, Task.isCancelled || code == .timeout || code == .cancelled {
                        context.warn("Podman's builder (buildah) does not stop a build whose request ended: the running step's "
                            + "working container goes on until the step finishes, and buildah removes it then")
                    }
                    throw error
                }
                built = true
                guard let details = try await docker.client.inspectImage(id) else {
                    throw StageFailure(.buildFailed, "the build named image \(id), which the daemon does not have; see the daemon's log")
                }
                image = details
            }
            for tag in spec.tags {
                let (repository, version) = DockerLoadExecutor.split(tag)
                guard !image.isTagged("\(repository):\(version)") else { continue }
                try await docker.client.tagImage(image.id, repository: repository, tag: version)
                context.log("tagged \(tag)")
            }
            // As docker-load's: the tags let gc untag exactly these; the size counts the daemon's disk.
            let entryOutputs = ["image": image.id, "tags": spec.tags.joined(separator: ",")]
            if cached?.outputs != entryOutputs {
                try context.cache.store(kind: Self.kind, key: key, pipeline: context.pipeline, outputs: entryOutputs, size: image.size)
            }
            let claim = Self.claim(spec, image: image.id, key: key, content: content, dockerfile: dockerfileText,
                                   dockerfileName: paths.dockerfileInContext, bases: baseIDs)
            var outputs: [(String, JSONValue)] = [
                ("image", .string(image.id)), ("tags", .array(spec.tags.map(JSONValue.string))), ("built", .bool(built)),
            ]
            if let settings = context.options.reproduce {
                var again = BuildRequest(tags: [], dockerfile: paths.dockerfileInContext, target: spec.target,
                                         buildArgs: spec.buildArgsByName, networkMode: spec.network == .bridge ? "bridge" : "none")
                again.noCache = true
                outputs += try await DockerReproducibilityCheck.run(first: image, built: outputs, settings: settings, session: docker,
                                                                    context: context) {
                    try await docker.client.buildImage(context: buildContext.chunks, again, output: { context.log($0, stream: "stdout") })
                }
            }
            return StageOutcome(outputs: outputs, cached: !built, claim: claim)
        }
    }
}

extension DockerBuildExecutor {
    /// The provenance claim: the image; the context (by tree ID or file digest), the Dockerfile as
    /// sent and every base image by ID as dependencies. Build-argument values may be secrets, so
    /// only their SHA-256 is written (a verifier who knows a value can check it).
    static func claim(_ spec: DockerBuildSpec, image: String, key: CacheKey, content: String, dockerfile: String,
                      dockerfileName: String, bases: [String]) -> StageClaim {
        let contextDigest: [String: String] = content.hasPrefix("tree:") ? ["gitTree": String(content.dropFirst(5))]
            : ["sha256": String(content.drop { $0 != ":" }.dropFirst())]
        var dependencies = [
            ResourceDescriptor(name: "build-context", uri: "file:" + spec.context, digest: contextDigest),
            ResourceDescriptor(name: "dockerfile", uri: "file:" + dockerfileName, digest: ["sha256": sha256Hex(Array(dockerfile.utf8))]),
        ]
        for base in bases {
            guard let separator = base.lastIndex(of: "=") else { continue }
            let id = String(base[base.index(after: separator)...])
            dependencies.append(ResourceDescriptor(name: "base-image:" + base[..<separator], digest: ResourceDescriptor.digest(fromPrefixed: id)))
        }
        var parameters: [String: AttestedValue] = [
            "context": .string(spec.context), "dockerfile": .string(spec.dockerfile),
            "tags": .array(spec.tags.map(AttestedValue.string)), "network": .string(spec.network.rawValue),
            "build_args": .object(Dictionary(spec.buildArgs.map { ($0.name, AttestedValue.string("sha256:" + sha256Hex(Array($0.value.utf8)))) },
                                             uniquingKeysWith: { _, last in last })),
        ]
        if let target = spec.target { parameters["target"] = .string(target) }
        if let from = spec.fromStage { parameters["from_stage"] = .string(from.name) }
        return StageClaim(cacheKind: kind, identity: key.hex, subjects: [StageClaim.image(image, tags: spec.tags)],
                          parameters: parameters, dependencies: dependencies, verdict: .built)
    }

    /// Refuses a Dockerfile that would make the daemon reach the network: an image it lacks (the
    /// classic builder pulls a `FROM` or `COPY --from` image it does not have), an `ADD` of a
    /// URL (downloaded in the daemon's own network namespace, whatever `network:` says) unless
    /// the run allows the network, or a name whose variables cannot be known before the build.
    /// Each refusal names the Dockerfile's line.
    ///
    /// - Returns: `image=ID` for each image the build reads, in order (a cache key's part).
    /// - Throws: ``StageFailure`` `.imageMissing` for an absent or unresolvable image,
    ///   `.policyRefused` for a remote `ADD`, `.buildFailed` for a directive the builder refuses.
    static func checkReferences(of dockerfile: Dockerfile, named name: String, context: StageContext) async throws -> [String] {
        let docker = context.docker!
        for finding in dockerfile.findings {
            let place = "\(name):\(finding.line)"
            switch finding.kind {
            case .invalid:
                throw StageFailure(.buildFailed, "\(place): \(finding.value); fix the parser directive")
            case .unresolved:
                throw StageFailure(finding.instruction == "ADD" ? .policyRefused : .imageMissing,
                    "\(place): \(finding.instruction) '\(finding.value)' uses a variable whose value is not known before the build, "
                    + "so Sutradhar cannot check that the build stays off the network; give it a value with ARG or ENV "
                    + "in the Dockerfile or in 'build-args'")
            case .remote where !context.options.allowNetwork:
                throw StageFailure(.policyRefused,
                    "\(place): ADD fetches '\(finding.value)', which the daemon downloads itself whatever 'network' says, "
                    + "and the run does not allow the network; allow it, or add the file to the context",
                    remedy: .allowNetwork)
            case .remote, .image:
                continue
            }
        }
        var ids: [String] = []
        for image in dockerfile.requiredImages {
            guard let details = try await docker.client.inspectImage(image) else {
                let finding = dockerfile.findings.first { $0.kind == .image && $0.value == image }!
                let what = finding.instruction == "FROM" ? "FROM names" : "\(finding.instruction) names"
                throw StageFailure(.imageMissing, "\(name):\(finding.line): the Dockerfile's \(what) '\(image)', which the daemon does not have, "
                    + "and Sutradhar never pulls; load it first (docker load -i FILE, or a docker-load stage named by 'from-stage'), "
                    + "or use an image the daemon has")
            }
            ids.append("\(image)=\(details.id)")
            // A base image's ONBUILD triggers run in this build, before the Dockerfile's own lines.
            guard let from = dockerfile.findings.first(where: { $0.kind == .image && $0.instruction == "FROM" && $0.value == image }) else { continue }
            let triggers = try await docker.client.onBuildTriggers(of: image, details: details)
            for trigger in Dockerfile.findings(ofTriggers: triggers) {
                let place = "\(name):\(from.line): the base image '\(image)' has the ONBUILD trigger '\(triggers[trigger.line - 1])'"
                switch trigger.kind {
                case .remote where context.options.allowNetwork:
                    continue
                case .remote:
                    throw StageFailure(.policyRefused, "\(place), which downloads '\(trigger.value)' whatever 'network' says, "
                        + "and the run does not allow the network; allow it, or build from another image", remedy: .allowNetwork)
                case .image where try await docker.client.inspectImage(trigger.value) != nil:
                    continue
                case .image, .unresolved, .invalid:
                    throw StageFailure(.imageMissing, "\(place), which would make the daemon pull or fetch '\(trigger.value)' "
                        + "(Sutradhar never pulls); load what it needs first, or build from another image")
                }
            }
        }
        return ids
    }
}

extension DockerBuildSpec {
    /// `build-args` as the API's map (a name given twice: the last wins, as in YAML).
    var buildArgsByName: [String: String] {
        Dictionary(buildArgs.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 })
    }
}

/// The context folder and the Dockerfile, checked to be inside the checkout once links are
/// resolved: a context or Dockerfile that is a link out of the checkout is refused, not followed.
struct BuildPaths {
    /// The context folder, resolved.
    let context: String
    /// The Dockerfile's path relative to the context.
    let dockerfileInContext: String
    let dockerfile: String

    init(checkout: URL, spec: DockerBuildSpec) throws {
        let root = try Self.resolved(checkout.path, what: "the checkout")
        let context = try Self.resolved(checkout.path + "/" + spec.context, what: "the context '\(spec.context)'")
        guard context == root || context.hasPrefix(root + "/") else {
            throw StageFailure(.policyRefused, "the context '\(spec.context)' leads out of the checkout (to \(context)); build a folder of the checkout")
        }
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: context, isDirectory: &isFolder), isFolder.boolValue else {
            throw StageFailure(.buildFailed, "the context '\(spec.context)' is not a folder of the checkout; fix 'context'")
        }
        let dockerfile = try Self.resolved(context + "/" + spec.dockerfile, what: "the Dockerfile '\(spec.dockerfile)'")
        guard dockerfile.hasPrefix(context + "/") else {
            throw StageFailure(.policyRefused, "the Dockerfile '\(spec.dockerfile)' leads out of the context (to \(dockerfile)); use a file inside it")
        }
        self.context = context
        self.dockerfile = dockerfile
        self.dockerfileInContext = String(dockerfile.dropFirst(context.count + 1))
    }

    func readDockerfile() throws -> String {
        guard let handle = FileHandle(forReadingAtPath: dockerfile),
              let data = try? handle.read(upToCount: DockerBuildExecutor.maximumDockerfileSize + 1) else {
            throw StageFailure(.buildFailed, "cannot read the Dockerfile \(dockerfile); check that it is a file")
        }
        try? handle.close()
        guard data.count <= DockerBuildExecutor.maximumDockerfileSize else {
            throw StageFailure(.buildFailed, "the Dockerfile \(dockerfile) is over 1 MiB; it is read whole to check its FROM lines")
        }
        return String(decoding: data, as: UTF8.self)
    }

    private static func resolved(_ path: String, what: String) throws -> String {
        guard let real = realpath(path, nil) else {
            throw StageFailure(.buildFailed, "\(what) is not in the checkout (\(path): \(String(cString: strerror(errno)))); fix the stage's paths")
        }
        defer { free(real) }
        return String(cString: real)
    }
}
