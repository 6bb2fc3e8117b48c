import Foundation
import Logging
import MCP
@testable import SutradharMCP
import SutradharKit
import SutradharTesting
import Testing

/// What a hostile tool caller tried and must not get: files outside the served pipelines folder,
/// logs outside a run's folder, frames that exhaust memory, arguments of the wrong shape.
@Suite struct FrontDoorTests {
    let tools = InProcessToolTests()

    @Test func aToolCallerMayNameOnlyThePipelinesOfTheServedFolderAndErrorsQuoteNoFile() async throws {
        try await tools.withServer { client, workspace in
            let secret = "hunter2-\(UUID().uuidString)"
            let dotEnv = workspace.appendingPathComponent(".env")
            try Data("API_TOKEN=\(secret)\n-----BEGIN OPENSSH PRIVATE KEY-----\n\(secret)\n".utf8).write(to: dotEnv)
            // A definition outside pipelines/ that would build any folder it likes.
            try Data("""
                version: 1
                name: outside
                source: { path: / }
                stages:
                  work:
                    container: { image: "busybox:latest", command: [true] }

                """.utf8).write(to: workspace.appendingPathComponent("outside.yaml"))
            try FileManager.default.createSymbolicLink(at: workspace.appendingPathComponent("pipelines/evil.yaml"), withDestinationURL: dotEnv)
            let names = [dotEnv.path, "../.env", ".env", "../outside", "outside.yaml", "pipelines/demo.yaml",
                         workspace.appendingPathComponent("outside.yaml").path, "/etc/passwd", "evil", "demo/../../outside"]
            for name in names {
                for (tool, arguments) in [("validate_pipeline", ["pipeline": Value.string(name)]), ("run_pipeline", ["pipeline": .string(name)]),
                                          ("doctor", ["pipelines": .array([.string(name)])])] {
                    let result = try await tools.call(client, tool, arguments)
                    let said = tools.text(result)
                    #expect(result.isError == true, "\(tool) \(name) was accepted: \(said)")
                    #expect(!said.contains(secret) && !said.contains("root:") && !said.contains("PRIVATE KEY"), "\(tool) \(name) quoted a file: \(said)")
                }
            }
            let listed = try await tools.call(client, "list_pipelines")
            #expect(!tools.text(listed).contains(secret), "list_pipelines quoted the linked file")
            #expect(try await tools.call(client, "validate_pipeline", ["pipeline": "demo"]).isError != true)
        }
    }

    @Test func aStageNameCannotLeaveTheRunsFolder() async throws {
        try await tools.withServer { client, workspace in
            let run = try tools.record(in: workspace, log: "fine\n")
            let secret = "secret-\(UUID().uuidString)"
            try Data("\(secret)\n".utf8).write(to: workspace.appendingPathComponent("stolen.log"))
            try Data("\(secret)\n".utf8).write(to: workspace.appendingPathComponent("cache/stolen.log"))
            for stage in ["../../../stolen", "../../stolen", "../\(run)/work", "/etc/passwd", "work/../../../../stolen", "..", ""] {
                let result = try await tools.call(client, "get_stage_log", ["run": .string(run), "stage": .string(stage)])
                #expect(result.isError == true, "stage '\(stage)' was read: \(tools.text(result))")
                #expect(!tools.text(result).contains(secret))
            }
            let fine = try await tools.call(client, "get_stage_log", ["run": .string(run), "stage": "work"])
            #expect(fine.structuredContent?.objectValue?["text"] == "fine\n")
        }
    }

    @Test func everyToolHasAHandler() {
        // The dispatch switches over ToolName: a catalog entry without a case would not compile,
        // and a case without a catalog entry is caught here.
        #expect(Set(ToolCatalog.tools.map(\.name)) == Set(ToolName.allCases.map(\.rawValue)))
    }

    @Test func aToolCallOfTheWrongShapeIsAToolErrorNotAnInternalError() throws {
        let cases: [(String, String)] = [
            (#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":42,"arguments":{}}}"#, "'name' must be a tool's name as a string"),
            (#"{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"get_run","arguments":["run"]}}"#, "'arguments' must be an object"),
            (#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"arguments":{}}}"#, "'name' must be a tool's name"),
            (#"{"jsonrpc":"2.0","id":9,"method":"tools/call"}"#, "needs 'params'"),
        ]
        for (frame, says) in cases {
            guard case .answer(let reply) = FrameCheck.check(Data(frame.utf8)) else {
                Issue.record("forwarded: \(frame)")
                continue
            }
            let object = try #require(try JSONSerialization.jsonObject(with: reply) as? [String: Any])
            let result = try #require(object["result"] as? [String: Any], "\(object)")
            #expect(result["isError"] as? Bool == true)
            let text = ((result["content"] as? [[String: Any]])?.first?["text"] as? String) ?? ""
            #expect(text.contains(says), "\(text)")
            #expect(object["id"] != nil && object["error"] == nil)
        }
        let fine = #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_runs","arguments":{}}}"#
        #expect(FrameCheck.check(Data(fine.utf8)) == .forward)
        #expect(FrameCheck.check(Data(#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#.utf8)) == .forward)
    }

    @Test func anOversizeFrameIsSkippedWithoutBeingHeldAndTheNextOneIsRead() async throws {
        var descriptors: [Int32] = [0, 0]
        #expect(pipe(&descriptors) == 0)
        let (readEnd, writeEnd) = (descriptors[0], descriptors[1])
        let limit = 1024 * 1024
        let writer = Thread {
            let big = [UInt8](repeating: UInt8(ascii: "a"), count: 3 * limit)
            for bytes in [big, Array("\n{\"small\":1}\n".utf8), big, Array("\n".utf8), Array("{\"last\":2}".utf8)] {
                var written = 0
                while written < bytes.count {
                    let result = bytes[written...].withUnsafeBytes { write(writeEnd, $0.baseAddress, $0.count) }
                    if result <= 0 { break }
                    written += result
                }
            }
            close(writeEnd)
        }
        writer.start()
        var frames: [String] = []
        var oversize: [Int] = []
        SerialStdioTransport.readLines(from: readEnd, maximumFrameBytes: limit, logger: Logger(label: "test")) {
            frames.append(String(decoding: $0, as: UTF8.self))
        } oversize: { oversize.append($0) }
        close(readEnd)
        #expect(frames == ["{\"small\":1}", "{\"last\":2}"])
        #expect(oversize.count == 2)
        #expect(oversize.allSatisfy { $0 >= 3 * limit }, "\(oversize)")
        let error = try #require(try JSONSerialization.jsonObject(with: FrameCheck.oversizeError(limit: limit)) as? [String: Any])
        #expect((error["error"] as? [String: Any])?["code"] as? Int == -32600)
    }
}
