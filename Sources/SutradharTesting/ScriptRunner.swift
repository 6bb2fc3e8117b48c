import Foundation

/// Runs a helper program (a Python client script, say) to completion for a test.
public enum ScriptRunner {
    /// Runs `executable ARGUMENTS` and returns its exit status and its output (stdout and stderr
    /// together). The output goes to a file, not a pipe, so a chatty program (or the server it
    /// starts and whose log it prints) never blocks on a full pipe.
    /// - Throws: if the program cannot be started or its output file cannot be written or read.
    public static func run(_ executable: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
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
        let (exited, exit) = AsyncStream.makeStream(of: Void.self)
        process.terminationHandler = { _ in exit.yield(); exit.finish() }
        try process.run()
        for await _ in exited { break }
        try handle.close()
        return (process.terminationStatus, String(decoding: try Data(contentsOf: outputURL), as: UTF8.self))
    }
}
