import NixBuild

/// Checks made before a run creates anything: a missing tool is an environment problem (exit 3),
/// not a stage failure.
enum Preflight {
    /// Nix must be installed and new enough for flakes.
    static func checkNix(_ nix: Nix) async throws {
        do {
            _ = try await nix.version()
        } catch let error as NixError {
            throw EnvironmentError(error.message)
        }
    }
}
