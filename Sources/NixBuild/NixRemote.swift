import Foundation
import Subprocess

/// What ``Nix/copy(closureOf:to:)`` copied.
public struct NixCopyResult: Sendable, Hashable {
    /// How many store paths the closure holds.
    public let paths: Int
    /// Their NAR size, summed: what a cache holds once they are all there (compressed, less).
    public let bytes: Int64

    /// Creates a result; normally made by ``Nix/copy(closureOf:to:)``.
    public init(paths: Int, bytes: Int64) {
        self.paths = paths
        self.bytes = bytes
    }
}

/// Remote builders and binary caches: `nix store ping --store`, `nix copy`, and reading nix's
/// log lines that say where a derivation was built and where a path came from.
extension Nix {
    /// How long ssh may take to connect when ``pingStore(uri:connectTimeout:)`` asks a remote
    /// store or ``copy(closureOf:to:)`` pushes over ssh. ssh's own default is the kernel's TCP
    /// timeout (about two minutes).
    public static let defaultConnectTimeout = 10

    /// Asks the store at `uri` (e.g. `ssh-ng://builder@host?ssh-key=/k`) whether it answers:
    /// `nix store ping --store URI`, with `NIX_SSHOPTS` adding `-o ConnectTimeout=N -o
    /// BatchMode=yes` (no password prompt can hang it).
    /// - Returns: the store's URL as nix names it.
    /// - Throws: ``NixError`` `.builderUnreachable` with nix's own reason when it does not answer,
    ///   `.nixMissing`, or `.cancelled`.
    public func pingStore(uri: String, connectTimeout: Int = defaultConnectTimeout) async throws -> String {
        let outcome = try await boundingSSH(connectTimeout: connectTimeout)
            .execute(["store", "ping", "--store", uri] + commonFlags, workingDirectory: nil)
        guard outcome.status.isSuccess else {
            let cause = Self.lastErrorLine(in: outcome.logTail) ?? outcome.logTail.last ?? "no error line in its log"
            throw NixError(
                code: .builderUnreachable,
                message: "the store \(Self.redacted(uri)) does not answer: \(cause). Check that the machine is up, "
                    + "that sshd runs there and lets this key in, and that nix is on its PATH.",
                exitCode: outcome.exitCode,
                logTail: outcome.logTail,
                command: outcome.command
            )
        }
        let lines = outcome.logTail + String(decoding: outcome.standardOutput, as: UTF8.self).split(separator: "\n").map(String.init)
        let prefix = "Store URL: "
        return lines.first { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) } ?? uri
    }

    /// Copies `path` and everything it refers to into the binary cache `destination` (a store
    /// URI such as `file:///srv/nix-cache?secret-key=/etc/nix/cache.sec`): `nix copy --to
    /// DESTINATION PATH`, then `nix path-info --json -r PATH` for what the closure holds.
    /// Cancelling the calling task stops nix, as for a build.
    /// - Throws: ``NixError`` `.pushFailed` with nix's reason, `.nixMissing`, or `.cancelled`.
    public func copy(closureOf path: String, to destination: String) async throws -> NixCopyResult {
        let outcome = try await boundingSSH(connectTimeout: Self.defaultConnectTimeout)
            .execute(["copy", "--to", destination, path] + commonFlags, workingDirectory: nil)
        guard outcome.status.isSuccess else {
            let cause = Self.lastErrorLine(in: outcome.logTail) ?? "no error line in its log"
            throw NixError(code: .pushFailed,
                           message: "nix could not copy \(path) to \(Self.redacted(destination)): \(cause)",
                           exitCode: outcome.exitCode, logTail: outcome.logTail, command: outcome.command)
        }
        struct Entry: Decodable { let narSize: Int64? }
        let info = try await execute(["path-info", "--json", "-r", path] + commonFlags, workingDirectory: nil)
        let entries = info.status.isSuccess
            ? (try? JSONDecoder().decode([Entry].self, from: Data(info.standardOutput))) ?? [] : []
        return NixCopyResult(paths: entries.count, bytes: entries.reduce(0) { $0 + ($1.narSize ?? 0) })
    }

    /// This nix with `NIX_SSHOPTS` adding `-o ConnectTimeout=N -o BatchMode=yes` to what it
    /// was: for the ssh connections nix opens itself (`--store ssh://…`, `nix copy --to ssh://…`),
    /// so that a host that drops packets, or a key that would need a passphrase, fails in
    /// seconds instead of waiting for the kernel's TCP timeout or a prompt nobody answers.
    func boundingSSH(connectTimeout: Int) -> Nix {
        let sshOptions = [environment["NIX_SSHOPTS"] ?? ProcessInfo.processInfo.environment["NIX_SSHOPTS"],
                          "-o ConnectTimeout=\(connectTimeout) -o BatchMode=yes"].compactMap { $0 }.joined(separator: " ")
        return Nix(executable: executable, options: options, environment: environment.merging(["NIX_SSHOPTS": sshOptions]) { $1 },
                   terminationGracePeriod: terminationGracePeriod)
    }

    /// The derivation and machine of a remote build, from nix's line "building '/nix/store/…drv'
    /// on 'ssh-ng://…'..."; nil for any other line (a local build's has no "on").
    public static func remoteBuild(in line: String) -> (derivation: String, machine: String)? {
        quotedPair(in: line, prefix: "building '", separator: "' on '")
    }

    /// The path and cache of a substitution, from nix's line "copying path '/nix/store/…' from
    /// 'file:///…'..."; nil for any other line.
    public static func substitution(in line: String) -> (path: String, cache: String)? {
        quotedPair(in: line, prefix: "copying path '", separator: "' from '")
    }

    private static func quotedPair(in line: String, prefix: String, separator: String) -> (String, String)? {
        guard let start = line.range(of: prefix), let middle = line.range(of: separator, range: start.upperBound..<line.endIndex),
              let end = line[middle.upperBound...].firstIndex(of: "'") else { return nil }
        return (String(line[start.upperBound..<middle.lowerBound]), String(line[middle.upperBound..<end]))
    }

    /// A store URI without its query: the `secret-key=` or `ssh-key=` paths are not secrets, but
    /// a base64 host key makes messages unreadable.
    static func redacted(_ uri: String) -> String {
        uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? uri
    }
}

