import Foundation

/// Runs a helper program (a Python client script, say) to completion for a test.
public enum ScriptRunner {
    /// Runs `executable ARGUMENTS` and returns its exit status and its output (stdout and stderr
    /// together). The output goes to a file, not a pipe, so a chatty program (or the server it
    /// starts and whose log it prints) never blocks on a full pipe.
    /// - Throws: if the program cannot be started, has not ended within `timeout` (it is then
    ///   killed), or its output file cannot be written or read.
    public static func run(_ executable: String, _ arguments: [String],
                           timeout: Duration = .seconds(600)) async throws -> (status: Int32, output: String) {
        let outputURL = FileManager.default.temporaryDirectory.appendingPathComponent("sutradhar-script-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: outputURL) }
        let handle = try FileHandle(forWritingTo: outputURL)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let ended = await eventually(timeout: timeout) { !process.isRunning }
        try handle.close()
        let output = String(decoding: try Data(contentsOf: outputURL), as: UTF8.self)
        guard ended else {
            kill(-process.processIdentifier, SIGKILL)  // Foundation makes the child a group leader
            throw ScriptTimeout(description: "\(executable) \(arguments.joined(separator: " ")) did not end within \(timeout); killed it. Output: \(output)")
        }
        return (process.terminationStatus, output)
    }
}

/// A helper program that ran past its time limit.
public struct ScriptTimeout: Error, CustomStringConvertible {
    public let description: String
}
