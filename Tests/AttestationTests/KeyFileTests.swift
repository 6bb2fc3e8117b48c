import Attestation
import Foundation
import Testing

/// The key file: generated once with mode 0600, read back the same, refused when too open.
@Suite struct KeyFileTests {
    private func temporaryConfig() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("attest-key-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    @Test func firstUseGeneratesAKeyOnlyTheUserCanRead() throws {
        let config = try temporaryConfig()
        defer { try? FileManager.default.removeItem(at: config) }
        let file = KeyFile(environment: ["XDG_CONFIG_HOME": config.path, "HOME": "/nonexistent"])
        #expect(file.path.path == config.path + "/sutradhar/signing-key.pem")
        let key = try file.load()
        let mode = try FileManager.default.attributesOfItem(atPath: file.path.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let folderMode = try FileManager.default.attributesOfItem(atPath: file.path.deletingLastPathComponent().path)[.posixPermissions] as? Int
        #expect(folderMode == 0o700)
        #expect(try file.load().keyID == key.keyID)
        // Nothing but the key is left in the folder (the temporary file is gone).
        #expect(try FileManager.default.contentsOfDirectory(atPath: file.path.deletingLastPathComponent().path) == ["signing-key.pem"])
    }

    @Test func aKeyOthersCanReadIsRefused() throws {
        let config = try temporaryConfig()
        defer { try? FileManager.default.removeItem(at: config) }
        let path = config.appendingPathComponent("key.pem")
        try SigningKey.generate().pkcs8PEM.write(to: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path.path)
        let error = #expect(throws: AttestationError.self) { try KeyFile(explicit: path).load() }
        #expect(error?.message.contains("chmod 600") == true)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path.path)
        #expect(throws: Never.self) { try KeyFile(explicit: path).load() }
    }

    @Test func aMissingExplicitKeyIsAnErrorNotANewKey() throws {
        let config = try temporaryConfig()
        defer { try? FileManager.default.removeItem(at: config) }
        let path = config.appendingPathComponent("absent.pem")
        let error = #expect(throws: AttestationError.self) { try KeyFile(explicit: path).load() }
        #expect(error?.message.contains("openssl genpkey") == true)
        #expect(!FileManager.default.fileExists(atPath: path.path))
    }
}
