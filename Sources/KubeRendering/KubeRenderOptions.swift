import Foundation

/// Where the pods keep the build cache (mirrors, history, results) between runs.
public enum KubeCacheVolume: Sendable, Equatable {
    /// A folder on the node (`hostPath`, `type: Directory`): it must exist and be writable by the uid.
    case hostPath(String)
    /// A PersistentVolumeClaim by name, made writable for the uid with `fsGroup`.
    case persistentVolumeClaim(String)

    /// The default: a folder on the node that the rootless user owns.
    public static let defaultValue = KubeCacheVolume.hostPath("/var/lib/sutradhar/cache")

    /// Reads `hostpath:DIR` (an absolute folder on the node) or `pvc:NAME` (a claim's name).
    /// - Throws: `KubeError` `.invalidArgument` naming the spec and both accepted forms.
    public static func parse(_ spec: String) throws(KubeError) -> KubeCacheVolume {
        let forms = "write hostpath:/ABSOLUTE/DIR (a folder on the node the uid can write) or pvc:NAME (a PersistentVolumeClaim)"
        guard let colon = spec.firstIndex(of: ":") else {
            throw KubeError(.invalidArgument, "--cache '\(spec)' names no kind of volume; \(forms)")
        }
        let kind = spec[..<colon].lowercased()
        let value = String(spec[spec.index(after: colon)...])
        switch kind {
        case "hostpath":
            try KubeRenderOptions.checkHostPath(value, what: "--cache hostpath:")
            return .hostPath(value)
        case "pvc":
            guard KubeRenderOptions.isDNSSubdomain(value) else {
                throw KubeError(.invalidArgument, "--cache pvc:'\(value)' is not a PersistentVolumeClaim name "
                    + "(lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253)")
            }
            return .persistentVolumeClaim(value)
        default:
            throw KubeError(.invalidArgument, "--cache '\(spec)': unknown volume kind '\(kind)'; \(forms)")
        }
    }
}

/// What `sutradhar kube render` is asked for, validated: every value here can be written into a
/// manifest as it is.
public struct KubeRenderOptions: Sendable, Equatable {
    /// The commit a Job builds; nil renders no Job (the ConfigMap and CronJob only).
    public let commit: String?
    /// The image the pods run: it holds `sutradhar` and a nix client on its PATH.
    public let image: String
    /// The namespace written into every object; nil leaves it to `kubectl apply -n`.
    public let namespace: String?
    /// The rootless Docker daemon's socket on the node.
    public let socket: String
    /// The uid (and gid) the pods run as: the socket's owner.
    public let uid: Int
    /// Where the cache lives.
    public let cache: KubeCacheVolume

    /// The image when none is given.
    public static let defaultImage = "sutradhar:latest"
    /// The socket when none is given: the rootless daemon of uid 1000.
    public static let defaultSocket = "/run/user/1000/docker.sock"
    /// The uid when none is given and the socket path names none (`/run/user/UID/…`).
    public static let defaultUID = 1000

    /// Checks every value.
    /// - Parameter uid: nil means the UID in a `/run/user/UID/` socket path, else 1000.
    /// - Throws: `KubeError` `.invalidArgument` naming the option, the value and what is accepted:
    ///   a commit that is not 7 to 40 hex digits, an image with spaces, a namespace that is not a
    ///   DNS label, a socket that is not an absolute path, uid 0 (the pods must not be root).
    public init(commit: String? = nil, image: String = defaultImage, namespace: String? = nil,
                socket: String = defaultSocket, uid: Int? = nil, cache: KubeCacheVolume = .defaultValue) throws(KubeError) {
        if let commit {
            guard (7...40).contains(commit.count), commit.allSatisfy(\.isHexDigit) else {
                throw KubeError(.invalidArgument, "--commit '\(commit)' is not a commit SHA; a Job per commit is named after it, "
                    + "so give 7 to 40 hex digits (git rev-parse HEAD prints it), not a branch or tag")
            }
        }
        guard !image.isEmpty, image.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F }) else {
            throw KubeError(.invalidArgument, "--image '\(image)' is not an image reference; give e.g. registry.example/sutradhar:1.0")
        }
        if let namespace {
            guard namespace.count <= 63, Self.isDNSLabel(namespace) else {
                throw KubeError(.invalidArgument, "--namespace '\(namespace)' is not a DNS label: use at most 63 lower-case letters, "
                    + "digits and '-', starting and ending with a letter or digit")
            }
        }
        try Self.checkHostPath(socket, what: "--socket")
        let uid = uid ?? Self.uid(inSocketPath: socket) ?? Self.defaultUID
        guard uid > 0, uid <= Int(Int32.max) else {
            throw KubeError(.invalidArgument, "--uid \(uid) cannot run the pods: give the uid of the rootless daemon's owner "
                + "(1 to \(Int32.max)); uid 0 would make them root, which runAsNonRoot refuses")
        }
        if case .hostPath(let folder) = cache { try Self.checkHostPath(folder, what: "--cache hostpath:") }
        self.commit = commit?.lowercased()
        self.image = image
        self.namespace = namespace
        self.socket = socket
        self.uid = uid
        self.cache = cache
    }

    /// Reads `--uid`.
    /// - Throws: `KubeError` `.invalidArgument` if it is not a decimal number.
    public static func parseUID(_ text: String) throws(KubeError) -> Int {
        guard let uid = Int(text), text.allSatisfy(\.isASCII) else {
            throw KubeError(.invalidArgument, "--uid '\(text)' is not a number; give the numeric uid that owns the socket (id -u USER prints it)")
        }
        return uid
    }

    /// The UID in `/run/user/UID/…`, the rootless daemon's usual socket folder.
    static func uid(inSocketPath path: String) -> Int? {
        let parts = path.split(separator: "/")
        guard parts.count >= 3, parts[0] == "run", parts[1] == "user" else { return nil }
        return Int(parts[2])
    }

    static func checkHostPath(_ path: String, what: String) throws(KubeError) {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard path.hasPrefix("/"), path.count > 1, !parts.contains("."), !parts.contains(".."),
              path.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F }) else {
            throw KubeError(.invalidArgument, "\(what) '\(path)' is not an absolute path on the node; give one like /run/user/1000/docker.sock "
                + "or /var/lib/sutradhar/cache (no spaces, no '.' or '..')")
        }
    }

    /// RFC 1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit.
    static func isDNSLabel(_ text: Substring) -> Bool {
        guard let first = text.first, let last = text.last, text.count <= 63 else { return false }
        let alphanumeric: (Character) -> Bool = { ("a"..."z").contains($0) || ("0"..."9").contains($0) }
        return alphanumeric(first) && alphanumeric(last) && text.allSatisfy { alphanumeric($0) || $0 == "-" }
    }

    static func isDNSLabel(_ text: String) -> Bool { isDNSLabel(Substring(text)) }

    /// RFC 1123 subdomain: dot-separated labels, at most 253 characters.
    static func isDNSSubdomain(_ text: String) -> Bool {
        text.count <= 253 && text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { isDNSLabel($0) }
    }
}
