import Foundation
import RunEvents
import Testing

@testable import Engine

/// The JSON event lines are a documented contract: exact keys, in order, `event` first.
@Suite struct EventEncodingTests {
    /// 2026-11-29T06:52:12.125Z (the fraction is exact in binary, so the milliseconds are too).
    static let time = Date(timeIntervalSince1970: 1_795_935_132.125)
    static let prefix = #"{"event":"EVENT","schema":1,"time":"2026-11-29T06:52:12.125Z","run":"20261129-065212-00ff","#

    private func line(_ body: RunEvent.Body) -> String {
        RunEvent(run: "20261129-065212-00ff", body, time: Self.time).jsonLine()
    }

    private func expected(_ event: String, _ rest: String) -> String {
        Self.prefix.replacingOccurrences(of: "EVENT", with: event) + rest
    }

    @Test func runStartedHasItsKeysInOrder() {
        #expect(line(.runStarted(pipeline: "example", source: "/src/hello", ref: "main", cacheRoot: "/var/cache/s"))
            == expected("run-started", #""pipeline":"example","source":"/src/hello","ref":"main","cache_root":"/var/cache/s"}"#))
        #expect(line(.runStarted(pipeline: "example", source: "/src/hello", ref: nil, cacheRoot: "/c"))
            == expected("run-started", #""pipeline":"example","source":"/src/hello","ref":null,"cache_root":"/c"}"#))
    }

    @Test func queuedSaysWhy() {
        #expect(line(.queued(reason: "2 runs are working on this cache"))
            == expected("queued", #""reason":"2 runs are working on this cache"}"#))
    }

    @Test func stageEventsHaveTheirKeysInOrder() {
        #expect(line(.stageStarted(stage: "image", kind: "nix-build"))
            == expected("stage-started", #""stage":"image","kind":"nix-build"}"#))
        #expect(line(.stageWaiting(stage: "image", reason: "another run builds it", heldBy: nil))
            == expected("stage-waiting", #""stage":"image","reason":"another run builds it","held_by":null}"#))
        #expect(line(.stageWaiting(stage: "image", reason: "r", heldBy: LockHolder(run: "20261129-065212-4f3a", stage: "build")))
            == expected("stage-waiting", #""stage":"image","reason":"r","held_by":{"run":"20261129-065212-4f3a","stage":"build"}}"#))
        #expect(line(.log(stage: "image", stream: "stderr", line: "building"))
            == expected("log", #""stage":"image","stream":"stderr","line":"building"}"#))
        #expect(line(.warning(stage: nil, message: "rootful daemon"))
            == expected("warning", #""stage":null,"message":"rootful daemon"}"#))
        #expect(line(.warning(stage: "smoke", message: "limits not enforced"))
            == expected("warning", #""stage":"smoke","message":"limits not enforced"}"#))
    }

    @Test func stageFinishedCarriesTheResultWithOutputsAndErrorAndItsCode() {
        let passed = StageResult(name: "image", kind: "nix-build", status: .passed, cached: true, durationMilliseconds: 42,
                                 outputs: [("out", "/nix/store/abc-image"), ("drv", "/nix/store/abc.drv")])
        #expect(line(.stageFinished(passed)) == expected("stage-finished",
            #""stage":"image","kind":"nix-build","status":"passed","cached":true,"duration_ms":42,"#
            + #""outputs":{"out":"/nix/store/abc-image","drv":"/nix/store/abc.drv"}}"#))
        let failed = StageResult(name: "smoke", kind: "smoke", status: .failed, cached: false, durationMilliseconds: 0,
                                 outputs: [("exit_code", .int(137))], error: "probe failed", code: .probeFailed)
        #expect(line(.stageFinished(failed)) == expected("stage-finished",
            #""stage":"smoke","kind":"smoke","status":"failed","cached":false,"duration_ms":0,"outputs":{"exit_code":137},"error":"probe failed","code":"probe-failed"}"#))
    }

    @Test func anErrorWithoutACodeIsCodedInternalAndNoErrorHasNoCode() {
        let uncoded = StageResult(name: "x", kind: "smoke", status: .failed, cached: false, durationMilliseconds: 0, error: "odd")
        #expect(uncoded.code == "internal")
        let passed = StageResult(name: "x", kind: "smoke", status: .passed, cached: false, durationMilliseconds: 0, code: .timeout)
        #expect(passed.code == nil)
        #expect(!line(.stageFinished(passed)).contains(#""code""#))
    }

    @Test func runFinishedIsTheWholeSummary() {
        let stages = [
            StageResult(name: "checkout", kind: "checkout", status: .passed, cached: false, durationMilliseconds: 5,
                        outputs: [("fetched", false)]),
            StageResult(name: "image", kind: "nix-build", status: .skipped, cached: false, durationMilliseconds: 0,
                        error: "not started", code: .nixMissing),
        ]
        let summary = RunSummary(run: "20261129-065212-00ff", pipeline: "example", commit: String(repeating: "a", count: 40),
                                 status: .failed, durationMilliseconds: 1234, stages: stages, warnings: ["careful"],
                                 environmentProblem: "nix is missing")
        #expect(line(.runFinished(summary)) == expected("run-finished",
            #""pipeline":"example","commit":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","status":"failed","duration_ms":1234,"stages":["#
            + #"{"name":"checkout","kind":"checkout","status":"passed","cached":false,"duration_ms":5,"outputs":{"fetched":false}},"#
            + #"{"name":"image","kind":"nix-build","status":"skipped","cached":false,"duration_ms":0,"outputs":{},"error":"not started","code":"nix-missing"}],"#
            + #""warnings":["careful"],"environment_problem":"nix is missing"}"#))
        let clean = RunSummary(run: "r", pipeline: "p", commit: "", status: .passed, durationMilliseconds: 1,
                               stages: [], warnings: [], environmentProblem: nil)
        #expect(!RunEvent(run: "r", .runFinished(clean)).jsonLine().contains("environment_problem"))
    }

    @Test func everyEventKindNamesItselfFirst() {
        let bodies: [RunEvent.Body] = [
            .runStarted(pipeline: "p", source: "s", ref: nil, cacheRoot: "c"), .queued(reason: "q"),
            .stageStarted(stage: "s", kind: "k"),
            .stageWaiting(stage: "s", reason: "r", heldBy: nil), .log(stage: "s", stream: "stdout", line: "l"),
            .warning(stage: nil, message: "m"),
            .stageFinished(StageResult(name: "s", kind: "k", status: .cancelled, cached: false, durationMilliseconds: 3)),
            .runFinished(RunSummary(run: "r", pipeline: "p", commit: "", status: .cancelled, durationMilliseconds: 0,
                                    stages: [], warnings: [], environmentProblem: nil)),
        ]
        let names = ["run-started", "queued", "stage-started", "stage-waiting", "log", "warning", "stage-finished", "run-finished"]
        for (body, name) in zip(bodies, names) {
            let event = RunEvent(run: "r", body, time: Self.time)
            #expect(event.name == name)
            let text = event.jsonLine()
            #expect(text.hasPrefix(#"{"event":"\#(name)","schema":1,"time":"2026-11-29T06:52:12.125Z","run":"r""#), "\(text)")
            #expect(!text.contains("\n"))
            let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
            #expect(object?["event"] as? String == name)
        }
    }

    @Test func controlCharactersAndQuotesAreEscaped() throws {
        let nasty = "say \"hi\" \\ back\nnext\rline\ttab\u{0}nul\u{1}\u{1B}[31mred\u{1F} é ✓ 🚀 \u{7F}"
        let text = line(.log(stage: "st\"age", stream: "stderr", line: nasty))
        #expect(text == expected("log", #""stage":"st\"age","stream":"stderr","#
            + #""line":"say \"hi\" \\ back\nnext\rline\ttab\u0000nul\u0001\u001b[31mred\u001f é ✓ 🚀 "# + "\u{7F}\"}"))
        // Nothing below U+0020 survives raw, so every event is one line a JSON reader accepts.
        #expect(!text.unicodeScalars.contains { $0.value < 0x20 })
        let object = try #require((try JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any])
        #expect(object["line"] as? String == nasty)
        #expect(object["stage"] as? String == "st\"age")
    }

    @Test func rfc3339IsUTCWithMilliseconds() {
        #expect(RunEvent.rfc3339(Self.time) == "2026-11-29T06:52:12.125Z")
        #expect(RunEvent.rfc3339(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
        #expect(RunEvent.rfc3339(Date(timeIntervalSince1970: 951_868_799.5)) == "2000-02-29T23:59:59.500Z")
        // Milliseconds are truncated, never rounded up into the next second.
        #expect(RunEvent.rfc3339(Date(timeIntervalSince1970: 1_795_935_132.9996)) == "2026-11-29T06:52:12.999Z")
        #expect(RunEvent.rfc3339(Date(timeIntervalSince1970: -0.5)) == "1969-12-31T23:59:59.500Z")
    }

    @Test func jsonValueSerializesCompactlyInInsertionOrder() {
        let value: JSONValue = .object([
            ("z", "last-first"), ("a", .int(-3)), ("pi", .double(1.5)), ("inf", .double(.infinity)),
            ("yes", true), ("no", .bool(false)), ("none", .null),
            ("list", .array([1, "two", .array([]), .object([])])), ("k\"ey\n", "v"),
        ])
        #expect(value.serialized()
            == #"{"z":"last-first","a":-3,"pi":1.5,"inf":null,"yes":true,"no":false,"none":null,"list":[1,"two",[],{}],"k\"ey\n":"v"}"#)
        #expect(value["a"] == .int(-3))
        #expect(value["missing"] == nil)
        #expect(value["z"]?.stringValue == "last-first")
        #expect(value["a"]?.stringValue == nil)
        #expect(JSONValue.array([1])["a"] == nil)
        // Equal when they serialise alike, so key order matters.
        #expect(JSONValue.object([("a", 1), ("b", 2)]) != JSONValue.object([("b", 2), ("a", 1)]))
        #expect(JSONValue.object([("a", 1)]) == JSONValue.object([("a", .int(1))]))
        #expect(Set([JSONValue.string("x"), "x", .int(1)]).count == 2)
    }
}
