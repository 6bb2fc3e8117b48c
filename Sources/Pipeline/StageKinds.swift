import Yams

/// Every stage kind a definition may use. Adding a kind: its spec file, one line here, and its
/// executor in the Engine's registry.
enum StageKinds {
    typealias Reader = @Sendable (MappingReader) -> (any StageSpec)?

    static let all: [(spec: any StageSpec.Type, read: Reader)] = [
        (NixBuildSpec.self, { NixBuildSpec.read($0) }),
        (DockerLoadSpec.self, { DockerLoadSpec.read($0) }),
        (SmokeSpec.self, { SmokeSpec.read($0) }),
        (ContainerStageSpec.self, { ContainerStageSpec.read($0) }),
    ]

    static var names: [String] { all.map { $0.spec.kind } }

    /// The kinds whose stages produce an image, in file order (what `image:` may name).
    static var imageProducing: [String] { all.filter { $0.spec.producesImage }.map { $0.spec.kind } }

    static func reader(for kind: String) -> Reader? {
        all.first { $0.spec.kind == kind }?.read
    }
}
