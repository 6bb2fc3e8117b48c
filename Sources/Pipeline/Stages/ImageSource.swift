/// An image a container runs: the image a stage that produces one (`docker-load`) made, or a named image already
/// in the daemon (images are never pulled: no registry is assumed to be reachable).
public enum ImageSource: Sendable, Hashable {
    /// The image loaded by this stage.
    case stage(StageReference)
    /// An image reference such as `busybox:latest`.
    case reference(String)

    /// Reads `image:`; a value is a stage if such a stage exists (checked by the planner),
    /// an image if it looks like one (has a tag, digest or path), else an unknown stage.
    static func read(_ block: MappingReader, key: String = "image") -> ImageSource? {
        guard let text = block.string(key, required: true) else { return nil }
        if ImageName.looksLikeImage(text) {
            return .reference(text)
        }
        return .stage(block.reader.reference(to: text, field: block.fieldPath(key), at: block.value(key),
                                             requirement: .producesImage))
    }

    var cacheIdentity: String {
        switch self {
        case .stage(let reference): return "stage:\(reference.name)"
        case .reference(let name): return "image:\(name)"
        }
    }

    var references: [StageReference] {
        if case .stage(let reference) = self { return [reference] }
        return []
    }
}
