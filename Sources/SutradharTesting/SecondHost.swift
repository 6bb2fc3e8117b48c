import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The second nix host of `scripts/second-host.sh` (a network namespace running sshd, whose
/// mount namespace has an empty `/nix` and a nix-daemon of its own), for the remote-builder and
/// binary-cache tests. Starting it needs root; it is left running for the next test (the script
/// is idempotent, and `second-host.sh stop` removes everything).
public struct SecondHost: Sendable {
    /// The second host's address on the veth pair.
    public let address: String
    /// The private key root's ssh uses to reach it.
    public let sshKey: String
    /// Its public host key, base64-encoded as nix's machine format wants it.
    public let publicHostKey: String
    /// A `nix.builders` entry for it: `ssh-ng://root@ADDRESS x86_64-linux KEY 2 1 - - HOSTKEY`.
    public let builder: String
    /// The folder bound over `/nix` in its namespace: its store is `STORE_ROOT/store`.
    public let nixRoot: String

    /// The script, in this repository.
    public static let script = SutradharCLI.repositoryRoot.appendingPathComponent("scripts/second-host.sh").path

    /// Why the second host cannot be used here (it needs root), or nil.
    public static let unavailableReason: String? = getuid() == 0 ? nil : "the second host needs root (namespaces, sshd)"

    /// Starts the second host if it is not running (`second-host.sh start`) and reads its
    /// settings. Call it first in a test, so that under `CI=true` a missing host fails the test.
    /// - Throws: ``DockerTestSupportError`` with the script's output when it cannot start.
    public static func start() throws -> SecondHost {
        if let unavailableReason { throw DockerTestSupportError(message: unavailableReason) }
        let output = try DockerTestSupport.run("/bin/bash", [script, "start"])
        var values: [String: String] = [:]
        for line in output.split(separator: "\n") where line.hasPrefix("export SECOND_HOST_") {
            let assignment = line.dropFirst("export ".count)
            guard let equals = assignment.firstIndex(of: "=") else { continue }
            values[String(assignment[..<equals])] = String(assignment[assignment.index(after: equals)...])
                .trimmingCharacters(in: CharacterSet(charactersIn: "'"))
        }
        guard let address = values["SECOND_HOST_ADDRESS"], let key = values["SECOND_HOST_SSH_KEY"],
              let hostKey = values["SECOND_HOST_PUBLIC_HOST_KEY"], let builder = values["SECOND_HOST_BUILDER"],
              let root = values["SECOND_HOST_NIX_ROOT"] else {
            throw DockerTestSupportError(message: "second-host.sh start printed no settings: \(output)")
        }
        return SecondHost(address: address, sshKey: key, publicHostKey: hostKey, builder: builder, nixRoot: root)
    }

    /// Whether the second host's store holds `storePath` (`/nix/store/…`), looked at from here.
    public func storeHolds(_ storePath: String) -> Bool {
        guard storePath.hasPrefix("/nix/") else { return false }
        return FileManager.default.fileExists(atPath: nixRoot + storePath.dropFirst("/nix".count))
    }

    /// Runs `sutradhar ARGUMENTS` on the second host (`second-host.sh exec`): with its own `/nix`,
    /// through its own nix-daemon; everything else, the Docker socket included, is this machine's.
    public func sutradhar(_ arguments: [String], workingDirectory: URL, environment: [String: String] = [:],
                          timeout: Duration = .seconds(300)) async throws -> SutradharCLI.Result {
        try await SutradharCLI.run(arguments, environment: environment.merging(["NIX_REMOTE": "daemon"]) { $1 },
                                   workingDirectory: workingDirectory, timeout: timeout,
                                   launcher: ["/bin/bash", Self.script, "exec"])
    }
}

extension Trait where Self == ConditionTrait {
    /// Runs the test only where the second host can be started (as root); under `CI=true` it
    /// always runs, so that a host that cannot start fails the test instead of skipping it.
    public static var requiresSecondHost: Self {
        .enabled(if: SecondHost.unavailableReason == nil || TestEnvironment.isCI,
                 Comment(rawValue: SecondHost.unavailableReason ?? "the second host can start"))
    }
}
