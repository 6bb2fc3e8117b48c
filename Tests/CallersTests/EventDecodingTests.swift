import Engine
import Foundation
import RunEvents
import Testing

/// The events read back as typed values: decoding a line and encoding it again gives the same
/// bytes, key order included, for every golden file (the schema-1 contract) and for the
/// optional fields no golden file shows.
@Suite struct EventDecodingTests {
    /// Values of the right type for the golden files' placeholders that are not strings of any
    /// form: a time must parse as one, a run ID is free text but kept realistic.
    private static let placeholders = ["\"<time>\"": "\"2026-11-29T06:52:12.345Z\"", "\"<run>\"": "\"20261129-065212-4f3a\""]

    @Test(arguments: try FileManager.default.contentsOfDirectory(atPath: GoldenFiles.folder.path).filter { $0.hasSuffix(".json") }.sorted())
    func everyGoldenEventDecodesAndEncodesToTheSameLine(file: String) throws {
        var text = try String(contentsOf: GoldenFiles.folder.appendingPathComponent(file), encoding: .utf8)
        for (placeholder, value) in Self.placeholders { text = text.replacingOccurrences(of: placeholder, with: value) }
        let line = try #require(OrderedJSON(parsing: text)).compact

        let event = try RunEvent(jsonLine: line)

        #expect(event.jsonLine() == line)
        // A golden file is named for its event, then what its example shows: stage-finished-failed.json.
        let eventNames = ["run-started", "queued", "stage-started", "stage-waiting", "log", "warning", "stage-finished", "run-finished"]
        #expect(eventNames.contains(event.name))
        #expect(file == event.name + ".json" || file.hasPrefix(event.name + "-"))
        #expect(event.run == "20261129-065212-4f3a")
    }

    @Test func optionalFieldsAndAwkwardTextSurviveTheRoundTrip() throws {
        let failed = StageResult(name: "smoke", kind: "smoke", status: .failed, cached: false, durationMilliseconds: 5012,
                                 outputs: [("exit_code", .int(-1)), ("ratio", .double(0.25)), ("nothing", .null), ("list", .array([true, "x"]))],
                                 error: "probe \"/health\" failed:\n\tline two \u{1}", code: .probeFailed)
        let summary = RunSummary(run: "r1", pipeline: "p", commit: "", status: .failed, durationMilliseconds: 9,
                                 stages: [failed], warnings: ["ünïcode ✓ 🚀"], environmentProblem: "nix is missing")
        let events = [
            RunEvent(run: "r1", .stageFinished(failed), time: Date(timeIntervalSince1970: 1_764_399_132.999)),
            RunEvent(run: "r1", .runFinished(summary), time: Date(timeIntervalSince1970: 0)),
            RunEvent(run: "r1", .runStarted(pipeline: "p", source: "/src", ref: nil, cacheRoot: "/c")),
            RunEvent(run: "r1", .stageWaiting(stage: "b", reason: "held", heldBy: nil)),
            RunEvent(run: "r1", .warning(stage: "b", message: "w")),
        ]
        for event in events {
            let decoded = try RunEvent(jsonLine: event.jsonLine() + "\n")
            #expect(decoded.jsonLine() == event.jsonLine())
        }
        guard case .runFinished(let decoded) = try RunEvent(jsonLine: events[1].jsonLine()).body else {
            Issue.record("not a run-finished event")
            return
        }
        #expect(decoded.stages.first?.code == "probe-failed")
        #expect(decoded.stages.first?.error == failed.error)
        #expect(decoded.environmentProblem == "nix is missing")
        #expect(decoded.warnings == ["ünïcode ✓ 🚀"])
    }

    @Test func aLineThatIsNotAnEventSaysWhichFieldIsWrong() {
        let cases = [
            #"{"event":"run-finished","schema":1,"time":"2026-11-29T06:52:12.345Z","run":"r","pipeline":"p","commit":"","status":"passed","duration_ms":1,"stages":[{"name":"a","kind":"k","status":"lost","cached":false,"duration_ms":0,"outputs":{}}],"warnings":[]}"#:
                "stages[0].status",
            #"{"event":"queued","schema":2,"time":"2026-11-29T06:52:12.345Z","run":"r","reason":"x"}"#: "schema 2",
            #"{"event":"queued","schema":1,"time":"yesterday","run":"r","reason":"x"}"#: "time",
            #"{"event":"queued","schema":1,"time":"2026-11-29T06:52:12.345Z","run":"r"}"#: "reason: missing",
            #"{"event":"queued","#: "at byte 18",
        ]
        for (line, expected) in cases {
            let error = #expect(throws: EventDecodingError.self) { try RunEvent(jsonLine: line) }
            #expect(error?.message.contains(expected) == true, "\(error?.message ?? "no error") does not name \(expected)")
        }
    }

    @Test func eventsAreCodableWithinOtherValues() throws {
        struct Envelope: Codable { let events: [RunEvent] }
        let event = RunEvent(run: "r", .log(stage: "build", stream: "stderr", line: "hello"), time: Date(timeIntervalSince1970: 1))
        let data = try JSONEncoder().encode(Envelope(events: [event]))
        let decoded = try JSONDecoder().decode(Envelope.self, from: data)
        #expect(decoded.events.map { $0.jsonLine() } == [event.jsonLine()])
    }
}
