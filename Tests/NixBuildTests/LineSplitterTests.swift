@testable import NixBuild
import Testing

@Suite struct LineSplitterTests {
    @Test func linesSplitAcrossChunksAreReassembled() {
        var splitter = LineSplitter(maxLineBytes: 100)
        #expect(splitter.feed(Array("buil".utf8)).isEmpty)
        #expect(splitter.feed(Array("ding 'x'\nsecond".utf8)) == ["building 'x'"])
        #expect(splitter.feed(Array(" line\r\nthird".utf8)) == ["second line"])
        #expect(splitter.finish() == "third")
        #expect(splitter.finish() == nil)
    }

    @Test func overlongLineIsTruncatedNotBuffered() {
        var splitter = LineSplitter(maxLineBytes: 8)
        let lines = splitter.feed(Array(String(repeating: "a", count: 10_000).utf8) + Array("\nok\n".utf8))
        #expect(lines == ["aaaaaaaa" + LineSplitter.truncationMarker, "ok"])
    }

    @Test func emptyLinesAreKept() {
        var splitter = LineSplitter(maxLineBytes: 8)
        #expect(splitter.feed(Array("\n\nx\n".utf8)) == ["", "", "x"])
    }

    @Test func logTailKeepsTheLastLinesInOrder() {
        var tail = LogTail(limit: 3)
        for number in 1...7 { tail.append("line \(number)") }
        #expect(tail.lines == ["line 5", "line 6", "line 7"])
        var short = LogTail(limit: 3)
        short.append("only")
        #expect(short.lines == ["only"])
    }

    @Test func procStatIsParsedFromAfterTheCommandName() {
        // A command name may hold spaces and parentheses.
        let line = "4242 (sh (x) y) S 4200 4242 4242 0 -1 4194560 10 0 0 0 0 0 0 0 20 0 1 0 987654 1 2 3\n"
        let record = ProcessTree.parseStat(line)
        #expect(record == ProcessRecord(pid: 4242, parentPID: 4200, processGroupID: 4242, startTime: 987654))
        #expect(ProcessTree.parseStat("garbage") == nil)
    }
}
