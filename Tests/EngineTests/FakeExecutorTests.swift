import Foundation
import RunEvents
import SutradharTesting
import Synchronization
import Testing

@testable import Engine
@testable import Pipeline

/// Scheduling, skips, timeouts and cancellation, with fake executors (`Engine(executors:)`):
/// no nix, no daemon. The checkout is real (a local git fixture repository), since it runs
/// before the scheduler. Stages are `nix-build` stages whose fake executor does what the test
/// says for each stage name; nothing here waits on a clock except the timeout tests, whose
/// stages wait for a gate that never opens until their 1 s timeout cancels them.
@Suite struct FakeExecutorTests {
    @Test func independentStagesRunInParallelUpToJobs() async throws {
        try await FakeRun.with(stages: [("a", []), ("b", []), ("c", [])]) { run in
            let tracker = Tracker()
            // Each stage waits until two have started: with jobs 2 that happens at once; with
            // one at a time it never would, and the stages' 60 s timeout would fail them.
            let summary = await run.engine({ _, _ in
                tracker.enter()
                await tracker.waitUntilStarted(2)
                tracker.leave()
                return StageOutcome(outputs: [], cached: false)
            }).run(run.plan, options: run.options(jobs: 2), sink: run.sink)

            #expect(summary.status == .passed, "\(run.transcript)")
            #expect(tracker.mostAtOnce == 2, "with --jobs 2, at most two stages should run at once and two should")
            #expect(summary.stages.map(\.name).sorted() == ["a", "b", "c", "checkout"])
        }
    }

    @Test func aFailureSkipsItsDependantsButNotIndependentStages() async throws {
        try await FakeRun.with(stages: [("a", []), ("b", ["a"]), ("c", ["b"]), ("d", [])]) { run in
            let summary = await run.engine({ name, _ in
                if name == "a" { throw StageFailure(.nixBuildFailed, "a builder failed") }
                return StageOutcome(outputs: [], cached: false)
            }).run(run.plan, options: run.options(jobs: 1), sink: run.sink)

            #expect(summary.status == .failed)
            #expect(summary.environmentProblem == nil, "a failing build is the commit's problem, not the machine's")
            let a = try #require(summary.stage("a"))
            #expect(a.status == .failed && a.error == "a builder failed" && a.code == "nix-build-failed")
            let b = try #require(summary.stage("b"))
            #expect(b.status == .skipped && b.error == "'a' failed" && b.code == "dependency-failed")
            let c = try #require(summary.stage("c"))
            #expect(c.status == .skipped && c.error == "'b' skipped" && c.code == "dependency-failed")
            #expect(summary.stage("d")?.status == .passed)
            #expect(summary.stage("d")?.code == nil, "a passed stage has no code")
            // The JSON carries the code right after the error.
            let line = RunEvent(run: "r", .stageFinished(a)).jsonLine()
            #expect(line.contains(#""error":"a builder failed","code":"nix-build-failed"}"#), "\(line)")
        }
    }

    @Test func aStageTimeoutFailsThatStageWithTheTimeoutMessageAndCancelsItsWork() async throws {
        try await FakeRun.with(stages: [("slow", []), ("after", ["slow"]), ("other", [])], timeouts: ["slow": "1s"]) { run in
            let sawCancellation = Mutex(false)
            let never = Gate()
            let summary = await run.engine({ name, _ in
                guard name == "slow" else { return StageOutcome(outputs: [], cached: false) }
                await never.wait()
                sawCancellation.withLock { $0 = Task.isCancelled }
                throw CancellationError()
            }).run(run.plan, options: run.options(jobs: 2), sink: run.sink)

            let slow = try #require(summary.stage("slow"))
            #expect(slow.status == .failed)
            #expect(slow.code == "timeout")
            #expect(slow.error == "timed out after 1s; raise the stage's 'timeout' if it needs longer")
            #expect(sawCancellation.withLock { $0 }, "the timed-out stage's work was not cancelled")
            #expect(summary.stage("after")?.status == .skipped)
            #expect(summary.stage("other")?.status == .passed)
            #expect(summary.status == .failed && summary.environmentProblem == nil)
        }
    }

