/// `nix-build:` builds a flake output of the checkout; its output `out` is the store path.
public struct NixBuildSpec: StageSpec, Hashable {
    public static let kind = "nix-build"
    /// Its stages produce no image.
    public static let producesImage = false
    /// The default installable: the flake output the bommalata flake exposes.
    public static let defaultInstallable = ".#docker-image"

    /// `installable:`, relative to the checkout (`.#docker-image` by default).
    public let installable: String

    /// Creates the settings.
    public init(installable: String = NixBuildSpec.defaultInstallable) {
        self.installable = installable
    }

    public var references: [StageReference] { [] }
    public var cacheIdentity: String { "nix-build installable=\(installable)" }

    /// The keys of a `nix-build:` block, in the order docs/definitions.md documents them.
    static let keys = ["installable"]

    static func read(_ block: MappingReader) -> NixBuildSpec? {
        block.rejectUnknownKeys(allowed: keys)
        let installable = block.string("installable") ?? defaultInstallable
        if installable.isEmpty {
            block.reader.report(block.value("installable"), "'\(block.fieldPath("installable"))' is empty; write e.g. .#docker-image")
        }
        return NixBuildSpec(installable: installable)
    }
}
