// A second front end on the library, using nothing but `import SutradharKit`: it lists the
// runs of a cache, and runs a pipeline following its events (one line each), recording the run
// in the history as the CLI does. It is the proof that the library boundary holds: if this
// needed anything from the `sutradhar` target, that logic would belong in the library.
//
//   sutradhar-kit-example runs [--cache-dir DIR]
//   sutradhar-kit-example run PIPELINE [--cache-dir DIR] [--docker-host HOST]
//
// Exit codes follow the CLI's: 0 passed, 1 a stage failed, 2 usage or definition, 3 environment.
import Foundation
import SutradharKit

func fail(_ message: String, code: Int32) -> Never {
    FileHandle.standardError.write(Data("sutradhar-kit-example: \(message)\n".utf8))
    exit(code)
}

var arguments = Array(CommandLine.arguments.dropFirst())
/// Takes `name VALUE` out of `arguments`.
func option(_ name: String, from arguments: inout [String]) -> String? {
    guard let index = arguments.firstIndex(of: name) else { return nil }
    guard index + 1 < arguments.count else { fail("\(name) needs a value", code: 2) }
    let value = arguments[index + 1]
    arguments.removeSubrange(index...(index + 1))
    return value
}
let cacheDirectory = option("--cache-dir", from: &arguments)
let dockerHost = option("--docker-host", from: &arguments)

/// One line per event: what a dashboard or a chat bot would show.
func line(for event: RunEvent) -> String {
    switch event.body {
    case .runStarted(let pipeline, let source, _, _): return "run \(event.run) started: \(pipeline) from \(source)"
    case .queued(let reason): return "queued: \(reason)"
    case .stageStarted(let stage, let kind): return "stage \(stage) (\(kind)) started"
    case .stageWaiting(let stage, let reason, _): return "stage \(stage) waiting: \(reason)"
    case .log(let stage, let stream, let text): return "  \(stage) \(stream)| \(text)"
    case .warning(let stage, let message): return "warning\(stage.map { " (\($0))" } ?? ""): \(message)"
    case .stageFinished(let result):
        return "stage \(result.name) \(result.status.rawValue)\(result.cached ? " (cached)" : "") in \(result.durationMilliseconds) ms"
    case .runFinished(let summary):
        return "run \(summary.run) \(summary.status.rawValue)" + (summary.environmentProblem.map { ": \($0)" } ?? "")
    }
}

switch arguments.first {
case "runs":
    let root = CacheRoot.resolve(explicit: cacheDirectory, definitionPath: Definitions.defaultDefinitionPath())
    do {
        let runs = try RunHistory(cacheRoot: root).runs()
        for run in runs {
            print("\(run.id) \(run.pipeline) \(run.status) \(run.trigger)")
        }
        print("\(runs.count) run\(runs.count == 1 ? "" : "s") in \(root.path)")
    } catch {
        fail("the run history of \(root.path) cannot be read: \(error)", code: 3)
    }

case "run" where arguments.count == 2:
    let plan: Plan, path: String
    do {
        path = try Definitions.locate(arguments[1])
        plan = try Definitions.load(path)
    } catch let error as PipelineNotFound {
        fail(error.message, code: 2)
    } catch {
        fail("\(error)", code: 2)
    }
    let options = RunOptions(cacheRoot: CacheRoot.resolve(explicit: cacheDirectory, definitionPath: path), dockerHost: dockerHost)
    let history = try? RunHistory(cacheRoot: options.cacheRoot)
    let recorder = history.map { HistoryRecorder(history: $0, trigger: RunTrigger.agent.rawValue) }
    var status: RunSummary?
    for await event in Engine().events(plan, options: options) {
        recorder?.record(event)
        print(line(for: event))
        if case .runFinished(let summary) = event.body { status = summary }
    }
    guard let summary = status else { fail("the run ended without a summary", code: 3) }
    if summary.environmentProblem != nil { exit(3) }
    exit(summary.status == .passed ? 0 : summary.status == .cancelled ? 130 : 1)

default:
    fail("usage: sutradhar-kit-example runs [--cache-dir DIR] | run PIPELINE [--cache-dir DIR] [--docker-host HOST]", code: 2)
}
