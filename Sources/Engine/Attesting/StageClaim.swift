import Attestation
import Foundation

/// What a passed stage claims about what it made or tested, for the engine to sign: the executor
/// knows its subject and inputs (and which of its settings are secret); the engine adds the run,
/// the source and the builder, signs, and stores the envelope.
public struct StageClaim: Sendable {
    /// What kind of statement the claim becomes.
    public enum Verdict: Sendable {
        /// SLSA provenance of an image the stage put in the daemon.
        case built
        /// A test result (in-toto test-result predicate) of the image the stage ran.
        case tested(result: String, passed: [String], failed: [String], configuration: [ResourceDescriptor])
    }

    /// The cache entry's kind whose result this claim is about: the envelope is kept with it.
    public let cacheKind: String
    /// The cache entry's key (hex): a cached rerun finds the envelope under it, and gc removes
    /// the envelope with the entry.
    public let identity: String
    /// What is attested: the image, by the ID the daemon reports.
    public let subjects: [ResourceDescriptor]
    /// The stage's own settings, as the statement's external parameters (no secret values).
    public let parameters: [String: AttestedValue]
    /// What the stage read beyond the source (derivation, base images, build context).
    public let dependencies: [ResourceDescriptor]
    /// A nix store path the image came from: it becomes a subject with its NAR hash, and its
    /// runtime closure the SBOM.
    public let storePath: String?
    /// Provenance or test result.
    public let verdict: Verdict
    /// Whether the envelope is kept with the cache entry (and reused by cached reruns); a claim
    /// about a result that is never cached (a failed verdict) lives in its run's folder only.
    public let kept: Bool

    /// Creates a claim.
    public init(cacheKind: String, identity: String, subjects: [ResourceDescriptor], parameters: [String: AttestedValue],
                dependencies: [ResourceDescriptor] = [], storePath: String? = nil, verdict: Verdict, kept: Bool = true) {
        self.cacheKind = cacheKind
        self.identity = identity
        self.subjects = subjects
        self.parameters = parameters
        self.dependencies = dependencies
        self.storePath = storePath
        self.verdict = verdict
        self.kept = kept
    }

    /// The subject of a Docker image: its first tag (or ID) as name, the ID as digest.
    public static func image(_ id: String, tags: [String]) -> ResourceDescriptor {
        ResourceDescriptor(name: tags.first ?? id, digest: ResourceDescriptor.digest(fromPrefixed: id),
                           annotations: tags.count > 1 ? ["tags": .array(tags.map(AttestedValue.string))] : nil)
    }
}
