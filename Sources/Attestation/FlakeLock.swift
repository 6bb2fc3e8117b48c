import Foundation

/// The inputs a `flake.lock` pins, as resolved dependencies: each locked node with its NAR hash
/// (`sha256`, hex) and, where it has one, its revision (`gitCommit`).
public enum FlakeLock {
    /// Every locked input of the lock file `data` (nodes other than the root), sorted by name.
    /// - Throws: `AttestationError` `.badStatement` if it is not a flake lock file.
    public static func inputs(of data: Data) throws -> [ResourceDescriptor] {
        struct Lock: Decodable {
            var nodes: [String: Node]
            var root: String?
        }
        struct Node: Decodable {
            var locked: [String: AttestedValue]?
        }
        guard let lock = try? JSONDecoder().decode(Lock.self, from: data) else {
            throw AttestationError(.badStatement, "flake.lock is not a flake lock file (no 'nodes')")
        }
        let root = lock.root ?? "root"
        return lock.nodes.filter { $0.key != root }.sorted { $0.key < $1.key }.compactMap { name, node in
            guard let locked = node.locked else { return nil }
            var digest: [String: String] = [:]
            if let hash = locked["narHash"]?.stringValue, let hex = StorePathInfo.narHashHex(hash) { digest["sha256"] = hex }
            if let rev = locked["rev"]?.stringValue { digest["gitCommit"] = rev }
            let uri = uri(of: locked)
            guard !digest.isEmpty || uri != nil else { return nil }
            return ResourceDescriptor(name: "flake-input:" + name, uri: uri, digest: digest.isEmpty ? nil : digest,
                                      annotations: locked["type"].map { ["type": $0] })
        }
    }

    /// The flake reference of a locked node, in nix's URL syntax.
    static func uri(of locked: [String: AttestedValue]) -> String? {
        let field = { (name: String) in locked[name]?.stringValue }
        switch field("type") {
        case "github", "gitlab", "sourcehut":
            guard let owner = field("owner"), let repo = field("repo") else { return nil }
            return "\(field("type")!):\(owner)/\(repo)" + (field("rev").map { "/" + $0 } ?? "")
        case "git", "hg", "tarball", "file":
            guard let url = field("url") else { return nil }
            return "\(field("type")! == "git" ? "git+" : "")\(url)" + (field("rev").map { "?rev=" + $0 } ?? "")
        case "path":
            return field("path").map { "path:" + $0 }
        default:
            return field("url")
        }
    }
}