    @Test func aKindsDefaultTimeoutAppliesToAStageThatSetsNone() async throws {
        try await FakeRun.with(stages: [("slow", [])]) { run in
            let never = Gate()
            let engine = Engine(executors: [AnyStageExecutor(FakeExecutor<OneSecond>(behaviour: { _, _ in
                await never.wait()
                throw CancellationError()
            }))])
            let summary = await engine.run(run.plan, options: run.options(jobs: 1), sink: run.sink)

            // Before the default was a protocol requirement, every kind got 30 minutes here.
            let slow = try #require(summary.stage("slow"))
            #expect(slow.code == "timeout" && slow.error?.hasPrefix("timed out after 1s") == true, "\(run.transcript)")
        }
    }

    @Test func theSchedulerResolvesEachKindsDefaultTimeout() throws {
        let yaml = """
            version: 1
            name: defaults
            source: { path: /nonexistent }
            stages:
              build: { nix-build: {} }
              load: { docker-load: { from: build } }
              smoke: { smoke: { image: load, probe: { exec: [true] } } }
              test: { container: { image: load, command: [true] } }
              bounded:
                timeout: 90s
                nix-build: {}

            """
        let plan = try FakeRun.plan(yaml)
        func resolved(_ name: String) throws -> Duration {
            let stage = try #require(plan.stages.first { $0.name == name })
            return StageRunner.timeout(of: stage, executor: Engine.executors.first { $0.kind == stage.kind })
        }
        #expect(try resolved("build") == .seconds(2 * 3600))
        #expect(try resolved("smoke") == .seconds(5 * 60))
        #expect(try resolved("load") == .seconds(30 * 60))
        #expect(try resolved("test") == .seconds(30 * 60))
        #expect(try resolved("bounded") == .seconds(90))
    }

    @Test func cancellingTheRunMarksRunningAndPendingStagesCancelled() async throws {
        try await FakeRun.with(stages: [("a", []), ("b", ["a"]), ("c", [])]) { run in
            let started = Gate()
            let never = Gate()
            let engine = run.engine({ name, _ in
                guard name == "a" else { return StageOutcome(outputs: [], cached: false) }
                started.open()
                await never.wait()
                throw CancellationError()
            })
            // jobs 1: while `a` runs, `b` (needs a) and `c` (independent) are pending.
            let task = Task { await engine.run(run.plan, options: run.options(jobs: 1), sink: run.sink) }
            await started.wait()
            task.cancel()
            let summary = await task.value

            #expect(summary.status == .cancelled)
            for name in ["a", "b", "c"] {
                let stage = try #require(summary.stage(name), "\(run.transcript)")
                #expect(stage.status == .cancelled && stage.code == "cancelled", "\(name): \(stage.status) \(stage.code ?? "-")")
            }
            #expect(summary.environmentProblem == nil)
        }
    }

    @Test func aStageOfAKindTheEngineCannotRunFailsAsInternal() async throws {
        try await FakeRun.with(stages: [("a", [])]) { run in
            let summary = await Engine(executors: []).run(run.plan, options: run.options(jobs: 1), sink: run.sink)
            #expect(summary.stage("a")?.status == .failed)
            #expect(summary.stage("a")?.code == "internal")
        }
    }
}

// MARK: - Fakes

/// Runs `nix-build` stages by calling `behaviour` with the stage's name; needs neither nix nor
/// a daemon. Its kind's default timeout is `DefaultTimeout`'s.
struct FakeExecutor<DefaultTimeout: FakeTimeout>: StageExecutor {
    typealias Spec = NixBuildSpec
    static var needsDocker: Bool { false }
    static var needsNix: Bool { false }
    static var defaultTimeout: Duration { DefaultTimeout.duration }
    let behaviour: @Sendable (String, StageContext) async throws -> StageOutcome

    func execute(_ spec: NixBuildSpec, context: StageContext) async throws -> StageOutcome {
        try await behaviour(context.stage.name, context)
    }
}

/// A fake kind's default timeout.
protocol FakeTimeout { static var duration: Duration { get } }
/// Long enough for any fake stage that is not meant to time out.
enum OneMinute: FakeTimeout { static var duration: Duration { .seconds(60) } }
/// For a stage meant to time out by its kind's default.
enum OneSecond: FakeTimeout { static var duration: Duration { .seconds(1) } }

/// A pipeline of fake `nix-build` stages over a one-commit local repository, with a fresh cache.
final class FakeRun: Sendable {
    let workspace: Workspace
    let plan: Plan
    private let events = Mutex<[String]>([])

