import Attestation
import Foundation
import Pipeline

#if canImport(Glibc)
import Glibc
#endif

/// Puts a stage's envelope (and a nix image's SBOM) beside the binary cache `cache.nix-push`
/// names, where a deploy step that fetches from that cache finds them by the image's ID:
///
///     CACHE/attestations/HEX.intoto.jsonl     every envelope about image sha256:HEX, one a line
///     CACHE/attestations/HEX.sbom.cdx.json    the SBOM of that image's store path closure
///
/// An `ssh://` or `ssh-ng://` push names another machine's nix store, which holds store paths
/// only: there the same two files go in a folder of that host (`cache.nix-push-attestations`,
/// by default the remote user's `~/.cache/sutradhar/attestations`), over ssh (``SSHAttestationPush``).
struct AttestationPush: Sendable {
    /// The binary cache as the definition names it (for log lines).
    let uri: String
    /// `CACHE/attestations` of a `file://` cache; nil for an ssh one.
    let folder: URL?
    /// The host and folder of an `ssh://` or `ssh-ng://` cache; nil for a `file://` one.
    let remote: SSHAttestationPush?

    /// The push beside `spec`'s cache; `environment` is the run's (for `NIX_SSHOPTS`).
    init(_ spec: NixPushSpec, environment: [String: String]) {
        uri = spec.uri
        if spec.uri.hasPrefix("file:///") {
            let path = String(spec.uri.dropFirst("file://".count).prefix { $0 != "?" })
            folder = URL(fileURLWithPath: path).appendingPathComponent("attestations")
            remote = nil
        } else {
            folder = nil
            remote = SSHAttestationPush(uri: spec.uri, folder: spec.attestationFolder ?? NixPushSpec.defaultRemoteAttestationFolder,
                                        sshOptions: environment["NIX_SSHOPTS"] ?? ProcessInfo.processInfo.environment["NIX_SSHOPTS"])
        }
    }

    /// `imageHex` if it is a sha256 in hex, as the daemon's image ID: the name comes from the
    /// daemon, and a file name is made of it only when it is what it says.
    /// - Throws: `AttestationError` `.io` otherwise.
    static func checked(imageHex: String) throws -> String {
        guard imageHex.count == 64, imageHex.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else {
            throw AttestationError(.io, "the image's ID '\(imageHex.prefix(80))' is not a sha256 digest")
        }
        return imageHex
    }

    /// Adds the envelope at `envelope` to the bundle of image `imageHex` in the `file://` cache's
    /// folder and copies `sbom` beside it; returns the bundle's path.
    /// - Throws: `AttestationError` `.io` if the folder cannot be written, `.malformedEnvelope`
    ///   if the envelope does not read back.
    func pushToFolder(envelope: URL, sbom: URL?, imageHex: String) throws -> String {
        let imageHex = try Self.checked(imageHex: imageHex)
        guard let folder else { throw AttestationError(.io, "\(uri) has no folder to push to") }
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let bundle = folder.appendingPathComponent(imageHex + ".intoto.jsonl")
            try Self.withLock(in: folder) {
                let existing = Self.readBounded(bundle)
                try StageAttestor.write(AttestationBundle.adding(try Data(contentsOf: envelope), to: existing), to: bundle)
                if let sbom { try StageAttestor.write(try Data(contentsOf: sbom), to: folder.appendingPathComponent(imageHex + ".sbom.cdx.json")) }
            }
            return bundle.path
        } catch let error as AttestationError {
            throw error
        } catch {
            throw AttestationError(.io, "could not write beside the binary cache \(uri): \(error)")
        }
    }

    /// A bundle over ``AttestationBundle/maximumSize`` is started afresh rather than read.
    private static func readBounded(_ url: URL) -> Data? {
        let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
        return size <= AttestationBundle.maximumSize ? try? Data(contentsOf: url) : nil
    }

    /// Runs `body` holding `attestations/.lock` (flock): two runs pushing about the same image
    /// each add their line instead of one rename hiding the other's.
    private static func withLock<T>(in folder: URL, _ body: () throws -> T) throws -> T {
        let descriptor = open(folder.appendingPathComponent(".lock").path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        defer { close(descriptor) }
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        }
        return try body()
    }
}
