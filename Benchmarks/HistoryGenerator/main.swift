// Writes a run history for the dashboard benchmark through the library's own recorder
// (`HistoryRecorder` consuming `RunEvent`s, as a real run's events reach it), never by writing
// SQLite rows by hand: the rows, run folders, events and logs are what real runs would leave.
//
//   sutradhar-history-generator history COUNT --cache-dir DIR [--seed N]
//       COUNT finished runs of the bundled pipelines' shapes, one every 7 minutes up to now,
//       about 1 in 8 failing, with a few log lines per stage.
//   sutradhar-history-generator live --cache-dir DIR [--stages N] [--interval-ms M] [--start-delay-ms D]
//       One run recorded live, as this process's own (so it is `running`, not `abandoned`):
//       prints `run: ID`, waits D ms, then starts and finishes one stage every M ms, then
//       finishes the run.
//       What 50 clients follow over server-sent events in Benchmarks/dashboard-benchmark.sh.
//   sutradhar-history-generator cache-entries COUNT --cache-dir DIR
//       COUNT build-cache entries stored through BuildCache, as stages store results.
//   sutradhar-history-generator big-log --cache-dir DIR [--megabytes N]
//       One finished run whose stage `build` logged N MB (default 100) of 100-byte lines; prints
//       `run: ID` when done. What the benchmark's slow readers download.
//
// Exit codes: 0 done, 2 usage, 3 the history could not be opened.
import Foundation
import SutradharKit

func fail(_ message: String, code: Int32) -> Never {
    FileHandle.standardError.write(Data("sutradhar-history-generator: \(message)\n".utf8))
    exit(code)
}

/// One line on stdout at once (unbuffered): the benchmark reads it while this process runs.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

var arguments = Array(CommandLine.arguments.dropFirst())
/// Takes `name VALUE` out of `arguments`.
@MainActor func option(_ name: String) -> String? {
    guard let index = arguments.firstIndex(of: name) else { return nil }
    guard index + 1 < arguments.count else { fail("\(name) needs a value", code: 2) }
    let value = arguments[index + 1]
    arguments.removeSubrange(index...(index + 1))
    return value
}
@MainActor func number(_ name: String, default value: Int) -> Int {
    guard let text = option(name) else { return value }
    guard let parsed = Int(text), parsed >= 0 else { fail("\(name) takes a whole number, not '\(text)'", code: 2) }
    return parsed
}

/// SplitMix64: the same seed writes the same history, so two benchmark runs compare.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A pipeline's shape: its stages (name, kind) in order, and its usual stage times.
struct Shape {
    let pipeline: String
    let stages: [(name: String, kind: String, milliseconds: ClosedRange<Int64>)]
}

let shapes = [
    Shape(pipeline: "example", stages: [("checkout", "checkout", 20...200), ("image", "nix-build", 800...40_000),
                                        ("load", "docker-load", 300...3_000), ("smoke", "smoke", 600...4_000),
                                        ("probe-from-sidecar", "smoke", 600...4_000)]),
    Shape(pipeline: "bommalata", stages: [("checkout", "checkout", 100...2_000), ("image", "nix-build", 5_000...900_000),
                                          ("load", "docker-load", 1_000...20_000), ("health", "smoke", 2_000...30_000)]),
    Shape(pipeline: "dockerfile-example", stages: [("checkout", "checkout", 20...200), ("image", "docker-build", 2_000...60_000),
                                                   ("smoke", "smoke", 600...4_000)]),
]
let triggers = ["agent", "agent", "agent", "nightly", "local", "manual"]

