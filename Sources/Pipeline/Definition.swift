import Foundation

/// A pipeline definition as read from `pipelines/NAME.yaml`: typed, with positions kept for
/// every stage so that later errors can still point at the file.
public struct PipelineDefinition: Sendable {
    /// The definition file, as the user named it (used in diagnostics).
    public let file: String
    /// The folder holding the file: relative source paths are resolved against it.
    public let directory: URL
    /// `version:`; only 1 exists.
    public let version: Int
    /// `name:`, used in events, cache entries and run records.
    public let name: String
    /// `description:`, free text.
    public let description: String?
    /// Where the code comes from.
    public let source: SourceSpec
    /// `nix.options`: each passed as `--option NAME VALUE` to every nix call, in file order.
    public let nixOptions: [NixOptionSpec]
    /// `nix.builders`, `nix.max-jobs`, `nix.substituters`, `nix.trusted-public-keys`: passed to
    /// every nix call after `nixOptions` (see ``NixDistribution/options``).
    public var nixDistribution = NixDistribution()
    /// `cache:` limits applied after each run of this pipeline.
    public let cache: CacheSettings
    /// `schedule:` a systemd OnCalendar expression for nightly runs.
    public let schedule: String?
    /// The stages, in file order.
    public let stages: [StageDefinition]
    /// `nightly:` what `sutradhar nightly` does beyond rebuilding.
    public var nightly = NightlySettings()
}

/// `nightly:` of a pipeline.
public struct NightlySettings: Sendable, Hashable {
    /// `reproduce`: check every nix-build output of the nightly run for reproducibility (build it
    /// again and compare); the nightly report gets a "Reproducibility" section.
    public var reproduce: Bool

    /// Settings with nothing beyond the rebuild.
    public init(reproduce: Bool = false) {
        self.reproduce = reproduce
    }
}

/// Where a pipeline's code comes from.
public struct SourceSpec: Sendable, Hashable {
    /// A repository (fetched into a mirror) or a folder built as it is.
    public enum Location: Sendable, Hashable {
        /// `git:` a URL (https, ssh, file://) or an absolute path of a repository.
        case git(String)
        /// `path:` a folder, snapshotted with its uncommitted and untracked changes.
        case path(String)
    }

    /// The resolved location: relative paths are made absolute against the definition's folder.
    public let location: Location
    /// `ref:` a branch, tag or commit; nil means the remote's HEAD.
    public let ref: String?
    /// Where `source:` is written.
    public let position: SourcePosition

    /// Creates a source.
    public init(location: Location, ref: String?, position: SourcePosition) {
        self.location = location
        self.ref = ref
        self.position = position
    }

    /// Whether a `git:` value names a remote or `file://` URL rather than a local path.
    public static func isURL(_ text: String) -> Bool {
        if text.contains("://") { return true }
        // scp-like ssh syntax: user@host:path (a colon before any slash).
        if let colon = text.firstIndex(of: ":"), text[..<colon].contains("@"), !text[..<colon].contains("/") {
            return true
        }
        return false
    }
}

/// One `nix.options` entry.
public struct NixOptionSpec: Sendable, Hashable {
    /// The option's name, e.g. `substituters`.
    public let name: String
    /// Its value as written.
    public let value: String
}

/// `cache:` limits of a pipeline.
public struct CacheSettings: Sendable, Hashable {
    /// `max-size`: evict least recently used entries of this pipeline beyond it.
    public var maxSize: ByteSize?
    /// `max-age`: evict entries unused for longer.
    public var maxAge: Duration?
    /// `nix-push`, `nix-push-key` and `nix-push-attestations`: the binary cache each passed
    /// nix-build's closure is copied to, and where attestations go beside an ssh one.
    public var nixPush: NixPushSpec?

    /// No limits.
    public init(maxSize: ByteSize? = nil, maxAge: Duration? = nil, nixPush: NixPushSpec? = nil) {
        self.maxSize = maxSize
        self.maxAge = maxAge
        self.nixPush = nixPush
    }
}

/// One stage: its name, what it needs, and its kind's settings.
public struct StageDefinition: Sendable {
    /// The stage's key under `stages:`.
    public let name: String
    /// Where the stage's key is written.
    public let position: SourcePosition
    /// `needs:` the stages that must pass first, as written.
    public let needs: [StageReference]
    /// `timeout:` the stage's own deadline; nil means the kind's default.
    public let timeout: Duration?
    /// The kind's settings (`nix-build:`, `docker-load:`, …).
    public let spec: any StageSpec

    /// The kind's name, e.g. `nix-build`.
    public var kind: String { type(of: spec).kind }
}

/// A mention of another stage (in `needs`, `from`, `image`), with where it is written.
public struct StageReference: Sendable, Hashable {
    /// The stage named.
    public let name: String
    /// The field that names it, e.g. `stages.load.docker-load.from`.
    public let field: String
    /// Where it is written.
    public let position: SourcePosition
    /// What the named stage must be (e.g. `from` must name a nix-build stage), if anything.
    public let requirement: Requirement?

    /// What a reference asks of the stage it names.
    public enum Requirement: Sendable, Hashable {
        /// A stage of exactly this kind.
        case kind(String)
        /// A stage whose kind produces an image (`StageSpec.producesImage`), e.g. `docker-load`.
        case producesImage

        /// Whether a stage of kind `kind` meets it.
        func isMet(byKind kind: String) -> Bool {
            switch self {
            case .kind(let required): return kind == required
            case .producesImage: return StageKinds.imageProducing.contains(kind)
            }
        }

        /// The kinds that meet it, for messages: "nix-build", "docker-load or docker-build".
        var kindsText: String {
            switch self {
            case .kind(let required): return required
            case .producesImage: return StageKinds.imageProducing.joined(separator: " or ")
            }
        }
    }

    /// Creates a reference.
    public init(name: String, field: String, position: SourcePosition, requirement: Requirement? = nil) {
        self.name = name
        self.field = field
        self.position = position
        self.requirement = requirement
    }

    /// Creates a reference to a stage of kind `requiredKind`, if given.
    public init(name: String, field: String, position: SourcePosition, requiredKind: String?) {
        self.init(name: name, field: field, position: position, requirement: requiredKind.map(Requirement.kind))
    }
}

/// The settings of one stage kind. A kind is one type conforming to this protocol plus one
/// line in `StageKinds.all`; the Engine pairs each kind with its executor.
public protocol StageSpec: Sendable {
    /// The kind's key in a stage block, e.g. `nix-build`.
    static var kind: String { get }
    /// Other stages whose outputs this stage reads; they become dependencies.
    var references: [StageReference] { get }
    /// A canonical text of every setting that changes the stage's result, for cache keys.
    var cacheIdentity: String { get }
    /// Whether stages of this kind put an image in the daemon that `image:` may name. A
    /// requirement, so that it is dispatched through `any StageSpec.Type`.
    static var producesImage: Bool { get }
}
