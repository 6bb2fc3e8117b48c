import Foundation
import Subprocess

/// What `nix build --rebuild` found when it built an installable a second time.
public struct NixRebuildResult: Sendable, Equatable {
    /// The derivation that was rebuilt, when nix named it.
    public let drvPath: String?
    /// The output as it was already in the store.
    public let firstOutput: String
    /// The second build's output, when it differed: nix leaves it at `FIRST.check`, outside the
    /// store's database (so no GC root can hold it: see ``Nix/keep(_:as:outLink:)``). Nil when
    /// both builds were bit for bit the same.
    public let secondOutput: String?
    /// Build folders nix kept (`--keep-failed`), for the caller to remove when it may.
    public let keptBuildFolders: [String]

    /// Whether the two builds were bit for bit the same.
    public var reproducible: Bool { secondOutput == nil }

    public init(drvPath: String?, firstOutput: String, secondOutput: String?, keptBuildFolders: [String] = []) {
        self.drvPath = drvPath
        self.firstOutput = firstOutput
        self.secondOutput = secondOutput
        self.keptBuildFolders = keptBuildFolders
    }
}

extension Nix {
    /// Builds `installable` again and compares the result with the output already in the store:
    /// `nix build INSTALLABLE --rebuild --keep-failed --json --no-link -L`. The output must
    /// already be there (build it first). nix exits 0 when both builds are the same; when they
    /// differ it exits 1 saying "output 'A' differs from 'A.check'", and `--keep-failed` leaves
    /// the second output at `A.check`.
    /// - Throws: ``NixError`` `.buildFailed` when the rebuild itself failed (a builder exited
    ///   non-zero), `.storeUnreachable`, `.nixMissing`, `.cancelled`, `.unexpectedOutput`.
    public func rebuild(installable: String, workingDirectory: URL,
                        log: @escaping @Sendable (String) -> Void) async throws -> NixRebuildResult {
        let resolved = Self.resolveInstallable(installable, in: workingDirectory)
        let outcome = try await execute(
            ["build", resolved, "--rebuild", "--keep-failed", "--json", "--no-link", "-L"] + commonFlags,
            workingDirectory: workingDirectory, log: log)
        let kept = outcome.logTail.compactMap(Self.keptBuildFolder(in:))
        if outcome.status.isSuccess {
            let built = try Self.parseBuildOutput(outcome)
            guard let out = built.outputs["out"] ?? built.outputs.values.first else {
                throw NixError(code: .unexpectedOutput, message: "nix rebuilt \(resolved) but named no output",
                               command: outcome.command)
            }
            return NixRebuildResult(drvPath: built.drvPath, firstOutput: out, secondOutput: nil, keptBuildFolders: kept)
        }
        if let difference = outcome.logTail.lazy.compactMap(Self.nonDeterminism(in:)).first {
            return NixRebuildResult(drvPath: difference.drv, firstOutput: difference.first, secondOutput: difference.second,
                                    keptBuildFolders: kept)
        }
        throw failure(of: outcome, code: .buildFailed, what: "rebuilding \(resolved) to check it")
    }

    /// Reads nix's "error: derivation 'D' may not be deterministic: output 'A' differs from 'A.check'".
    /// The builder's own lines are in the same log, so only a line nix itself starts (`error:`)
    /// whose second path is the first's `.check` counts: a builder cannot name another path.
    static func nonDeterminism(in line: String) -> (drv: String?, first: String, second: String)? {
        guard line.hasPrefix("error: derivation '"), line.contains("may not be deterministic"),
              let outputRange = line.range(of: "output '") else { return nil }
        let rest = line[outputRange.upperBound...]
        guard let firstEnd = rest.firstIndex(of: "'") else { return nil }
        let first = String(rest[..<firstEnd])
        guard let secondStart = rest.range(of: "differs from '") else { return nil }
        let tail = rest[secondStart.upperBound...]
        guard let secondEnd = tail.firstIndex(of: "'") else { return nil }
        let second = String(tail[..<secondEnd])
        guard first.hasPrefix("/"), !first.contains("/../"), second == first + ".check" else { return nil }
        return (quoted(after: "derivation ", in: line), first, second)
    }

    /// The folder of nix's "note: keeping build directory '/tmp/nix-build-NAME.drv-0'": only from a
    /// line nix starts, and only a folder named as nix names them, since it is removed afterwards.
    static func keptBuildFolder(in line: String) -> String? {
        let prefix = "note: keeping build directory '"
        guard line.hasPrefix(prefix), let path = quoted(after: "keeping build directory ", in: line),
              path.hasPrefix("/"), !path.split(separator: "/").contains(".."),
              (path as NSString).lastPathComponent.hasPrefix("nix-build-") else { return nil }
        return path
    }

    /// The text in single quotes right after `prefix` in `line`.
    static func quoted(after prefix: String, in line: String) -> String? {
        guard let start = line.range(of: prefix + "'") else { return nil }
        let rest = line[start.upperBound...]
        return rest.firstIndex(of: "'").map { String(rest[..<$0]) }
    }

    /// Makes a path that is in the store folder but not in its database (a rebuild's `.check`
    /// output) a valid store path of its own, and holds it with a GC root at `outLink`:
    /// `nix store add-path PATH --name NAME`, then `nix build STOREPATH --out-link OUTLINK`.
    /// Remove `outLink` to let it go. Between the two calls a GC could take the new path; nix
    /// offers no way to register and root at once.
    /// - Returns: the new store path.
    /// - Throws: ``NixError`` `.unexpectedOutput` if either call fails, `.nixMissing`, `.cancelled`.
    public func keep(_ path: String, as name: String, outLink: URL) async throws -> String {
        let added = try await execute(["store", "add-path", path, "--name", name] + commonFlags, workingDirectory: nil)
        let storePath = String(decoding: added.standardOutput, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard added.status.isSuccess, storePath.hasPrefix("/") else {
            throw failure(of: added, code: .unexpectedOutput, what: "adding \(path) to the store")
        }
        let outLinkPath = outLink.standardizedFileURL.path
        try? FileManager.default.createDirectory(at: outLink.deletingLastPathComponent(), withIntermediateDirectories: true)
        let rooted = try await execute(["build", storePath, "--out-link", outLinkPath] + commonFlags, workingDirectory: nil)
        guard rooted.status.isSuccess else {
            throw failure(of: rooted, code: .unexpectedOutput, what: "making a GC root for \(storePath)")
        }
        return storePath
    }

    /// Asks the store to delete `path` (`nix store delete PATH`), if nothing holds it; a path
    /// still rooted or referenced stays. Failures are ignored: the next GC takes what is left.
    public func deleteIfUnused(_ path: String) async {
        _ = try? await execute(["store", "delete", path] + commonFlags, workingDirectory: nil)
    }

    /// The NAR hash of a path as nix computes it (`nix hash path --type sha256 PATH`, SRI form),
    /// for any path, in the store's database or not.
    /// - Throws: ``NixError`` `.unexpectedOutput` if nix fails, `.nixMissing`, `.cancelled`.
    public func narHash(of path: String) async throws -> String {
        let outcome = try await execute(["hash", "path", "--type", "sha256", path] + commonFlags, workingDirectory: nil)
        let hash = String(decoding: outcome.standardOutput, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard outcome.status.isSuccess, hash.hasPrefix("sha256") else {
            throw failure(of: outcome, code: .unexpectedOutput, what: "hashing \(path)")
        }
        return hash
    }
}
