import Foundation
import Insights
import RunEvents
import RunHistory
import Verification

/// One run with everything a caller asks about it (MCP `get_run`): the run as listed, its stages,
/// its summary, what its reproducibility checks found, and its attestations, each checked with
/// this machine's key so that a caller reads "verified" without a second call.
public struct RunReport: Encodable, Sendable {
    /// A stage as the report lists it.
    public struct Stage: Encodable, Sendable {
        public let name: String
        public let kind: String
        public let status: String
        public let cached: Bool
        public let durationMilliseconds: Int64
        public let error: String?

        private enum CodingKeys: String, CodingKey {
            case name, kind, status, cached, error
            case durationMilliseconds = "duration_ms"
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(kind, forKey: .kind)
            try container.encode(status, forKey: .status)
            try container.encode(cached, forKey: .cached)
            try container.encode(durationMilliseconds, forKey: .durationMilliseconds)
            try container.encode(error, forKey: .error)
        }
    }

    /// An attestation as the report lists it (snake_case keys, null when unknown).
    public struct Attestation: Encodable, Sendable {
        public let stage: String
        public let file: String
        public let predicateType: String
        public let subjects: [String]
        public let keyID: String
        public let verified: Bool?
        public let problem: String?

        private enum CodingKeys: String, CodingKey {
            case stage, file, subjects, verified, problem
            case predicateType = "predicate_type"
            case keyID = "key_id"
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(stage, forKey: .stage)
            try container.encode(file, forKey: .file)
            try container.encode(predicateType, forKey: .predicateType)
            try container.encode(subjects, forKey: .subjects)
            try container.encode(keyID, forKey: .keyID)
            try container.encode(verified, forKey: .verified)
            try container.encode(problem, forKey: .problem)
        }
    }

    public let listing: RunListing
    public let stages: [Stage]
    /// The summary as recorded (the `run-finished` event's JSON); nil until the run finished.
    public let summary: JSONValue?
    /// What the run's reproducibility checks found; nil when it checked none.
    public let findings: ReproducibilityFindings?
    public let attestations: [RunAttestation]

    /// The report of `details`, reading its attestations from `history`.
    public init(_ details: RunDetails, in history: RunHistory) {
        listing = details.record.listing
        stages = details.stages.map {
            Stage(name: $0.name, kind: $0.kind, status: $0.status, cached: $0.cached, durationMilliseconds: $0.durationMilliseconds, error: $0.error)
        }
        // The summary was written by this program; a line that does not parse is left out.
        summary = details.record.summary.flatMap { try? JSONValue(parsing: $0) }
        findings = details.summary.flatMap(ReproducibilityFindings.init(summary:))
        attestations = history.attestations(ofRun: details.record.id, verifyingWith: AttestationTools.localVerifyingKey())
    }

    private enum CodingKeys: String, CodingKey { case stages, summary, reproducibility, attestations }

    /// The listing's keys, then `stages`, `summary` and `reproducibility` when there are any, and
    /// `attestations`.
    public func encode(to encoder: any Encoder) throws {
        try listing.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(stages, forKey: .stages)
        try container.encodeIfPresent(summary, forKey: .summary)
        try container.encodeIfPresent(findings?.json, forKey: .reproducibility)
        try container.encode(attestations.map {
            Attestation(stage: $0.stage, file: $0.file, predicateType: $0.predicateType, subjects: $0.subjects, keyID: $0.keyID,
                        verified: $0.verified, problem: $0.problem)
        }, forKey: .attestations)
    }
}