    init(workspace: Workspace, plan: Plan) {
        self.workspace = workspace
        self.plan = plan
    }

    /// Makes the repository and the plan (`stages`: name and needs; `timeouts`: `timeout:` by name).
    static func with(stages: [(String, [String])], timeouts: [String: String] = [:],
                     _ body: (FakeRun) async throws -> Void) async throws {
        try await Workspace.with { workspace in
            let repository = try makeRepository(at: workspace.root.appendingPathComponent("repo"))
            try repository.commit("one file", files: ["README": "fake\n"])
            var yaml = """
                version: 1
                name: fake
                source: { git: "\(repository.directory.path)", ref: main }
                stages:

                """
            for (name, needs) in stages {
                yaml += "  \(name):\n"
                if !needs.isEmpty { yaml += "    needs: [\(needs.joined(separator: ", "))]\n" }
                if let timeout = timeouts[name] { yaml += "    timeout: \(timeout)\n" }
                yaml += "    nix-build: { installable: \".#\(name)\" }\n"
            }
            try await body(FakeRun(workspace: workspace, plan: try plan(yaml)))
        }
    }

    /// Plans `yaml` with every kind this build implements.
    static func plan(_ yaml: String) throws -> Plan {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sutradhar-fake-\(UUID().uuidString).yaml")
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        return try PipelineLoader.load(path: file.path, implementedKinds: Engine.implementedKinds)
    }

    /// An engine whose only kind, `nix-build`, is `behaviour`.
    func engine(_ behaviour: @escaping @Sendable (String, StageContext) async throws -> StageOutcome) -> Engine {
        Engine(executors: [AnyStageExecutor(FakeExecutor<OneMinute>(behaviour: behaviour))])
    }

    /// Options with this workspace's cache; one run slot is plenty.
    func options(jobs: Int) -> RunOptions {
        RunOptions(cacheRoot: workspace.cache, jobs: jobs, maxRuns: 4)
    }

    /// Collects every event's JSON, for failure messages.
    var sink: EventSink {
        { [self] event in events.withLock { $0.append(event.jsonLine()) } }
    }

    /// The events so far, one per line.
    var transcript: String { events.withLock { $0.joined(separator: "\n") } }
}

extension RunSummary {
    /// The result of the stage `name`.
    func stage(_ name: String) -> StageResult? { stages.first { $0.name == name } }
}

/// Counts stages running at once and lets them wait until enough have started.
final class Tracker: Sendable {
    private let state = Mutex((running: 0, most: 0, started: 0))
    private let enough = Mutex<[Int: Gate]>([:])

    func enter() {
        let started = state.withLock { state -> Int in
            state.running += 1
            state.started += 1
            state.most = max(state.most, state.running)
            return state.started
        }
        for count in 1...started { gate(count).open() }
    }

    func leave() { state.withLock { $0.running -= 1 } }

    /// Returns once `count` stages have started (or the task is cancelled).
    func waitUntilStarted(_ count: Int) async { await gate(count).wait() }

    var mostAtOnce: Int { state.withLock { $0.most } }

    private func gate(_ count: Int) -> Gate {
        enough.withLock { gates in
            if let gate = gates[count] { return gate }
            let gate = Gate()
            gates[count] = gate
            return gate
        }
    }
}

/// Waiters suspend until `open()`; a waiter's cancellation also ends its wait.
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [UUID: CheckedContinuation<Void, Never>])>((false, [:]))

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        waiters.forEach { $0.resume() }
    }

    func wait() async {
        let id = UUID()
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    // Checked under the lock: a cancellation before this line finds no waiter to resume.
                    if state.open || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}

/// What a stage kind can do is declared by the kind, and the registries of Pipeline and Engine agree.
@Suite struct StageKindTests {
    @Test func capabilitiesAreDeclaredByEachKind() {
        #expect(Engine.imageProducingKinds == ["docker-build", "docker-load"])
        #expect(Engine.executors.filter(\.needsNix).map(\.kind) == ["nix-build"])
        #expect(Set(Engine.executors.filter(\.needsDocker).map(\.kind)) == ["docker-load", "smoke", "container", "docker-build"])
    }

    @Test func everyKindAPipelineMayUseHasAnExecutorAndTheyAgreeOnImages() {
        #expect(Set(StageKinds.names) == Engine.implementedKinds)
        #expect(StageKinds.imageProducing.sorted() == Engine.imageProducingKinds)
    }
}
