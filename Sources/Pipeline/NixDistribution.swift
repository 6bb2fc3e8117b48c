import Foundation
import Yams

/// `nix.builders`, `nix.max-jobs`, `nix.substituters` and `nix.trusted-public-keys`: where a
/// pipeline's derivations may be built and where finished paths may be fetched from.
public struct NixDistribution: Sendable, Hashable {
    /// `builders:` remote machines nix may build on, in file order.
    public var builders: [NixBuilder]
    /// `max-jobs:` how many builds nix runs on this machine at once; 0 means never build locally.
    public var maxJobs: Int?
    /// `substituters:` binary caches added to the machine's own (`extra-substituters`).
    public var substituters: [String]
    /// `trusted-public-keys:` keys whose signatures those caches' paths may carry
    /// (`extra-trusted-public-keys`), each `NAME:BASE64`.
    public var trustedPublicKeys: [String]

    /// Nothing distributed: nix's own settings apply.
    public init(builders: [NixBuilder] = [], maxJobs: Int? = nil, substituters: [String] = [],
                trustedPublicKeys: [String] = []) {
        self.builders = builders
        self.maxJobs = maxJobs
        self.substituters = substituters
        self.trustedPublicKeys = trustedPublicKeys
    }

    /// The settings as nix options, in the order nix is given them: `builders` (machines joined
    /// by `;`), `max-jobs`, `extra-substituters`, `extra-trusted-public-keys`. Empty fields give
    /// no option, so a definition without them leaves nix's configuration alone.
    public var options: [NixOptionSpec] {
        var options: [NixOptionSpec] = []
        if !builders.isEmpty {
            options.append(NixOptionSpec(name: "builders", value: builders.map(\.machineLine).joined(separator: " ; ")))
        }
        if let maxJobs { options.append(NixOptionSpec(name: "max-jobs", value: String(maxJobs))) }
        if !substituters.isEmpty {
            options.append(NixOptionSpec(name: "extra-substituters", value: substituters.joined(separator: " ")))
        }
        if !trustedPublicKeys.isEmpty {
            options.append(NixOptionSpec(name: "extra-trusted-public-keys", value: trustedPublicKeys.joined(separator: " ")))
        }
        return options
    }
}

/// One remote builder: a line of nix's machine format (`man nix.conf`, "builders"), which is
/// how the definition writes it — one string per machine, eight fields separated by spaces,
/// `-` for a field left at its default:
///
///     URI SYSTEMS SSH-KEY MAX-JOBS SPEED-FACTOR SUPPORTED-FEATURES MANDATORY-FEATURES HOST-KEY
///     ssh-ng://builder@10.0.0.2 x86_64-linux /root/.ssh/builder 4 2 kvm,big-parallel - c3NoLW…
///
/// Only the URI is required. The SSH key is read by whoever opens the connection: with
/// `NIX_REMOTE=daemon` that is nix-daemon, as root.
public struct NixBuilder: Sendable, Hashable {
    /// `ssh://…` or `ssh-ng://…`.
    public let uri: String
    /// The systems it builds for, e.g. `x86_64-linux`; empty means this machine's.
    public let systems: [String]
    /// The private key ssh uses, an absolute path; nil means ssh's default.
    public let sshKey: String?
    /// How many builds it runs at once (at least 1).
    public let maxJobs: Int
    /// How much faster than the others it is (at least 1); nix prefers faster machines.
    public let speedFactor: Int
    /// Features it supports (e.g. `kvm`, `big-parallel`).
    public let supportedFeatures: [String]
    /// Features a derivation must ask for to be built there.
    public let mandatoryFeatures: [String]
    /// Its ssh host key, base64-encoded as nix wants it (`base64 -w0 < ssh_host_ed25519_key.pub`);
    /// nil means ssh checks `known_hosts` of the user opening the connection.
    public let publicHostKey: String?
    /// Where the entry is written.
    public let position: SourcePosition

    /// The URI schemes nix 2.8 can build on.
    public static let schemes = ["ssh", "ssh-ng"]

    /// The entry as one line of nix's machine format, every field written out.
    public var machineLine: String {
        func list(_ items: [String]) -> String { items.isEmpty ? "-" : items.joined(separator: ",") }
        return [uri, list(systems), sshKey ?? "-", String(maxJobs), String(speedFactor), list(supportedFeatures),
                list(mandatoryFeatures), publicHostKey ?? "-"].joined(separator: " ")
    }

    /// The URI as a store URI for `nix store ping --store`: the key and host key become the
    /// `ssh-key` and `base64-ssh-public-host-key` parameters, as nix itself does for a build.
    public var storeURI: String {
        var parameters: [String] = []
        if let sshKey { parameters.append("ssh-key=\(sshKey)") }
        if let publicHostKey { parameters.append("base64-ssh-public-host-key=\(publicHostKey)") }
        return parameters.isEmpty ? uri : uri + "?" + parameters.joined(separator: "&")
    }