/// Records one run of `shape` that started at `start`, every event stamped as it would have been.
func recordRun(_ shape: Shape, id: String, start: Date, failing: Bool, recorder: HistoryRecorder,
               random: inout SeededGenerator) {
    let commit = (0..<5).map { _ in String(format: "%08x", UInt32.random(in: 0...UInt32.max, using: &random)) }.joined()
    recorder.record(RunEvent(run: id, .runStarted(pipeline: shape.pipeline, source: "/srv/src/\(shape.pipeline)", ref: "main",
                                                  cacheRoot: "/var/cache/sutradhar"), time: start))
    var clock = start
    var results: [StageResult] = []
    let failAt = failing ? Int.random(in: 1..<shape.stages.count, using: &random) : shape.stages.count
    for (index, stage) in shape.stages.enumerated() {
        if index > failAt {
            results.append(StageResult(name: stage.name, kind: stage.kind, status: .skipped, cached: false, durationMilliseconds: 0,
                                       error: "skipped: a stage it needs failed", code: .dependencyFailed))
            continue
        }
        let cached = index > 0 && Int.random(in: 0..<3, using: &random) == 0
        let milliseconds = cached ? Int64.random(in: 2...40, using: &random) : Int64.random(in: stage.milliseconds, using: &random)
        recorder.record(RunEvent(run: id, .stageStarted(stage: stage.name, kind: stage.kind), time: clock))
        for line in 0..<(cached ? 1 : 4) {
            recorder.record(RunEvent(run: id, .log(stage: stage.name, stream: line % 2 == 0 ? "stdout" : "stderr",
                                                   line: "\(stage.kind): step \(line + 1) of \(stage.name)"),
                                     time: clock.addingTimeInterval(Double(milliseconds) * Double(line) / 4000)))
        }
        clock.addTimeInterval(Double(milliseconds) / 1000)
        let failed = index == failAt
        let result = StageResult(name: stage.name, kind: stage.kind, status: failed ? .failed : .passed, cached: cached,
                                 durationMilliseconds: milliseconds,
                                 outputs: failed ? [] : [("note", .string("generated for the dashboard benchmark"))],
                                 error: failed ? "the probe never answered: wget: can't connect to remote host" : nil,
                                 code: failed ? .probeFailed : nil)
        recorder.record(RunEvent(run: id, .stageFinished(result), time: clock))
        results.append(result)
    }
    let summary = RunSummary(run: id, pipeline: shape.pipeline, commit: commit, status: failing ? .failed : .passed,
                             durationMilliseconds: Int64(clock.timeIntervalSince(start) * 1000), stages: results)
    recorder.record(RunEvent(run: id, .runFinished(summary), time: clock))
}

/// A run ID in the engine's form (`YYYYMMDD-HHMMSS-xxxx`) for a run started at `date`.
func runID(at date: Date, random: inout SeededGenerator) -> String {
    let digits = RunEvent.rfc3339(date).prefix(19).filter(\.isNumber)
    let suffix = String(UInt16.random(in: 0...UInt16.max, using: &random), radix: 16)
    return "\(digits.prefix(8))-\(digits.dropFirst(8))-\(String(repeating: "0", count: 4 - suffix.count))\(suffix)"
}

guard let command = arguments.first else {
    fail("usage: sutradhar-history-generator history COUNT --cache-dir DIR [--seed N] | live --cache-dir DIR [--stages N] [--interval-ms M] | cache-entries COUNT --cache-dir DIR | big-log --cache-dir DIR [--megabytes N]", code: 2)
}
arguments.removeFirst()
guard let cacheDirectory = option("--cache-dir") else { fail("--cache-dir DIR is required", code: 2) }
let cacheRoot = URL(fileURLWithPath: cacheDirectory)
let history: RunHistory
do {
    history = try RunHistory(cacheRoot: cacheRoot, integrity: .never)
} catch {
    fail("\(error)", code: 3)
}

