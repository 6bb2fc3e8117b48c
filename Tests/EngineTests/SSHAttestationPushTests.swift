import Foundation
import Testing

@testable import Engine

/// The ssh push's two halves without a network: the connection settings read from the store URI
/// as nix reads them, and the script the remote login shell runs, run here by a real `sh` from
/// the very command line ssh would send.
@Suite struct SSHAttestationPushTests {
    @Test func connectionSettingsComeFromTheStoreURIAndNixSSHOpts() throws {
        let hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBlbTkrG5yNkzB1h6JtfK3LNnDAmVSMdLVzn8nK0pF0v"
        let uri = "ssh-ng://deploy@cache.example?ssh-key=/etc/keys/push&base64-ssh-public-host-key="
            + Data(hostKey.utf8).base64EncodedString()
        let push = SSHAttestationPush(uri: uri, folder: "~/signed", sshOptions: "-p 2222 -o Compression=yes")
        #expect(push.destination == "deploy@cache.example")
        #expect(push.identityFile == "/etc/keys/push")
        #expect(push.hostKey == hostKey)
        #expect(push.folder == "signed")
        #expect(push.extraOptions == ["-p", "2222", "-o", "Compression=yes"])
        let bare = SSHAttestationPush(uri: "ssh://cache", folder: "/srv/att", sshOptions: nil)
        #expect(bare.destination == "cache" && bare.identityFile == nil && bare.hostKey == nil && bare.extraOptions.isEmpty)
        #expect(bare.folder == "/srv/att")
    }

    @Test func theRemoteScriptAddsEachEnvelopeOnceKeepsTheNewestAndLeavesNoTemporaryFile() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ssh-push-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        // A quote and a space in the folder's name: the command line must survive the login shell.
        let folder = root.appendingPathComponent("it's here/attestations")
        let hex = String(repeating: "ab", count: 32)
        func push(_ line: String, sbom: String? = nil) throws -> String {
            let command = SSHAttestationPush.remoteCommand(folder: folder.path, imageHex: hex, withSBOM: sbom != nil)
            return try Self.shell(command, input: line + "\n" + (sbom ?? ""))
        }
        let printed = try push("{\"a\":1}", sbom: "{\"bom\":true}\n")
        #expect(printed.trimmingCharacters(in: .newlines) == folder.resolvingSymlinksInPath().path)
        _ = try push("{\"b\":2}")
        _ = try push("{\"a\":1}")
        let bundle = folder.appendingPathComponent("\(hex).intoto.jsonl")
        #expect(try String(contentsOf: bundle, encoding: .utf8) == "{\"b\":2}\n{\"a\":1}\n")
        #expect(try String(contentsOf: folder.appendingPathComponent("\(hex).sbom.cdx.json"), encoding: .utf8) == "{\"bom\":true}\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
            == [".lock", "\(hex).intoto.jsonl", "\(hex).sbom.cdx.json"])

        for index in 0..<(SSHAttestationPush.keptEnvelopes + 3) { _ = try push("{\"n\":\(index)}") }
        let lines = try String(contentsOf: bundle, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == SSHAttestationPush.keptEnvelopes)
        #expect(lines.last == "{\"n\":\(SSHAttestationPush.keptEnvelopes + 2)}")
    }

    @Test func aFolderThatCannotBeMadeFailsTheScript() throws {
        let command = SSHAttestationPush.remoteCommand(folder: "/proc/no-such/attestations", imageHex: String(repeating: "0", count: 64),
                                                       withSBOM: false)
        #expect(throws: (any Error).self) { try Self.shell(command, input: "{}\n") }
    }

    /// `sh -c COMMAND`, as sshd has the login shell run what ssh sends; throws on a failure.
    static func shell(_ command: String, input: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CocoaError(.fileWriteUnknown) }
        return String(decoding: output, as: UTF8.self)
    }
}
