/// `docker-load:` loads a nix-built image archive into the daemon and tags it.
public struct DockerLoadSpec: StageSpec, Hashable {
    public static let kind = "docker-load"
    /// Its stages put an image in the daemon (`image:` may name them).
    public static let producesImage = true

    /// `from:` the nix-build stage whose output is the image archive (or a script writing it).
    public let from: StageReference
    /// `tags:` names to give the image, e.g. `hello:latest`.
    public let tags: [String]

    public var references: [StageReference] { [from] }
    public var cacheIdentity: String { "docker-load tags=\(tags.joined(separator: ","))" }

    /// The keys of a `docker-load:` block, in the order docs/definitions.md documents them.
    static let keys = ["from", "tags"]

    static func read(_ block: MappingReader) -> DockerLoadSpec? {
        block.rejectUnknownKeys(allowed: keys)
        let tags = block.stringList("tags") ?? []
        for (index, tag) in tags.enumerated() where !ImageName.isValid(tag) {
            block.reader.report(block.value("tags"),
                "'\(block.fieldPath("tags"))[\(index)]' is not an image name: '\(tag)'; write NAME:TAG, e.g. hello:latest")
        }
        guard let from = block.string("from", required: true) else { return nil }
        let reference = block.reader.reference(to: from, field: block.fieldPath("from"), at: block.value("from"),
                                               requirement: .kind(NixBuildSpec.kind))
        return DockerLoadSpec(from: reference, tags: tags)
    }
}

/// Image names as the Engine API accepts them in tags: lowercase path components, an optional
/// registry host and port, an optional tag.
enum ImageName {
    static func isValid(_ name: String) -> Bool {
        guard !name.isEmpty, name.count <= 255, !name.contains("@") else { return false }
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789._-/:")
        guard name.allSatisfy({ allowed.contains($0) || $0.isUppercase }) else { return false }
        let lastSlash = name.lastIndex(of: "/")
        let repository = name.lastIndex(of: ":").flatMap { colon in
            (lastSlash.map { colon > $0 } ?? true) ? name[..<colon] : nil
        } ?? Substring(name)
        // Upper case is only allowed in the tag, never in the repository.
        return !repository.isEmpty && !repository.contains(where: \.isUppercase)
            && !repository.hasPrefix("/") && !repository.hasSuffix("/")
    }

    /// Whether a string written where an image is expected names an image (rather than a stage).
    static func looksLikeImage(_ text: String) -> Bool {
        (text.contains(":") || text.contains("/") || text.contains("@")) && !text.contains(" ")
    }
}