extension Nix {
    /// The text nix prints when it may not build locally (`max-jobs` 0) and has no machine to
    /// build on: also what an untrusted user sees when nix-daemon ignored its `builders`.
    static let noBuilderText = "unable to start any build; either increase '--max-jobs' or enable remote builds"

    /// `.builderUnreachable` when a failed build's log says a remote builder could not be used
    /// ("cannot build on 'URI': …") or that no machine could take the build; nil otherwise.
    func builderFailure(of outcome: NixRunOutcome, what: String) -> NixError? {
        if let line = outcome.logTail.first(where: { $0.hasPrefix("cannot build on '") }) {
            let machine = line.dropFirst("cannot build on '".count).prefix { $0 != "'" }
            let reason = line.range(of: "': ").map { String(line[$0.upperBound...]) } ?? line
            return NixError(
                code: .builderUnreachable,
                message: "nix could not use the builder \(machine) while \(what): \(reason). Check the machine "
                    + "(sutradhar doctor pings every builder of a pipeline), or let nix build here (max-jobs above 0).",
                exitCode: outcome.exitCode, logTail: outcome.logTail, command: outcome.command)
        }
        if outcome.logTail.contains(where: { $0.contains(Self.noBuilderText) }), options.contains(where: { $0.name == "builders" }) {
            return NixError(
                code: .builderUnreachable,
                message: "nix had no machine to build on while \(what): max-jobs is 0 and nix-daemon used none of the "
                    + "builders. nix-daemon takes 'builders' only from trusted users: add this user to trusted-users in "
                    + "nix.conf (SUTRADHAR_NIX_TRUSTED=1 scripts/setup.sh does) or list the builders in nix.conf itself.",
                exitCode: outcome.exitCode, logTail: outcome.logTail, command: outcome.command)
        }
        return nil
    }
}
