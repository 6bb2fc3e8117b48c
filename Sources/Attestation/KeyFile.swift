import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the signing key lives and how it is read: `--signing-key FILE`, else
/// `$XDG_CONFIG_HOME/sutradhar/signing-key.pem` (or `~/.config/…`), generated there on first use
/// with mode 0600 in a folder of mode 0700. A key file others can read is refused, as ssh does.
public struct KeyFile: Sendable {
    /// The key file.
    public let path: URL
    /// Whether a missing file is generated (the default location) or an error (`--signing-key`).
    public let generatesWhenMissing: Bool

    /// The file `--signing-key` names: never generated.
    public init(explicit path: URL) {
        self.path = path
        generatesWhenMissing = false
    }

    /// The default key of the user whose environment is `environment`.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let config = environment["XDG_CONFIG_HOME"].flatMap { $0.hasPrefix("/") ? URL(fileURLWithPath: $0) : nil }
            ?? URL(fileURLWithPath: environment["HOME"] ?? NSHomeDirectory()).appendingPathComponent(".config")
        path = config.appendingPathComponent("sutradhar").appendingPathComponent("signing-key.pem")
        generatesWhenMissing = true
    }

    /// The key: read from the file, or (default location only) generated and written there.
    /// - Throws: `AttestationError` `.badKey` if the file is missing (`--signing-key`), readable
    ///   by others, or not an Ed25519 PKCS#8 key; `.io` if a new key cannot be written.
    public func load() throws -> SigningKey {
        if FileManager.default.fileExists(atPath: path.path) {
            return try read()
        }
        guard generatesWhenMissing else {
            throw AttestationError(.badKey, "no signing key at \(path.path) (make one with 'openssl genpkey -algorithm ed25519 -out \(path.path)' and chmod 600 it)")
        }
        return try generate()
    }

    private func read() throws -> SigningKey {
        var info = stat()
        guard stat(path.path, &info) == 0 else {
            throw AttestationError(.badKey, "cannot read the signing key \(path.path): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw AttestationError(.badKey, "the signing key \(path.path) can be read by others (mode \(String(info.st_mode & 0o777, radix: 8))); run 'chmod 600 \(path.path)'")
        }
        guard let text = try? String(contentsOf: path, encoding: .utf8) else {
            throw AttestationError(.badKey, "cannot read the signing key \(path.path)")
        }
        do {
            return try SigningKey(pkcs8PEM: text)
        } catch let error as AttestationError {
            throw AttestationError(.badKey, "\(path.path): \(error.message)")
        }
    }

    /// Writes a new key to a temporary file created 0600 (never readable by others, not even for
    /// an instant), then links it into place: two processes racing both end with the same key.
    private func generate() throws -> SigningKey {
        let folder = path.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw AttestationError(.io, "cannot create \(folder.path) for the signing key: \(error.localizedDescription)")
        }
        let key = SigningKey.generate()
        let temporary = folder.appendingPathComponent(".signing-key.\(getpid()).\(UInt32.random(in: 0...UInt32.max))")
        let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else {
            throw AttestationError(.io, "cannot create \(temporary.path): \(String(cString: strerror(errno)))")
        }
        defer { unlink(temporary.path) }
        let bytes = Array(key.pkcs8PEM.utf8)
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        let synced = fsync(descriptor) == 0
        close(descriptor)
        guard written == bytes.count, synced else {
            throw AttestationError(.io, "cannot write the signing key to \(temporary.path)")
        }
        // link() fails if another process has put its key there first: then that one is the key.
        if link(temporary.path, path.path) != 0 {
            guard errno == EEXIST else {
                throw AttestationError(.io, "cannot put the signing key at \(path.path): \(String(cString: strerror(errno)))")
            }
            return try read()
        }
        return key
    }
}
