import Attestation
import Foundation

/// One signed statement a run wrote (`runs/RUN/attestations/STAGE.KIND.json`), as the run
/// pages, `runs show`, `attest show` and MCP's `get_run` present it.
public struct RunAttestation: Sendable, Codable, Equatable {
    /// The stage it is about.
    public let stage: String
    /// The envelope's path.
    public let file: String
    /// `https://slsa.dev/provenance/v1` or `https://in-toto.io/attestation/test-result/v0.1`.
    public let predicateType: String
    /// Each subject as `NAME sha256:HEX`.
    public let subjects: [String]
    /// The ID of the key that signed it (from the envelope).
    public let keyID: String
    /// Whether the signature and shape hold under the key it was checked with; nil when no key
    /// was at hand to check it.
    public let verified: Bool?
    /// Why it did not verify, if it did not.
    public let problem: String?

    /// "signed by KEYID, verified" (or "not verified: WHY", or "not checked").
    public var verdictText: String {
        let signer = "signed by \(keyID.prefix(16))"
        switch verified {
        case true?: return "\(signer), verified"
        case false?: return "\(signer), NOT verified: \(problem ?? "unknown reason")"
        case nil: return "\(signer), not checked (no key at hand)"
        }
    }
}

extension RunHistory {
    /// The attestations run `id` wrote, sorted by file name, each checked with `key` when given
    /// (the default signing key's public half, say). Files that are not envelopes are listed with
    /// their problem; SBOMs are not envelopes and are left out.
    public func attestations(ofRun id: String, verifyingWith key: VerifyingKey?) -> [RunAttestation] {
        let folder = folder.appendingPathComponent(id).appendingPathComponent("attestations")
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
            .filter { $0.hasSuffix(".json") && !$0.hasSuffix(".sbom.cdx.json") }.sorted()
        return names.map { name in
            let file = folder.appendingPathComponent(name)
            let stage = String(name.dropLast(".json".count).split(separator: ".").dropLast().joined(separator: "."))
            // Envelopes are small (kilobytes); one larger than 16 MiB is not read.
            guard let size = (try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int), size <= 16 << 20,
                  let data = try? Data(contentsOf: file), let envelope = try? Envelope.decode(data) else {
                return RunAttestation(stage: stage, file: file.path, predicateType: "", subjects: [], keyID: "",
                                      verified: false, problem: "not a DSSE envelope")
            }
            let statement = (try? envelope.payloadBytes()).flatMap { try? JSONDecoder().decode(AnyStatement.self, from: $0) }
            let subjects = statement?.subject.map(\.summary) ?? []
            var verified: Bool?, problem: String?
            if let key {
                do {
                    _ = try AttestationVerifier.verify(data, with: key)
                    verified = true
                } catch let error as AttestationError {
                    verified = false
                    problem = error.message
                } catch {
                    verified = false
                    problem = "\(error)"
                }
            }
            return RunAttestation(stage: stage, file: file.path, predicateType: statement?.predicateType ?? "", subjects: subjects,
                                  keyID: envelope.signatures.first?.keyid ?? "", verified: verified, problem: problem)
        }
    }
}
