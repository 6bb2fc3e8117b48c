/// `docker-build:` builds a Dockerfile of the checkout with the daemon's classic builder and tags
/// the image. Its output `image` feeds `smoke` and `container` stages like `docker-load`'s.
public struct DockerBuildSpec: StageSpec, Hashable {
    public static let kind = "docker-build"
    /// Its stages put an image in the daemon (`image:` may name them).
    public static let producesImage = true

    /// `context:` the folder sent to the daemon, relative to the checkout (`.` by default).
    public let context: String
    /// `dockerfile:` relative to the context (`Dockerfile` by default).
    public let dockerfile: String
    /// `target:` the Dockerfile stage to build, if not the last.
    public let target: String?
    /// `build-args:` `ARG` values, in file order.
    public let buildArgs: [EnvironmentVariable]
    /// `tags:` names to give the image, e.g. `app:ci`.
    public let tags: [String]
    /// `network:` the network `RUN` steps get: `none` unless `bridge` (and the run allows it).
    public let network: ContainerSettings.Network
    /// `from-stage:` an image-producing stage whose image replaces the `FROM` lines naming it.
    public let fromStage: StageReference?

    /// Creates the settings.
    public init(context: String = ".", dockerfile: String = "Dockerfile", target: String? = nil,
                buildArgs: [EnvironmentVariable] = [], tags: [String] = [], network: ContainerSettings.Network = .none,
                fromStage: StageReference? = nil) {
        self.context = context
        self.dockerfile = dockerfile
        self.target = target
        self.buildArgs = buildArgs
        self.tags = tags
        self.network = network
        self.fromStage = fromStage
    }

    public var references: [StageReference] { fromStage.map { [$0] } ?? [] }
    public var cacheIdentity: String {
        let arguments = buildArgs.map { "\($0.name)=\($0.value)" }.joined(separator: ",")
        return "docker-build context=\(context) dockerfile=\(dockerfile) target=\(target ?? "") args=\(arguments) "
            + "tags=\(tags.joined(separator: ",")) network=\(network.rawValue) from-stage=\(fromStage?.name ?? "")"
    }

    /// The keys of a `docker-build:` block, in the order docs/definitions.md documents them.
    static let keys = ["context", "dockerfile", "target", "build-args", "tags", "network", "from-stage"]

    static func read(_ block: MappingReader) -> DockerBuildSpec? {
        block.rejectUnknownKeys(allowed: keys)
        let reader = block.reader
        let context = block.string("context") ?? "."
        if let problem = RelativePath.problem(context) {
            reader.report(block.value("context"), "'\(block.fieldPath("context"))' \(problem); write a folder inside the checkout, e.g. . or app")
        }
        let dockerfile = block.string("dockerfile") ?? "Dockerfile"
        if let problem = RelativePath.problem(dockerfile) {
            reader.report(block.value("dockerfile"), "'\(block.fieldPath("dockerfile"))' \(problem); write a file inside the context, e.g. Dockerfile")
        }
        let target = block.string("target")
        if target?.isEmpty == true {
            reader.report(block.value("target"), "'\(block.fieldPath("target"))' is empty; name a stage of the Dockerfile (FROM … AS NAME) or remove it")
        }
        let buildArgs = (block.stringPairs("build-args") ?? []).map { EnvironmentVariable(name: $0.name, value: $0.value) }
        let tags = block.stringList("tags") ?? []
        for (index, tag) in tags.enumerated() where !ImageName.isValid(tag) {
            reader.report(block.value("tags"),
                "'\(block.fieldPath("tags"))[\(index)]' is not an image name: '\(tag)'; write NAME:TAG, e.g. app:ci")
        }
        var network = ContainerSettings.Network.none
        if let text = block.string("network") {
            switch text {
            case "none": network = .none
            case "bridge", "default": network = .bridge
            case "host":
                reader.report(block.value("network"), "'\(block.fieldPath("network"))': the host network is refused; use none (the default), or bridge with --allow-network")
            default:
                reader.report(block.value("network"), "'\(block.fieldPath("network"))' must be none or bridge, not '\(text)'")
            }
        }
        let fromStage = block.string("from-stage").map {
            reader.reference(to: $0, field: block.fieldPath("from-stage"), at: block.value("from-stage"), requirement: .producesImage)
        }
        return DockerBuildSpec(context: context, dockerfile: dockerfile, target: target, buildArgs: buildArgs, tags: tags,
                               network: network, fromStage: fromStage)
    }
}

/// Paths a definition writes relative to the checkout.
enum RelativePath {
    /// Why `path` cannot name something inside the checkout, or nil if it can.
    static func problem(_ path: String) -> String? {
        if path.isEmpty { return "is empty" }
        if path.hasPrefix("/") { return "is an absolute path ('\(path)')" }
        if path.split(separator: "/").contains("..") { return "leaves the checkout ('\(path)' contains ..)" }
        return nil
    }
}
