import Foundation

/// An Engine API version such as `1.41`, ordered numerically (1.9 < 1.41).
public struct APIVersion: Sendable, Comparable, CustomStringConvertible, Hashable {
    /// The major number (1 for every Engine API so far).
    public let major: Int
    /// The minor number.
    public let minor: Int

    /// The newest API version this client is written against (Docker 27's API).
    public static let newestSupported = APIVersion(major: 1, minor: 47)
    /// The oldest API version this client works with: Podman's compatible API speaks 1.40 and
    /// every endpoint and field used here exists there.
    public static let oldestSupported = APIVersion(major: 1, minor: 40)

    /// Makes a version from its numbers.
    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// Parses `MAJOR.MINOR`; nil for anything else.
    public init?(_ text: String) {
        let parts = text.trimmingCharacters(in: .whitespaces).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let major = Int(parts[0]), let minor = Int(parts[1]), major >= 0, minor >= 0 else { return nil }
        self.init(major: major, minor: minor)
    }

    /// `MAJOR.MINOR`.
    public var description: String { "\(major).\(minor)" }

    /// Orders by major, then minor.
    public static func < (lhs: APIVersion, rhs: APIVersion) -> Bool {
        (lhs.major, lhs.minor) < (rhs.major, rhs.minor)
    }

    /// The version to speak with a daemon whose highest version is `daemon` (the `API-Version`
    /// header of `GET /_ping`): the lower of ours and theirs. Never pin one version: Debian's
    /// dockerd 20.10 stops at 1.41 and Docker 29 refuses anything below 1.44.
    ///
    /// - Throws: ``DockerError`` `.badResponse` if the header is missing or malformed,
    ///   `.daemonError` if the daemon is older than ``oldestSupported``.
    public static func negotiate(ours: APIVersion = .newestSupported, daemonHeader: String?) throws -> APIVersion {
        guard let daemonHeader, let theirs = APIVersion(daemonHeader) else {
            throw DockerError(
                .badResponse,
                "the daemon's /_ping answer has no usable API-Version header (got \(daemonHeader.map { "'\($0)'" } ?? "none")); "
                    + "is a Docker daemon really listening on this socket?",
                endpoint: "GET /_ping"
            )
        }
        guard theirs >= oldestSupported else {
            throw DockerError(
                .daemonError,
                "the daemon speaks Engine API \(theirs) at most, older than the \(oldestSupported) this client needs; upgrade Docker",
                endpoint: "GET /_ping"
            )
        }
        return min(ours, theirs)
    }
}
