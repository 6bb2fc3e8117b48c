import Attestation
import Foundation

/// Whether runs sign attestations and with which key: `--signing-key FILE` and `--no-attest`,
/// the same on every command that starts runs (`run`, `watch`, `nightly`, `reproduce`, `serve`,
/// `mcp`). The front ends parse the two flags; the key is found and checked here.
public struct AttestationSettings: Sendable, Equatable {
    /// Whether runs write attestations at all (`--no-attest` turns it off).
    public var enabled: Bool
    /// `--signing-key`: the Ed25519 private key (PKCS#8 PEM, mode 0600); nil: the user's own,
    /// generated on first use (`KeyFile`).
    public var signingKey: URL?

    /// Settings from the flags as given: a relative key path is taken from `directory` (the
    /// working directory of the command), so a server started in one folder means that file.
    public init(enabled: Bool = true, signingKey: String? = nil,
                relativeTo directory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)) {
        self.enabled = enabled
        self.signingKey = signingKey.map { URL(fileURLWithPath: $0, relativeTo: directory).standardizedFileURL }
    }

    /// The key file runs sign with: the named one (never generated) or the user's default.
    public func keyFile(environment: [String: String]) -> KeyFile {
        signingKey.map(KeyFile.init(explicit:)) ?? KeyFile(environment: environment)
    }

    /// Checks a named key before any run starts: a command that starts many runs (a watch loop,
    /// a nightly batch, a server) refuses to start with a key it cannot use rather than warn in
    /// every run. The default key is not touched (it is made by the first run that signs).
    /// - Throws: `AttestationError` `.badKey` saying what is wrong with the file.
    public func check(environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard enabled, signingKey != nil else { return }
        _ = try keyFile(environment: environment).load()
    }
}
