/// `container:` runs a one-shot command in an image (a test suite inside the built image, say)
/// under the same isolation as a smoke stage, with the checkout mounted read-only at `/src`.
public struct ContainerStageSpec: StageSpec, Hashable {
    public static let kind = "container"
    /// Its stages produce no image.
    public static let producesImage = false
    /// Where the checkout appears inside the container.
    public static let checkoutMountPoint = "/src"

    /// `image:` the docker-load stage (or an image already in the daemon) to run.
    public let image: ImageSource
    /// The container's settings; `command` is required here.
    public let container: ContainerSettings
    /// `expect-exit` (default 0): the exit code that means success.
    public let expectExit: Int

    public var references: [StageReference] { image.references }
    public var cacheIdentity: String {
        "container image=\(image.cacheIdentity) \(container.cacheIdentity) exit=\(expectExit)"
    }

    /// The keys of a `container:` block, in the order docs/definitions.md documents them.
    static let keys = ["image", "command", "expect-exit"] + ContainerSettings.keys.filter { $0 != "command" }

    static func read(_ block: MappingReader) -> ContainerStageSpec? {
        block.rejectUnknownKeys(allowed: keys, refused: ContainerSettings.refusedKeys.keys)
        let image = ImageSource.read(block)
        let container = ContainerSettings.read(block)
        if !block.has("command") { block.reportMissing("command", "; e.g. command: [go, test, ./...]") }
        let expectExit = block.int("expect-exit", in: 0...255) ?? 0
        guard let image else { return nil }
        return ContainerStageSpec(image: image, container: container, expectExit: expectExit)
    }
}
