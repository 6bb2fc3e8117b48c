/// The SLSA provenance v1 predicate: how an artefact was built, by whom, from what.
/// <https://slsa.dev/spec/v1.0/provenance>
public struct Provenance: Codable, Sendable {
    /// The predicate type of SLSA provenance v1.
    public static let predicateType = "https://slsa.dev/provenance/v1"
    /// Sutradhar's build type: a stage of a Sutradhar pipeline run on one machine, whose
    /// external parameters are the pipeline, its definition's digest, the stage and the stage's
    /// own settings (docs/attestations.md says what each means).
    public static let buildType = "https://sutradhar.dev/attestations/stage-build/v1"

    /// What was asked for and what it depended on.
    public let buildDefinition: BuildDefinition
    /// Who ran it, as which invocation, when.
    public let runDetails: RunDetails

    /// Creates a predicate.
    public init(buildDefinition: BuildDefinition, runDetails: RunDetails) {
        self.buildDefinition = buildDefinition
        self.runDetails = runDetails
    }

    /// The inputs of a build.
    public struct BuildDefinition: Codable, Sendable {
        /// The URI of the template the other fields follow (`Provenance.buildType`).
        public let buildType: String
        /// What the person or agent who started the run chose: never secret values.
        public let externalParameters: [String: AttestedValue]
        /// What the builder chose itself (policy switches), if anything.
        public let internalParameters: [String: AttestedValue]?
        /// Everything the build read: the repository at its commit, flake inputs, the derivation,
        /// base images.
        public let resolvedDependencies: [ResourceDescriptor]

        /// Creates a build definition of `Provenance.buildType`.
        public init(externalParameters: [String: AttestedValue], internalParameters: [String: AttestedValue]? = nil,
                    resolvedDependencies: [ResourceDescriptor]) {
            buildType = Provenance.buildType
            self.externalParameters = externalParameters
            self.internalParameters = internalParameters
            self.resolvedDependencies = resolvedDependencies
        }
    }

    /// Where and when the build ran.
    public struct RunDetails: Codable, Sendable {
        /// The builder.
        public let builder: Builder
        /// The invocation.
        public let metadata: Metadata
        /// What the build produced besides the subject (the SBOM).
        public let byproducts: [ResourceDescriptor]?

        /// Creates run details.
        public init(builder: Builder, metadata: Metadata, byproducts: [ResourceDescriptor]? = nil) {
            self.builder = builder
            self.metadata = metadata
            self.byproducts = byproducts
        }
    }

    /// The builder: Sutradhar on one host.
    public struct Builder: Codable, Sendable {
        /// `https://sutradhar.dev/builder/HOST`: the trust boundary is the machine.
        public let id: String
        /// Versions of the builder's parts (`sutradhar`, `nix`, `docker`).
        public let version: [String: String]?

        /// Creates a builder.
        public init(id: String, version: [String: String]? = nil) {
            self.id = id
            self.version = version
        }
    }

    /// The invocation: Sutradhar's run ID and the stage's start and end (RFC 3339, UTC).
    public struct Metadata: Codable, Sendable {
        /// The run ID.
        public let invocationId: String
        /// When the stage started.
        public let startedOn: String?
        /// When the stage finished.
        public let finishedOn: String?

        /// Creates metadata.
        public init(invocationId: String, startedOn: String?, finishedOn: String?) {
            self.invocationId = invocationId
            self.startedOn = startedOn
            self.finishedOn = finishedOn
        }
    }
}

/// The in-toto test-result predicate: a smoke stage's verdict, the probes and the policy it ran under.
/// <https://github.com/in-toto/attestation/blob/main/spec/predicates/test-result.md>
public struct TestResult: Codable, Sendable {
    /// The predicate type of a test result v0.1.
    public static let predicateType = "https://in-toto.io/attestation/test-result/v0.1"

    /// `PASSED`, `WARNED` or `FAILED`.
    public let result: String
    /// The configuration the tests ran with (the probe and the container policy), by digest.
    public let configuration: [ResourceDescriptor]
    /// Where more can be read (the run's log), if anywhere.
    public let url: String?
    /// The probes that passed.
    public let passedTests: [String]?
    /// The probes that warned.
    public let warnedTests: [String]?
    /// The probes that failed.
    public let failedTests: [String]?

    /// Creates a verdict.
    public init(result: String, configuration: [ResourceDescriptor], url: String? = nil,
                passedTests: [String], warnedTests: [String] = [], failedTests: [String] = []) {
        self.result = result
        self.configuration = configuration
        self.url = url
        self.passedTests = passedTests
        self.warnedTests = warnedTests
        self.failedTests = failedTests
    }
}
