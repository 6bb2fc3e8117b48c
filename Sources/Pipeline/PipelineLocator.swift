import Foundation

/// Finds the definition a user means by `PIPELINE`: a file path, or a NAME looked up as
/// `pipelines/NAME.yaml` in the working directory or the nearest parent that has one.
public enum PipelineLocator {
    /// The definition file's path, or nil if neither form names an existing file.
    public static func locate(_ argument: String, from workingDirectory: URL) -> String? {
        let fileManager = FileManager.default
        let direct = argument.hasPrefix("/") ? URL(fileURLWithPath: argument) : workingDirectory.appendingPathComponent(argument)
        var isDirectory: ObjCBool = false
        if fileManager.fileExists(atPath: direct.path, isDirectory: &isDirectory), !isDirectory.boolValue {
            return argument
        }
        guard !argument.contains("/") else { return nil }
        var folder = workingDirectory.standardizedFileURL
        while true {
            for suffix in [".yaml", ".yml"] {
                let candidate = folder.appendingPathComponent("pipelines").appendingPathComponent(argument + suffix)
                if fileManager.fileExists(atPath: candidate.path) { return candidate.path }
            }
            let parent = folder.deletingLastPathComponent()
            if parent.path == folder.path { return nil }
            folder = parent
        }
    }

    /// The names of the definitions under the nearest `pipelines/` folder, for "did you mean".
    public static func knownPipelines(from workingDirectory: URL) -> [String] {
        var folder = workingDirectory.standardizedFileURL
        while true {
            let pipelines = folder.appendingPathComponent("pipelines")
            if let names = try? FileManager.default.contentsOfDirectory(atPath: pipelines.path) {
                return names.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
                    .map { String($0.prefix(upTo: $0.lastIndex(of: ".")!)) }.sorted()
            }
            let parent = folder.deletingLastPathComponent()
            if parent.path == folder.path { return [] }
            folder = parent
        }
    }
}
