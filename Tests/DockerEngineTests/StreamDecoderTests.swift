import NIOCore
import Synchronization
import Testing

@testable import DockerEngine

/// The 8-byte multiplexing header followed by the payload.
private func frame(_ stream: UInt8, _ payload: [UInt8]) -> [UInt8] {
    let size = UInt32(payload.count)
    return [stream, 0, 0, 0, UInt8(size >> 24), UInt8(size >> 16 & 0xff), UInt8(size >> 8 & 0xff), UInt8(size & 0xff)] + payload
}

private func logFrame(_ stream: LogFrame.Stream, _ payload: [UInt8]) -> LogFrame {
    LogFrame(stream: stream, bytes: ByteBuffer(bytes: payload))
}

/// Several frames of both streams, one empty, one longer than 255 bytes (so the size uses two bytes).
private let long = Array(repeating: UInt8(ascii: "x"), count: 300)
private let multiplexed = frame(1, Array("hello\n".utf8)) + frame(2, Array("oops\n".utf8)) + frame(1, [])
    + frame(1, long) + frame(2, Array("e".utf8))
private let expectedFrames = [
    logFrame(.stdout, Array("hello\n".utf8)), logFrame(.stderr, Array("oops\n".utf8)), logFrame(.stdout, []),
    logFrame(.stdout, long), logFrame(.stderr, Array("e".utf8)),
]

@Suite struct MultiplexedStreamDecoderTests {
    @Test func decodesFramesSplitAtEveryByteOffset() throws {
        for split in 0...multiplexed.count {
            var decoder = MultiplexedStreamDecoder()
            var frames = try decoder.feed(ByteBuffer(bytes: multiplexed[..<split]))
            frames += try decoder.feed(ByteBuffer(bytes: multiplexed[split...]))
            frames += try decoder.finish()
            #expect(frames == expectedFrames, "split at byte \(split)")
        }
    }

    @Test func decodesFramesSplitAtEveryPairOfOffsetsInTheFirstFrames() throws {
        // Three chunks: covers a header cut in two places and a payload cut around a header.
        let prefixLength = 8 + 6 + 8 + 5 + 8
        for first in 0...prefixLength {
            for second in first...prefixLength {
                var decoder = MultiplexedStreamDecoder()
                var frames = try decoder.feed(ByteBuffer(bytes: multiplexed[..<first]))
                frames += try decoder.feed(ByteBuffer(bytes: multiplexed[first..<second]))
                frames += try decoder.feed(ByteBuffer(bytes: multiplexed[second...]))
                #expect(frames == expectedFrames, "split at \(first) and \(second)")
            }
        }
    }

    @Test func decodesByteByByteAndAllInOneChunk() throws {
        var byteByByte = MultiplexedStreamDecoder()
        var frames: [LogFrame] = []
        for byte in multiplexed {
            frames += try byteByByte.feed([byte])
        }
        #expect(frames == expectedFrames)

        var whole = MultiplexedStreamDecoder()
        #expect(try whole.feed(ByteBuffer(bytes: multiplexed)) == expectedFrames)
        #expect(expectedFrames.map(\.text) == ["hello\n", "oops\n", "", String(repeating: "x", count: 300), "e"])
    }

    @Test func rejectsRawTTYOutput() {
        var decoder = MultiplexedStreamDecoder()
        #expect {
            _ = try decoder.feed(Array("hello world\n".utf8))
        } throws: { error in
            (error as? DockerError)?.code == .badResponse && "\(error)".contains("TTY")
        }
    }

    @Test func rejectsAFrameAboveTheLimitBeforeBufferingIt() throws {
        var decoder = MultiplexedStreamDecoder(maximumFrameSize: 16)
        #expect(try decoder.feed(frame(1, Array(repeating: 0x41, count: 16))).count == 1)
        // Only the header of the oversized frame is fed: the decoder refuses on the header alone.
        #expect(throws: DockerError.self) {
            _ = try decoder.feed(Array(frame(2, Array(repeating: 0x41, count: 17)).prefix(8)))
        }
    }

    @Test func finishingInsideAFrameIsAnError() throws {
        var decoder = MultiplexedStreamDecoder()
        #expect(try decoder.feed(multiplexed.prefix(10)) == [])
        #expect(throws: DockerError.self) { _ = try decoder.finish() }
    }
}

@Suite struct JSONLinesDecoderTests {
    private let text = "{\"a\":1}\r\n{\"b\":\"two\"}\n\n{\"c\":3}"

    @Test func splitsLinesAcrossEveryChunkBoundary() throws {
        let bytes = Array(text.utf8)
        for split in 0...bytes.count {
            var decoder = JSONLinesDecoder()
            var lines = try decoder.feed(ByteBuffer(bytes: bytes[..<split]))
            lines += try decoder.feed(ByteBuffer(bytes: bytes[split...]))
            lines += try decoder.finish()
            #expect(lines.map { String(buffer: $0) } == ["{\"a\":1}", "{\"b\":\"two\"}", "{\"c\":3}"], "split at \(split)")
        }
    }

    @Test func rejectsALineLongerThanTheLimit() throws {
        var decoder = JSONLinesDecoder(maximumLineLength: 8)
        #expect(try decoder.feed(ByteBuffer(string: "12345678\n")).count == 1)
        #expect(throws: DockerError.self) { _ = try decoder.feed(ByteBuffer(string: "123456789")) }
    }
}

