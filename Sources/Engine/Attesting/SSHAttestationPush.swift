import Attestation
import Foundation
import NixBuild
import Subprocess

/// The push of a bundle to a folder on an `ssh://` or `ssh-ng://` cache's host: one `ssh`
/// connection made as `nix copy` makes it (the URI's user and host, its `ssh-key=` and
/// `base64-ssh-public-host-key=` parameters, then `NIX_SSHOPTS`, where a port goes), running a
/// POSIX shell script there that merges the envelope into `HEX.intoto.jsonl` and puts the SBOM
/// beside it, each through a temporary file renamed into place, holding the folder's `.lock`
/// (flock, where the host has it) so two runs each add their line.
///
/// Only envelopes and SBOMs travel: the signing key is the attestor's and never reaches here.
struct SSHAttestationPush: Sendable {
    /// `[USER@]HOST`.
    let destination: String
    /// The `ssh-key=` parameter, if any.
    let identityFile: String?
    /// The decoded `base64-ssh-public-host-key=` parameter (`TYPE KEY`), if any.
    let hostKey: String?
    /// The folder on the host: absolute, or relative to the remote user's home (from `~/…`).
    let folder: String
    /// `NIX_SSHOPTS`, split on spaces as nix splits it.
    let extraOptions: [String]

    /// How long the whole push may take: connecting is bounded by ssh's `ConnectTimeout` too.
    static let deadline: Duration = .seconds(60)
    /// The envelopes a bundle keeps, as ``AttestationBundle/maximumEnvelopes``.
    static let keptEnvelopes = AttestationBundle.maximumEnvelopes

    init(uri: String, folder: String, sshOptions: String?) {
        let afterScheme = uri.range(of: "://").map { String(uri[$0.upperBound...]) } ?? uri
        let parts = afterScheme.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        destination = String(parts.first ?? "")
        var parameters: [String: String] = [:]
        for pair in (parts.count > 1 ? parts[1] : "").split(separator: "&") {
            let field = pair.split(separator: "=", maxSplits: 1)
            if field.count == 2 { parameters[String(field[0])] = String(field[1]).removingPercentEncoding ?? String(field[1]) }
        }
        identityFile = parameters["ssh-key"]
        hostKey = parameters["base64-ssh-public-host-key"].flatMap { Data(base64Encoded: $0) }
            .map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
        // The remote shell starts in the user's home: `~/x` is `x` from there.
        self.folder = folder.hasPrefix("~/") ? String(folder.dropFirst(2)) : folder
        extraOptions = (sshOptions ?? "").split(separator: " ").map(String.init)
    }

    /// What is sent: the envelope (canonical, one line) then the SBOM. Read when the stage is
    /// attested, since the files may be gone (an unkept claim's) by the time ``send`` runs.
    struct Payload: Sendable {
        let bytes: [UInt8]
        let withSBOM: Bool
        let imageHex: String
    }

    /// Reads the envelope and SBOM into a ``Payload``.
    /// - Throws: `AttestationError` `.malformedEnvelope` or `.io`.
    func payload(envelope: URL, sbom: URL?, imageHex: String) throws -> Payload {
        do {
            let line = try AttestationBundle.adding(try Data(contentsOf: envelope), to: nil)
            let sbomData = try sbom.map { try Data(contentsOf: $0) }
            return Payload(bytes: Array(line + (sbomData ?? Data())), withSBOM: sbomData != nil, imageHex: imageHex)
        } catch let error as AttestationError {
            throw error
        } catch {
            throw AttestationError(.io, "could not read what to push: \(error)")
        }
    }

