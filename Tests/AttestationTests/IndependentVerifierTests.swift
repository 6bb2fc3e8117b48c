import Attestation
import Foundation
import SutradharTesting
import Testing

/// What the library writes, checked by verifiers nobody here wrote (securesystemslib,
/// in-toto-attestation, jsonschema, cyclonedx-python-lib; see Verifiers/verify_attestation.py),
/// installed by scripts/setup.sh into /opt/sutradhar-venv. Under CI=true a missing venv fails.
@Suite struct IndependentVerifierTests {
    @Test(.enabled(if: IndependentVerifier.available || TestEnvironment.isCI, "the Python verifiers are installed"))
    func provenanceTestResultAndSBOMPassTheIndependentVerifiers() async throws {
        try await GitFixtures.withTemporaryDirectory("attest-verifiers") { folder in
            let key = SigningKey.generate()
            let provenance = folder.appendingPathComponent("provenance.json")
            try CanonicalJSON.encode(Envelope.sign(EncodingTests.sampleStatement(), with: key)).write(to: provenance)
            let verdict = folder.appendingPathComponent("smoke.json")
            try CanonicalJSON.encode(Envelope.sign(Self.sampleVerdict(), with: key)).write(to: verdict)
            let sbom = folder.appendingPathComponent("sbom.json")
            try NixClosureSBOM.encode(root: "/nix/store/aaa-hello-2.12", closure: [
                StorePathInfo(path: "/nix/store/aaa-hello-2.12", narSHA256: String(repeating: "1", count: 64), narSize: 5,
                              references: ["/nix/store/bbb-glibc-2.37"], deriver: "/nix/store/ddd-hello-2.12.drv"),
                StorePathInfo(path: "/nix/store/bbb-glibc-2.37", narSHA256: String(repeating: "2", count: 64), narSize: 7,
                              references: [], deriver: nil),
            ], toolVersion: "test").write(to: sbom)
            let result = try await IndependentVerifier.run(publicKey: key.publicKey, envelopes: [provenance, verdict], sboms: [sbom], in: folder)
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("securesystemslib: \(provenance.path): signature by \(key.keyID) verifies"))
            #expect(result.output.contains("predicate parses as TestResult"))
            #expect(result.output.contains("valid CycloneDX 1.5"))
        }
    }

    @Test(.enabled(if: IndependentVerifier.available || TestEnvironment.isCI, "the Python verifiers are installed"))
    func aFlippedByteFailsTheIndependentVerifiersAndOurs() async throws {
        try await GitFixtures.withTemporaryDirectory("attest-flipped") { folder in
            let key = SigningKey.generate()
            let original = Array(try CanonicalJSON.encode(Envelope.sign(EncodingTests.sampleStatement(), with: key)))
            // Ours is tried at every byte; the Python verifiers at a spread of places (payload,
            // signature, key id, type, the JSON itself), each its own file.
            var tamperedFiles: [URL] = []
            for index in original.indices {
                var bytes = original
                bytes[index] ^= 0x01
                #expect(throws: AttestationError.self, "byte \(index) flipped") {
                    try AttestationVerifier.verify(Data(bytes), with: key.publicKey)
                }
                if index % max(1, original.count / 12) == 0 {
                    let file = folder.appendingPathComponent("flipped-\(index).json")
                    try Data(bytes).write(to: file)
                    tamperedFiles.append(file)
                }
            }
            let result = try await IndependentVerifier.run(publicKey: key.publicKey, envelopes: tamperedFiles, sboms: [], in: folder)
            #expect(result.status == 1)
            for file in tamperedFiles {
                #expect(result.output.contains("FAILED \(file.path)"), "\(file.lastPathComponent) passed: \(result.output)")
            }
        }
    }

    static func sampleVerdict() -> Statement<TestResult> {
        Statement(subject: [ResourceDescriptor(name: "hello:latest", digest: ["sha256": String(repeating: "cd", count: 32)])],
                  predicateType: TestResult.predicateType,
                  predicate: TestResult(result: "PASSED", configuration: [
                      ResourceDescriptor(name: "policy", digest: ["sha256": String(repeating: "ef", count: 32)],
                                         annotations: ["network": "none", "read_only_root": true]),
                  ], passedTests: ["probe"]))
    }
}

/// Runs Verifiers/verify_attestation.py with the venv's Python.
enum IndependentVerifier {
    static let python = (ProcessInfo.processInfo.environment["SUTRADHAR_VENV"] ?? "/opt/sutradhar-venv") + "/bin/python3"
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Verifiers/verify_attestation.py").path

    static var available: Bool { FileManager.default.isExecutableFile(atPath: python) }

    /// Writes the public key into `folder` and runs the script on the files.
    static func run(publicKey: VerifyingKey, envelopes: [URL], sboms: [URL], in folder: URL) async throws -> (status: Int32, output: String) {
        guard available else {
            Issue.record("no Python at \(python); run scripts/setup.sh (it installs securesystemslib, in-toto-attestation and cyclonedx-python-lib there)")
            return (-1, "")
        }
        let keyFile = folder.appendingPathComponent("public.pem")
        try publicKey.pem.write(to: keyFile, atomically: true, encoding: .utf8)
        var arguments = [script, keyFile.path] + envelopes.map(\.path)
        if !sboms.isEmpty { arguments += ["--sbom"] + sboms.map(\.path) }
        return try await ScriptRunner.run(python, arguments, timeout: .seconds(120))
    }
}
