import Foundation
import SutradharTesting
import Testing

/// Every isolation refusal of a definition, through `sutradhar validate`: exit 2 and the
/// refused field's file:line:column. Needs no daemon: nothing is run.
@Suite struct PolicyValidationEndToEndTests {
    /// One refused setting of a container stage, written on line 9 of the definition.
    struct Refusal: Sendable, CustomTestStringConvertible {
        let field: String
        let line: String
        /// What the message must mention.
        let mentions: String
        var testDescription: String { field }
    }

    static let refusals: [Refusal] = [
        Refusal(field: "privileged", line: "privileged: true", mentions: "privileged"),
        Refusal(field: "cap-add", line: "cap-add: [NET_ADMIN]", mentions: "capabilities"),
        Refusal(field: "devices", line: "devices: [/dev/fuse]", mentions: "devices"),
        Refusal(field: "network host", line: "network: host", mentions: "host network"),
        Refusal(field: "pid host", line: "pid: host", mentions: "PID namespace"),
        Refusal(field: "docker socket mount", line: "mounts: [\"/var/run/docker.sock:/var/run/docker.sock\"]", mentions: "socket"),
        Refusal(field: "absolute mount", line: "mounts: [\"/etc:/host-etc:ro\"]", mentions: "outside the checkout"),
        Refusal(field: "escaping mount", line: "mounts: [\"data/../../outside:/data\"]", mentions: "leaves the checkout"),
    ]

    @Test(arguments: refusals)
    func refusedSettingExits2WithItsPosition(_ refusal: Refusal) async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-e2e-policy") { folder in
            try FileManager.default.createDirectory(at: folder.appendingPathComponent("src"), withIntermediateDirectories: true)
            let file = folder.appendingPathComponent("policy.yaml")
            try """
                version: 1
                name: e2e-policy
                source: { path: ./src }
                stages:
                  tests:
                    container:
                      image: "busybox:latest"
                      command: [sh, -c, "true"]
                      \(refusal.line)

                """.write(to: file, atomically: true, encoding: .utf8)

            let json = try await SutradharCLI.run(["validate", file.path, "--json"], timeout: .seconds(30))
            #expect(json.exitCode == 2, "stdout: \(json.stdout) stderr: \(json.stderr)")
            let report = try #require(json.events.first, "no JSON report: \(json.stdout)")
            #expect(report["valid"] as? Bool == false)
            let problems = report["problems"] as? [[String: Any]] ?? []
            #expect(problems.count == 1, "problems: \(problems)")
            let problem = try #require(problems.first)
            #expect(problem["line"] as? Int == 9, "problem: \(problem)")
            #expect((problem["column"] as? Int ?? 0) >= 7, "problem: \(problem)")
            #expect((problem["file"] as? String)?.hasSuffix("policy.yaml") == true)
            let message = problem["message"] as? String ?? ""
            #expect(message.contains(refusal.mentions), "message: \(message)")

            // The human form names the same position, compiler style.
            let text = try await SutradharCLI.run(["validate", file.path], timeout: .seconds(30))
            #expect(text.exitCode == 2)
            #expect(text.stdout.contains("policy.yaml:9:\(problem["column"] as? Int ?? 0): "), "stdout: \(text.stdout)")
        }
    }

    /// The same definition without the refused line is valid, so each refusal above is the
    /// line's doing.
    @Test func definitionWithoutARefusedSettingIsValid() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-e2e-policy") { folder in
            try FileManager.default.createDirectory(at: folder.appendingPathComponent("src"), withIntermediateDirectories: true)
            let file = folder.appendingPathComponent("policy.yaml")
            try """
                version: 1
                name: e2e-policy
                source: { path: ./src }
                stages:
                  tests:
                    container:
                      image: "busybox:latest"
                      command: [sh, -c, "true"]
                      mounts: ["data:/data:ro"]
                      network: none

                """.write(to: file, atomically: true, encoding: .utf8)
            let result = try await SutradharCLI.run(["validate", file.path], timeout: .seconds(30))
            #expect(result.exitCode == 0, "stdout: \(result.stdout) stderr: \(result.stderr)")
        }
    }
}