switch command {
case "history":
    var random = SeededGenerator(state: UInt64(number("--seed", default: 1)))
    guard let text = arguments.first, let count = Int(text), count > 0 else { fail("history COUNT: how many runs to write", code: 2) }
    let recorders = Dictionary(uniqueKeysWithValues: Set(triggers).map { ($0, HistoryRecorder(history: history, trigger: $0)) })
    let now = Date()
    let began = ContinuousClock.now
    for index in 0..<count {
        let start = now.addingTimeInterval(-Double(count - index) * 420)
        let shape = shapes[Int.random(in: 0..<shapes.count, using: &random)]
        let trigger = triggers[Int.random(in: 0..<triggers.count, using: &random)]
        recordRun(shape, id: runID(at: start, random: &random), start: start, failing: Int.random(in: 0..<8, using: &random) == 0,
                  recorder: recorders[trigger]!, random: &random)
        if (index + 1) % 1000 == 0 { FileHandle.standardError.write(Data("wrote \(index + 1) runs\n".utf8)) }
    }
    print("wrote \(count) runs into \(cacheRoot.path)/runs in \(ContinuousClock.now - began); the history holds \((try? history.count()) ?? -1)")
case "live":
    let stages = number("--stages", default: 8)
    let interval = number("--interval-ms", default: 500)
    let delay = number("--start-delay-ms", default: 0)
    var random = SeededGenerator(state: UInt64(UInt32.random(in: 0...UInt32.max)))
    let recorder = HistoryRecorder(history: history, trigger: "agent")
    let id = runID(at: Date(), random: &random)
    let start = Date()
    recorder.record(RunEvent(run: id, .runStarted(pipeline: "live-benchmark", source: "/srv/src/live", ref: "main",
                                                  cacheRoot: cacheRoot.path)))
    say("run: \(id)")
    // Time for followers to connect before anything happens.
    usleep(useconds_t(delay * 1000))
    var results: [StageResult] = []
    for index in 0..<stages {
        let name = "stage-\(index + 1)"
        let began = Date()
        recorder.record(RunEvent(run: id, .stageStarted(stage: name, kind: "container")))
        recorder.record(RunEvent(run: id, .log(stage: name, stream: "stdout", line: "working on \(name)")))
        usleep(useconds_t(interval * 1000))
        let result = StageResult(name: name, kind: "container", status: .passed, cached: false,
                                 durationMilliseconds: Int64(Date().timeIntervalSince(began) * 1000))
        recorder.record(RunEvent(run: id, .stageFinished(result)))
        results.append(result)
        say("stage-finished: \(name) \(RunEvent.rfc3339(Date()))")
    }
    recorder.record(RunEvent(run: id, .runFinished(RunSummary(run: id, pipeline: "live-benchmark", commit: String(repeating: "0", count: 40),
                                                              status: .passed, durationMilliseconds: Int64(Date().timeIntervalSince(start) * 1000),
                                                              stages: results))))
    say("run-finished: \(id)")
case "cache-entries":
    // COUNT build-cache entries through BuildCache.store, as stages store their results: kinds
    // and pipelines mixed, each with outputs naming no file (so each is indexed at size 0 and
    // gc's walk, not its removals, is what a benchmark times).
    guard let text = arguments.first, let count = Int(text), count > 0 else { fail("cache-entries COUNT: how many entries to write", code: 2) }
    let kinds = ["nix-build", "docker-load", "smoke", "docker-build"]
    do {
        let cache = try BuildCache(root: cacheRoot)
        for index in 0..<count {
            let kind = kinds[index % kinds.count]
            try cache.store(kind: kind, key: CacheKey(["generated", String(index)]), pipeline: shapes[index % shapes.count].pipeline,
                            outputs: ["note": "generated entry \(index)"], size: Int64(1_000 + index))
        }
        cache.releaseHolds()
    } catch {
        fail("\(error)", code: 3)
    }
    print("wrote \(count) cache entries into \(cacheRoot.path)")
case "big-log":
    // One finished run whose one stage logged MEGABYTES of 100-byte lines, through the recorder
    // as a run's own lines go (so the run's events grow with them too).
    let megabytes = number("--megabytes", default: 100)
    var random = SeededGenerator(state: 7)
    let recorder = HistoryRecorder(history: history, trigger: "local")
    let start = Date()
    let id = runID(at: start, random: &random)
    recorder.record(RunEvent(run: id, .runStarted(pipeline: "big-log", source: "/srv/src/big-log", ref: "main", cacheRoot: cacheRoot.path)))
    recorder.record(RunEvent(run: id, .stageStarted(stage: "build", kind: "nix-build")))
    let filler = String(repeating: "x", count: 89)  // 10 + 89 + a newline: 100 bytes a line
    for line in 0..<(megabytes * 10_000) {
        recorder.record(RunEvent(run: id, .log(stage: "build", stream: "stdout", line: String(format: "%09d ", line) + filler)))
    }
    let result = StageResult(name: "build", kind: "nix-build", status: .passed, cached: false,
                             durationMilliseconds: Int64(Date().timeIntervalSince(start) * 1000))
    recorder.record(RunEvent(run: id, .stageFinished(result)))
    recorder.record(RunEvent(run: id, .runFinished(RunSummary(run: id, pipeline: "big-log", commit: String(repeating: "0", count: 40),
                                                              status: .passed, durationMilliseconds: result.durationMilliseconds,
                                                              stages: [result]))))
    say("run: \(id)")
default:
    fail("unknown command '\(command)': history or live", code: 2)
}
