import Foundation

/// What the tests learn from their environment.
public enum TestEnvironment {
    /// Whether the tests run in CI: `CI` is `true` or `1` (in any case), as GitHub Actions, GitLab
    /// and most CI services set it. Then integration tests whose daemon or nix is missing fail
    /// instead of being skipped. One rule for every test target.
    public static var isCI: Bool {
        let value = ProcessInfo.processInfo.environment["CI"]?.lowercased()
        return value == "true" || value == "1"
    }
}