    /// Reads one machine line.
    /// - Throws: ``NixBuilderError`` with every problem found, each naming its field.
    public static func parse(_ text: String, at position: SourcePosition) throws(NixBuilderError) -> NixBuilder {
        if text.contains(";") || text.contains("\n") {
            throw NixBuilderError(problems: ["holds more than one machine; write one machine per list item"])
        }
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let uri = fields.first else {
            throw NixBuilderError(problems: ["is empty; write at least the machine's URI, e.g. 'ssh-ng://builder@10.0.0.2'"])
        }
        var problems: [String] = []
        if fields.count > 8 {
            problems.append("has \(fields.count) fields; nix's machine format has 8 (URI, systems, ssh key, max jobs, "
                + "speed factor, supported features, mandatory features, host key)")
        }
        func field(_ index: Int) -> String? {
            index < fields.count && fields[index] != "-" ? fields[index] : nil
        }
        problems += uriProblems(uri)
        let systems = field(1).map { $0.split(separator: ",").map(String.init) } ?? []
        for system in systems where !isSystem(system) {
            problems.append("its system '\(system)' (field 2) is not a nix system such as x86_64-linux or aarch64-linux")
        }
        let sshKey = field(2)
        if let sshKey, !sshKey.hasPrefix("/") {
            problems.append("its ssh key '\(sshKey)' (field 3) must be an absolute path: nix-daemon, not you, opens it")
        }
        func count(_ index: Int, _ name: String) -> Int {
            guard let text = field(index) else { return 1 }
            guard let number = Int(text), number >= 1 else {
                problems.append("its \(name) (field \(index + 1)) must be a whole number of at least 1, not '\(text)'")
                return 1
            }
            return number
        }
        let maxJobs = count(3, "max jobs")
        let speedFactor = count(4, "speed factor")
        let supported = field(5).map { $0.split(separator: ",").map(String.init) } ?? []
        let mandatory = field(6).map { $0.split(separator: ",").map(String.init) } ?? []
        let hostKey = field(7)
        if let hostKey {
            let decoded = Data(base64Encoded: hostKey).map { String(decoding: $0, as: UTF8.self) }
            if decoded == nil || !(decoded!.hasPrefix("ssh-") || decoded!.hasPrefix("ecdsa-")) {
                problems.append("its host key (field 8) is not a base64-encoded ssh public key; "
                    + "write the output of 'base64 -w0 < /etc/ssh/ssh_host_ed25519_key.pub' of the builder")
            }
        }
        guard problems.isEmpty else { throw NixBuilderError(problems: problems) }
        return NixBuilder(uri: uri, systems: systems, sshKey: sshKey, maxJobs: maxJobs, speedFactor: speedFactor,
                          supportedFeatures: supported, mandatoryFeatures: mandatory, publicHostKey: hostKey,
                          position: position)
    }

    private static func uriProblems(_ uri: String) -> [String] {
        guard let separator = uri.range(of: "://") else {
            return ["its URI '\(uri)' has no scheme; write ssh-ng://\(uri) (or ssh://\(uri))"]
        }
        let scheme = String(uri[..<separator.lowerBound])
        guard schemes.contains(scheme) else {
            return ["its URI '\(uri)' has the scheme '\(scheme)'; nix builds remotely over "
                + schemes.map { "'\($0)://'" }.joined(separator: " or ")]
        }
        let authority = uri[separator.upperBound...]
        let host = authority.split(separator: "@", omittingEmptySubsequences: false).last ?? ""
        if host.isEmpty || authority.contains("?") || authority.contains("/") {
            return ["its URI '\(uri)' must be \(scheme)://[USER@]HOST, with no path or parameters "
                + "(the key and host key are fields 3 and 8)"]
        }
        return []
    }

    private static func isSystem(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        return parts.count == 2 && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" } }
    }
}

/// Why a machine line of `nix.builders` was refused.
public struct NixBuilderError: Error, Sendable, CustomStringConvertible {
    /// Every problem found, each a sentence about the entry that names the field, e.g. "its max
    /// jobs (field 4) must be a whole number of at least 1, not 'four'".
    public let problems: [String]

    public var description: String { "the builder " + problems.joined(separator: "; ") }
}

/// `cache.nix-push` and `cache.nix-push-key`: after a nix-build stage passes, its closure is
/// copied to this binary cache, signed with this key, while the run goes on.
public struct NixPushSpec: Sendable, Hashable {
    /// The binary cache, `file:///…` or `ssh://…`.
    public let uri: String
    /// The secret key file (`nix key generate-secret`), an absolute path.
    public let secretKeyFile: String
    /// Where `nix-push` is written.
    public let position: SourcePosition

    /// The URI schemes a push may name.
    public static let schemes = ["file", "ssh", "ssh-ng"]

