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
/// Only a `file://` cache is a folder files can go beside; an `ssh://` or `ssh-ng://` push names
/// another machine's nix store, which holds store paths only, so nothing is pushed there.
struct AttestationPush: Sendable {
    /// The binary cache as the definition names it (for log lines).
    let uri: String
    /// `CACHE/attestations`.
    let folder: URL

    /// The push beside `spec`'s cache, or nil when it is not a folder (`ssh://`, `ssh-ng://`).
    init?(_ spec: NixPushSpec) {
        guard spec.uri.hasPrefix("file:///") else { return nil }
        let path = String(spec.uri.dropFirst("file://".count).prefix { $0 != "?" })
        uri = spec.uri
        folder = URL(fileURLWithPath: path).appendingPathComponent("attestations")
    }

    /// Adds the envelope at `envelope` to the bundle of image `imageHex` (a sha256 in hex, as the
    /// daemon's image ID) and copies `sbom` beside it; returns the bundle's URL.
    /// - Throws: `AttestationError` `.io` if the folder cannot be written, `.malformedEnvelope`
    ///   if the envelope does not read back.
    func push(envelope: URL, sbom: URL?, imageHex: String) throws -> URL {
        // The name comes from the daemon; a file name is made of it only when it is what it says.
        guard imageHex.count == 64, imageHex.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else {
            throw AttestationError(.io, "the image's ID '\(imageHex.prefix(80))' is not a sha256 digest")
        }
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let bundle = folder.appendingPathComponent(imageHex + ".intoto.jsonl")
            try withLock {
                let existing = Self.readBounded(bundle)
                try StageAttestor.write(AttestationBundle.adding(try Data(contentsOf: envelope), to: existing), to: bundle)
                if let sbom { try StageAttestor.write(try Data(contentsOf: sbom), to: folder.appendingPathComponent(imageHex + ".sbom.cdx.json")) }
            }
            return bundle
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
    private func withLock<T>(_ body: () throws -> T) throws -> T {
        let descriptor = open(folder.appendingPathComponent(".lock").path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        defer { close(descriptor) }
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        }
        return try body()
    }
}
