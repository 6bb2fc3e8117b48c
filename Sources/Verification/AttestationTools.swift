import Attestation
import DockerEngine
import Engine
import Foundation
import RunEvents

/// What `attest verify` found: the signature, the statement's shape and, when asked, the image in
/// the daemon all hold.
public struct AttestationCheck: Sendable {
    /// The statement's predicate type.
    public let predicateType: String
    /// Each subject as `NAME sha256:HEX`.
    public let subjects: [String]
    /// The signer's key ID.
    public let keyID: String
    /// The image asked about and the ID the daemon reports for it, when `--image` was given.
    public let image: (reference: String, id: String)?
}

/// The attestation operations every front end shares: the public key, offline verification
/// (optionally against the daemon's image), and the attestations of a run.
public enum AttestationTools {
    /// The public half of the signing key (`--signing-key FILE`, else the user's, generated on
    /// first use) as PEM, with its key ID and where the private key is.
    /// - Throws: `AttestationError` if the key cannot be read or made.
    public static func publicKey(signingKey: URL?, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws -> (pem: String, keyID: String, keyFile: String) {
        let file = signingKey.map(KeyFile.init(explicit:)) ?? KeyFile(environment: environment)
        let key = try file.load()
        return (key.publicKey.pem, key.keyID, file.path.path)
    }

    /// The public key to check a run's attestations with on this machine: the default signing
    /// key's, if it exists (never generated here).
    public static func localVerifyingKey(environment: [String: String] = ProcessInfo.processInfo.environment) -> VerifyingKey? {
        let file = KeyFile(environment: environment)
        guard FileManager.default.fileExists(atPath: file.path.path) else { return nil }
        return try? file.load().publicKey
    }

    /// Checks the envelope at `file` — or each envelope of a bundle, one a line (`.intoto.jsonl`,
    /// as pushed beside a binary cache) — with the public key at `publicKey` (PEM): the signature,
    /// the statement's shape and, with `image`, that the daemon's image of that reference is a
    /// subject of every statement. Returns one check per envelope, in the file's order.
    /// - Throws: `AttestationError` saying which does not hold and, in a bundle, on which line
    ///   (`.io` for a file that cannot be read, `.subjectMismatch` for another image);
    ///   `DockerError` if the daemon cannot be asked.
    public static func verify(file: URL, publicKey: URL, image: String?, options: RunOptions) async throws -> [AttestationCheck] {
        let keyText: String
        do {
            keyText = try String(contentsOf: publicKey, encoding: .utf8)
        } catch {
            throw AttestationError(.io, "cannot read the public key \(publicKey.path) (print it with 'sutradhar attest public-key')")
        }
        let key = try VerifyingKey(pem: keyText)
        let size = (try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int) ?? 0
        guard size <= 16 << 20, let data = try? Data(contentsOf: file) else {
            throw AttestationError(.io, size > 16 << 20 ? "\(file.path) is larger than 16 MiB: not an envelope Sutradhar wrote"
                                                         : "cannot read \(file.path)")
        }
        // A file that is one envelope (however laid out) is that; otherwise a bundle of lines.
        let envelopes = (try? Envelope.decode(data)) != nil ? [data] : try AttestationBundle.envelopes(in: data)
        guard !envelopes.isEmpty else { throw AttestationError(.malformedEnvelope, "\(file.path) holds no envelope") }
        var verified: [VerifiedAttestation] = []
        for (index, envelope) in envelopes.enumerated() {
            do {
                verified.append(try AttestationVerifier.verify(envelope, with: key))
            } catch let error as AttestationError where envelopes.count > 1 {
                throw AttestationError(error.code, "line \(index + 1): \(error.message)")
            }
        }
        var imageID: String?
        if let image {
            let host = try DockerSession.discoverHost(options)
            let details = try await DockerClient.withClient(host: host, timeout: .seconds(10)) { client in
                try await client.inspectImage(image)
            }
            guard let details else {
                throw AttestationError(.subjectMismatch, "the daemon at \(host.socketPath) has no image '\(image)'")
            }
            for (index, attestation) in verified.enumerated() where !attestation.subjectImageIDs.contains(details.id) {
                throw AttestationError(.subjectMismatch, (verified.count > 1 ? "line \(index + 1): " : "")
                    + "the daemon's image '\(image)' is \(details.id), which is not a subject of this "
                    + "statement (its subjects: \(attestation.subjectImageIDs.joined(separator: ", ")))")
            }
            imageID = details.id
        }
        return verified.map { attestation in
            AttestationCheck(predicateType: attestation.statement.predicateType, subjects: attestation.statement.subject.map(\.summary),
                             keyID: attestation.keyID, image: image.flatMap { reference in imageID.map { (reference, $0) } })
        }
    }
}
