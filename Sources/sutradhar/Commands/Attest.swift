import ArgumentParser
import Foundation
import SutradharKit

/// `sutradhar attest …`: the signing key, offline verification, a run's attestations.
struct Attest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attest",
        abstract: "Print the signing key, verify an attestation, or list a run's attestations.",
        discussion: "See docs/attestations.md for what is attested and how a deploy step verifies an image.",
        subcommands: [PublicKey.self, Verify.self, Show.self])

    struct PublicKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "public-key",
            abstract: "Print the public key attestations are signed with (PEM) and its key ID; makes the key on first use.")

        @Option(name: .customLong("signing-key"), help: ArgumentHelp("The Ed25519 private key (PKCS#8 PEM, mode 0600). Default: $XDG_CONFIG_HOME/sutradhar/signing-key.pem, generated on first use.", valueName: "FILE"))
        var signingKey: String?

        func run() async throws {
            let key = try Attest.call { try AttestationTools.publicKey(signingKey: signingKey.map { URL(fileURLWithPath: $0) }) }
            print(key.pem, terminator: "")
            print("key id: \(key.keyID)")
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Check an attestation's signature and statement, and with --image that the daemon's image is its subject.",
            discussion: "Exits 0 only when everything checked holds; otherwise 1 with the reason.")

        @Argument(help: "The envelope (a run's attestations/STAGE.provenance.json or STAGE.test-result.json), or a bundle of them, one a line (IMAGE.intoto.jsonl beside a binary cache).")
        var file: String

        @Option(help: ArgumentHelp("The signer's public key, PEM (what 'sutradhar attest public-key' prints).", valueName: "PUB.pem"))
        var key: String

        @Option(help: ArgumentHelp("Also check that this image in the daemon has the subject's digest.", valueName: "REF"))
        var image: String?

        @OptionGroup var dockerOptions: DockerOptions

        func run() async throws {
            var options = RunOptions(cacheRoot: URL(fileURLWithPath: "/"))
            options.dockerHost = dockerOptions.dockerHost
            let checks: [AttestationCheck]
            do {
                checks = try await AttestationTools.verify(file: URL(fileURLWithPath: file), publicKey: URL(fileURLWithPath: key),
                                                          image: image, options: options)
            } catch let error as AttestationError {
                throw CommandFailure(Exit.stageFailed, "\(file): not verified: \(error.message)")
            } catch {
                throw CommandFailure(Exit.environmentProblem, "\(file): cannot check the image: \(error)")
            }
            for check in checks {
                print("verified: \(check.predicateType), signed by \(check.keyID)")
                for subject in check.subjects { print("  subject \(TextPolicy.terminal(subject, keepingNewlines: false))") }
                if let image = check.image { print("  image \(image.reference) in the daemon is \(image.id): a subject") }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "List a run's attestations, each checked with this machine's key.")

        @Argument(help: "The run's ID (or a unique prefix).") var id: String
        @Flag(help: "One JSON object per attestation.") var json = false
        @OptionGroup var cacheOptions: CacheOptions

        func run() async throws {
            let history = try cacheOptions.openHistory()
            let details = try Runs.find(id, in: history)
            let attestations = history.attestations(ofRun: details.record.id, verifyingWith: AttestationTools.localVerifyingKey())
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                for attestation in attestations { print(String(decoding: try encoder.encode(attestation), as: UTF8.self)) }
                return
            }
            if attestations.isEmpty { print("run \(details.record.id) wrote no attestations") }
            for attestation in attestations { Attest.render(attestation) }
        }
    }

    /// An attestation as `runs show` and `attest show` print it.
    static func render(_ attestation: RunAttestation, indent: String = "") {
        let safe = { (text: String) in TextPolicy.terminal(text, keepingNewlines: false) }
        Swift.print("\(indent)\(safe(attestation.stage)): \(attestation.predicateType.split(separator: "/").suffix(2).joined(separator: "/")) — \(safe(attestation.verdictText))")
        Swift.print("\(indent)  \(safe(attestation.file))")
        for subject in attestation.subjects { Swift.print("\(indent)  subject \(safe(subject))") }
    }

    /// A key that cannot be read or made: exit 3 (the machine), saying why.
    static func call<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as AttestationError {
            throw CommandFailure(Exit.environmentProblem, error.message)
        }
    }
}