@Suite struct ImageLoadResponseParserTests {
    @Test func collectsLoadedNamesAndIDsAcrossEveryChunkBoundary() throws {
        let answer = Array(
            ("{\"stream\":\"Loaded image: hello-server:latest\\n\"}\r\n"
                + "{\"stream\":\"Loaded image ID: sha256:0123abcd\\n\"}\r\n").utf8
        )
        for split in 0...answer.count {
            var parser = ImageLoadResponseParser()
            try parser.feed(ByteBuffer(bytes: answer[..<split]))
            try parser.feed(ByteBuffer(bytes: answer[split...]))
            let result = try parser.finish(bytesSent: 42)
            #expect(result.images == ["hello-server:latest"], "split at \(split)")
            #expect(result.imageIDs == ["sha256:0123abcd"])
            #expect(result.bytesSent == 42)
        }
    }

    @Test func anErrorDetailInsideHTTP200FailsTheLoadWithTheDaemonsMessage() throws {
        let answer = Array(
            ("{\"stream\":\"Loaded image: a:b\\n\"}\r\n"
                + "{\"errorDetail\":{\"message\":\"unexpected EOF\"},\"error\":\"unexpected EOF\"}\r\n").utf8
        )
        for split in 0...answer.count {
            var parser = ImageLoadResponseParser()
            let error = #expect(throws: DockerError.self) {
                try parser.feed(ByteBuffer(bytes: answer[..<split]))
                try parser.feed(ByteBuffer(bytes: answer[split...]))
                _ = try parser.finish(bytesSent: 0)
            }
            #expect(error?.code == .loadFailed, "split at \(split)")
            #expect(error?.daemonMessage == "unexpected EOF")
            #expect(error?.status == 200)
        }
    }

    @Test func anAnswerNamingNoImageIsAFailure() throws {
        var parser = ImageLoadResponseParser()
        try parser.feed(ByteBuffer(string: "{\"stream\":\"\\n\"}\n"))
        let error = #expect(throws: DockerError.self) { _ = try parser.finish(bytesSent: 10) }
        #expect(error?.code == .loadFailed)
    }

    @Test func aLineThatIsNotJSONIsABadResponse() throws {
        var parser = ImageLoadResponseParser()
        let error = #expect(throws: DockerError.self) { try parser.feed(ByteBuffer(string: "<html>\n")) }
        #expect(error?.code == .badResponse)
    }
}

@Suite struct APIVersionTests {
    @Test func negotiatesTheLowerOfOursAndTheDaemons() throws {
        #expect(try APIVersion.negotiate(daemonHeader: "1.41") == APIVersion(major: 1, minor: 41))
        #expect(try APIVersion.negotiate(daemonHeader: "1.47") == APIVersion(major: 1, minor: 47))
        #expect(try APIVersion.negotiate(daemonHeader: "1.52") == APIVersion.newestSupported)
        #expect(try APIVersion.negotiate(ours: APIVersion(major: 1, minor: 44), daemonHeader: "1.45") == APIVersion(major: 1, minor: 44))
    }

    @Test func ordersNumericallyNotAsText() {
        #expect(APIVersion("1.9")! < APIVersion("1.41")!)
        #expect(APIVersion("2.0")! > APIVersion("1.47")!)
        #expect(APIVersion("1.x") == nil)
        #expect(APIVersion("1.41.2") == nil)
    }

    @Test func refusesAMissingHeaderAndATooOldDaemon() {
        #expect { try APIVersion.negotiate(daemonHeader: nil) } throws: { ($0 as? DockerError)?.code == .badResponse }
        #expect { try APIVersion.negotiate(daemonHeader: "1.24") } throws: { ($0 as? DockerError)?.code == .daemonError }
    }
}

@Suite struct BuildResponseParserLineTests {
    /// A build step that prints without newlines must not grow one string without
    /// bound; its line is cut at the limit, marked, and the next line is whole.
    @Test func aStepThatPrintsWithoutNewlinesGivesOneLineCutAtTheLimit() throws {
        let lines = Mutex<[String]>([])
        var parser = BuildResponseParser(output: { line in lines.withLock { $0.append(line) } })
        let piece = #"{"stream":""# + String(repeating: "x", count: 4096) + "\"}\n"
        for _ in 0..<256 { try parser.feed(ByteBuffer(string: piece)) }  // 1 MiB, no newline
        #expect(lines.withLock { $0 }.isEmpty, "a line was given out before it ended")
        try parser.feed(ByteBuffer(string: #"{"stream":"\nStep 2/2 : done\n"}"# + "\n" + #"{"aux":{"ID":"sha256:abc"}}"# + "\n"))
        #expect(try parser.finish() == "sha256:abc")
        let given = lines.withLock { $0 }
        #expect(given.count == 2)
        #expect(given.first == String(repeating: "x", count: BuildResponseParser.maximumLineBytes) + BuildResponseParser.truncationMarker)
        #expect(given.last == "Step 2/2 : done")
    }

    @Test func linesSplitAcrossMessagesAreJoined() throws {
        let lines = Mutex<[String]>([])
        var parser = BuildResponseParser(output: { line in lines.withLock { $0.append(line) } })
        for text in ["Step 1/2 : RUN ec", "ho hi\\nhi\\n", "\\n", "last"] {
            try parser.feed(ByteBuffer(string: #"{"stream":""# + text + "\"}\n"))
        }
        try parser.feed(ByteBuffer(string: #"{"aux":{"ID":"sha256:abc"}}"# + "\n"))
        _ = try parser.finish()
        #expect(lines.withLock { $0 } == ["Step 1/2 : RUN echo hi", "hi", "last"])
    }
}