    /// Sends `payload` on ssh's standard input; the script prints the folder's absolute path when
    /// all is in place. Returns where the bundle is, `[USER@]HOST:PATH`.
    /// - Throws: `AttestationError` `.io` naming the host and ssh's last error line.
    func send(_ payload: Payload) async throws -> String {
        guard !destination.isEmpty, !destination.hasPrefix("-") else {
            throw AttestationError(.io, "'\(destination)' is not a host ssh can reach")
        }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sutradhar-ssh-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        var arguments = extraOptions + ["-x", "-a", "-o", "BatchMode=yes", "-o", "ConnectTimeout=\(Nix.defaultConnectTimeout)",
                                        "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"]
        if let identityFile { arguments += ["-i", identityFile] }
        if let hostKey {
            // As nix does with the parameter: a known_hosts of that one key, checked strictly.
            try? FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
            let knownHosts = scratch.appendingPathComponent("known_hosts")
            let host = destination.split(separator: "@").last.map(String.init) ?? destination
            try? Data("\(host) \(hostKey)\n".utf8).write(to: knownHosts)
            arguments += ["-o", "UserKnownHostsFile=\(knownHosts.path)", "-o", "StrictHostKeyChecking=yes"]
        }
        arguments += [destination, Self.remoteCommand(folder: folder, imageHex: payload.imageHex, withSBOM: payload.withSBOM)]
        let outcome = try await Self.runSSH(arguments, input: payload.bytes)
        guard outcome.succeeded, let resolved = outcome.output.split(separator: "\n").last.map(String.init), resolved.hasPrefix("/") else {
            let reason = outcome.error.split(separator: "\n").last.map(String.init) ?? "ssh ended without saying why"
            throw AttestationError(.io, "could not write to \(folder) on \(destination) over ssh: \(reason)")
        }
        return "\(destination):\(resolved)/\(payload.imageHex).intoto.jsonl"
    }

    /// `sh -c SCRIPT sh FOLDER HEX SBOM`, quoted for the remote login shell (as nix, which runs
    /// `nix-store --serve` there, this expects a POSIX one).
    static func remoteCommand(folder: String, imageHex: String, withSBOM: Bool) -> String {
        ["sh", "-c", script, "sh", folder, imageHex, withSBOM ? "1" : "0"].map(shellQuoted).joined(separator: " ")
    }

    /// Reads the envelope line, then (if `$3` is 1) the SBOM to the end of input. The old bundle
    /// keeps its last lines other than the new one, which goes last: a rerun adds no line.
    static let script = """
        set -eu
        umask 022
        mkdir -p -- "$1"
        cd -- "$1"
        tmp=".$2.$$.tmp"
        trap 'rm -f -- "$tmp.jsonl" "$tmp.sbom"' EXIT
        exec 9>>.lock
        if command -v flock >/dev/null 2>&1; then flock -w 30 9; fi
        IFS= read -r line
        { if [ -f "$2.intoto.jsonl" ]; then grep -vxF -e "$line" -- "$2.intoto.jsonl" | tail -n \(keptEnvelopes - 1); fi
          printf '%s\\n' "$line"; } > "$tmp.jsonl"
        mv -f -- "$tmp.jsonl" "$2.intoto.jsonl"
        if [ "$3" = 1 ]; then cat > "$tmp.sbom"; mv -f -- "$tmp.sbom" "$2.sbom.cdx.json"; fi
        pwd -P
        """

    private static func shellQuoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    struct Outcome {
        let succeeded: Bool
        let output: String
        let error: String
    }

    /// Runs ssh in its own session, killing its process group past ``deadline``.
    private static func runSSH(_ arguments: [String], input: [UInt8]) async throws -> Outcome {
        var platformOptions = PlatformOptions()
        platformOptions.createSession = true
        platformOptions.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: .seconds(2))]
        let options = platformOptions
        return try await withThrowingTaskGroup(of: Outcome?.self) { group in
            group.addTask {
                let result = try await Subprocess.run(
                    .name("ssh"), arguments: Arguments(arguments), platformOptions: options,
                    input: .array(input), output: .string(limit: 64 * 1024), error: .string(limit: 64 * 1024))
                return Outcome(succeeded: result.terminationStatus.isSuccess, output: result.standardOutput,
                               error: result.standardError.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            group.addTask {
                try await Task.sleep(for: deadline)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let outcome = first else {
                return Outcome(succeeded: false, output: "", error: "no answer within \(deadline)")
            }
            return outcome
        }
    }
}
