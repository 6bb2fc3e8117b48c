import BuildCache
import Foundation
import NixBuild
import RunEvents

/// Checks made before a run creates anything: a missing tool is an environment problem (exit 3),
/// not a stage failure.
enum Preflight {
    /// Finds nix on `PATH` once (so later spawns need no PATH search) and checks that it is new
    /// enough for flakes. The verdict is remembered in the cache for that binary (path and
    /// modification time), so a cached rerun does not pay for a `nix --version` each time.
    /// - Returns: the absolute path of the nix executable.
    /// - Throws: `EnvironmentError` with what to install.
    static func locateNix(environment: [String: String], cache: BuildCache) async throws -> String {
        let path = (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
            .map { URL(fileURLWithPath: String($0)).appendingPathComponent("nix").path }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let path else {
            throw EnvironmentError("nix was not found on PATH. Install Nix 2.4 or newer with flakes "
                + "(on Debian: apt-get install nix-bin; scripts/setup.sh does)", code: .nixMissing)
        }
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        let modified = (try? FileManager.default.attributesOfItem(atPath: resolved)[.modificationDate] as? Date)?
            .timeIntervalSince1970 ?? 0
        let stamp = "\(resolved)\t\(modified)"
        let memo = cache.folder(.locks).appendingPathComponent("nix-version-checked")
        if (try? String(contentsOf: memo, encoding: .utf8)) == stamp { return path }
        do {
            _ = try await Nix(executable: path).version()
        } catch let error as NixError {
            throw EnvironmentError(error.message, code: .nixMissing)
        }
        try? AtomicFile.write(Data(stamp.utf8), to: memo)
        return path
    }
}
