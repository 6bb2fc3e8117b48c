import Yams

/// Every stage kind a definition may use. Adding a kind: its spec file, one line here, and its
/// executor in the Engine's registry.
enum StageKinds {
    typealias Reader = @Sendable (MappingReader) -> (any StageSpec)?

    static let all: [(kind: String, read: Reader)] = [
        (NixBuildSpec.kind, { NixBuildSpec.read($0) }),
        (DockerLoadSpec.kind, { DockerLoadSpec.read($0) }),
        (SmokeSpec.kind, { SmokeSpec.read($0) }),
        (ContainerStageSpec.kind, { ContainerStageSpec.read($0) }),
    ]

    static var names: [String] { all.map(\.kind) }

    static func reader(for kind: String) -> Reader? {
        all.first { $0.kind == kind }?.read
    }
}