    /// Creates a push target; the loader checks the fields.
    public init(uri: String, secretKeyFile: String, position: SourcePosition) {
        self.uri = uri
        self.secretKeyFile = secretKeyFile
        self.position = position
    }

    /// The store URI `nix copy --to` gets: the URI with `secret-key=FILE` added.
    public var destination: String {
        uri + (uri.contains("?") ? "&" : "?") + "secret-key=" + secretKeyFile
    }
}

extension PipelineLoader {
    /// Reads `nix.builders`, `nix.max-jobs`, `nix.substituters` and `nix.trusted-public-keys`,
    /// reporting every problem at its item.
    static func readDistribution(_ nix: MappingReader) -> NixDistribution {
        let reader = nix.reader
        var distribution = NixDistribution()
        if let node = nix.value("builders") {
            let path = nix.fieldPath("builders")
            if case .sequence(let sequence) = node {
                for (index, item) in sequence.enumerated() {
                    guard let text = reader.string(item, path: "\(path)[\(index)]") else { continue }
                    do {
                        distribution.builders.append(try NixBuilder.parse(text, at: reader.position(of: item)))
                    } catch {
                        error.problems.forEach { reader.report(item, "'\(path)[\(index)]' \($0)") }
                    }
                }
            } else {
                reader.report(node, "'\(path)' must be a list of machines, one string each in nix's machine format "
                    + "('ssh-ng://HOST SYSTEMS KEY MAX-JOBS SPEED-FACTOR FEATURES MANDATORY-FEATURES HOST-KEY'), not \(node.kindDescription)")
            }
        }
        distribution.maxJobs = nix.int("max-jobs", in: 0...1024)
        distribution.substituters = checkedItems(nix, "substituters") { uri in
            uri.contains("://") && !uri.contains(" ") ? nil
                : "is not a binary cache URI; write e.g. file:///srv/nix-cache or https://cache.example.org"
        }
        distribution.trustedPublicKeys = checkedItems(nix, "trusted-public-keys") { key in
            let parts = key.split(separator: ":", maxSplits: 1)
            let ok = parts.count == 2 && !parts[0].isEmpty && Data(base64Encoded: String(parts[1]))?.count == 32
            return ok ? nil : "is not a nix public key; write NAME:BASE64 as 'nix key convert-secret-to-public' prints it"
        }
        return distribution
    }

    /// The strings of the list `key`, each checked by `problem` (nil when fine); bad ones are
    /// reported at their item and left out.
    private static func checkedItems(_ block: MappingReader, _ key: String, problem: (String) -> String?) -> [String] {
        guard let items = block.stringList(key), case .sequence(let nodes)? = block.value(key) else { return [] }
        var good: [String] = []
        for (index, item) in items.enumerated() {
            if let message = problem(item) {
                block.reader.report(index < nodes.count ? nodes[index] : nil, "'\(block.fieldPath(key))[\(index)]' '\(item)' \(message)")
            } else {
                good.append(item)
            }
        }
        return good
    }

    /// Reads `cache.nix-push` and `cache.nix-push-key`, which go together.
    static func readNixPush(_ block: MappingReader) -> NixPushSpec? {
        let uri = block.string("nix-push")
        let key = block.string("nix-push-key")
        if block.has("nix-push") != block.has("nix-push-key") {
            let (given, missing) = block.has("nix-push") ? ("nix-push", "nix-push-key") : ("nix-push-key", "nix-push")
            block.reader.report(block.keyNode(given), "'\(block.fieldPath(given))' needs '\(missing)' beside it: "
                + "a push names the binary cache (nix-push) and the secret key that signs what is pushed (nix-push-key)")
            return nil
        }
        guard let uri, let key else { return nil }
        var fine = true
        let scheme = uri.range(of: "://").map { String(uri[..<$0.lowerBound]) }
        if scheme == nil || !NixPushSpec.schemes.contains(scheme!) {
            block.reader.report(block.value("nix-push"), "'\(block.fieldPath("nix-push"))' '\(uri)' must be a binary cache "
                + "URI with the scheme file:// (a shared folder, e.g. file:///srv/nix-cache), ssh:// or ssh-ng://")
            fine = false
        } else if scheme == "file", !uri.hasPrefix("file:///") {
            block.reader.report(block.value("nix-push"), "'\(block.fieldPath("nix-push"))' '\(uri)' must name an absolute folder: file:///PATH")
            fine = false
        }
        if !key.hasPrefix("/") {
            block.reader.report(block.value("nix-push-key"), "'\(block.fieldPath("nix-push-key"))' '\(key)' must be an absolute path "
                + "to a secret key made by 'nix key generate-secret'")
            fine = false
        }
        return fine ? NixPushSpec(uri: uri, secretKeyFile: key, position: block.reader.position(of: block.value("nix-push"))) : nil
    }
}
