import Testing
@testable import Pipeline

@Suite struct ByteSizeTests {
    @Test(arguments: [
        ("512MiB", Int64(512) << 20),
        ("20GiB", Int64(20) << 30),
        ("1.5G", Int64(3) << 29),
        ("100KB", 100_000),
        ("100kb", 100_000),
        ("4096", 4096),
        ("4096B", 4096),
        ("2 TiB", Int64(2) << 40),
        ("1k", 1024),
        ("3MB", 3_000_000),
        (" 64MiB ", Int64(64) << 20),
    ])
    func parsesBinaryAndDecimalUnits(_ text: String, _ bytes: Int64) {
        #expect(ByteSize(parsing: text)?.bytes == bytes)
    }

    @Test(arguments: ["lots", "", "MiB", "-1MiB", "1.5.5G", "12 parsecs", ".5G", "10ib", "inf", "nan", "99999999999TiB"])
    func refusesAnythingElse(_ text: String) {
        #expect(ByteSize(parsing: text) == nil)
    }

    @Test func describesInTheLargestBinaryUnitThatKeepsTheNumberAtLeastOne() {
        #expect(ByteSize(bytes: 512).description == "512 B")
        #expect(ByteSize(bytes: 1 << 20).description == "1 MiB")
        #expect(ByteSize(bytes: 3 << 29).description == "1.5 GiB")
        #expect(ByteSize(bytes: 1023).description == "1023 B")
        #expect(ByteSize(bytes: 1024 + 512).description == "1.5 KiB")
        #expect(ByteSize(bytes: Int64(5) << 40).description == "5 TiB")
    }

    @Test func ordersByBytes() {
        #expect(ByteSize(parsing: "1GB")! < ByteSize(parsing: "1GiB")!)
        #expect(ByteSize(parsing: "1024KiB") == ByteSize(parsing: "1MiB"))
    }
}

@Suite struct DurationTextTests {
    @Test(arguments: [
        ("250ms", Duration.milliseconds(250)),
        ("30s", .seconds(30)),
        ("5m", .seconds(300)),
        ("1h30m", .seconds(5400)),
        ("14d", .seconds(14 * 86_400)),
        ("2w", .seconds(14 * 86_400)),
        ("1m500ms", .milliseconds(60_500)),
        (" 45s ", .seconds(45)),
    ])
    func parsesNumberUnitPairs(_ text: String, _ duration: Duration) {
        #expect(DurationText.parse(text) == duration)
    }

    @Test(arguments: ["5 minutes", "0s", "0ms", "", "30", "s", "1.5h", "-5s", "5y", "1h 30m", "9223372036854775807d",
                      "9223372036854775s9223372036854775s"])
    func refusesAnythingElse(_ text: String) {
        #expect(DurationText.parse(text) == nil)
    }

    @Test func formatsInItsShortestForm() {
        #expect(DurationText.format(.milliseconds(250)) == "250ms")
        #expect(DurationText.format(.seconds(90)) == "1m30s")
        #expect(DurationText.format(.seconds(3600)) == "1h")
        #expect(DurationText.format(.seconds(3605)) == "1h5s")
        #expect(DurationText.format(.seconds(14 * 86_400)) == "14d")
        #expect(DurationText.format(.zero) == "0ms")
        #expect(DurationText.format(.milliseconds(1500)) == "1s")
    }

    @Test func formatThenParseKeepsWholeSeconds() {
        for seconds in [1, 59, 61, 3599, 86_401, 1_000_000] as [Int64] {
            #expect(DurationText.parse(DurationText.format(.seconds(seconds))) == .seconds(seconds))
        }
    }
}

@Suite struct DidYouMeanTests {
    @Test func suggestsTheClosestCandidateForATypo() {
        #expect(DidYouMean.suggestion(for: "stgaes", among: ["version", "name", "stages", "schedule"]) == "stages")
        #expect(DidYouMean.suggestion(for: "nix-biuld", among: ["needs", "timeout", "nix-build", "smoke"]) == "nix-build")
        #expect(DidYouMean.suggestion(for: "STAGES", among: ["stages"]) == "stages")
    }

    @Test func suggestsNothingForAFarWord() {
        #expect(DidYouMean.suggestion(for: "owner", among: ["version", "name", "stages"]) == nil)
        #expect(DidYouMean.suggestion(for: "x", among: [String]()) == nil)
        #expect(DidYouMean.hint(for: "compile", among: ["smoke", "container"]) == "")
    }

    @Test func prefersTheNearestAndThenTheFirst() {
        #expect(DidYouMean.suggestion(for: "nedds", among: ["nodes", "needs"]) == "needs")
        #expect(DidYouMean.suggestion(for: "abc", among: ["abd", "abe"]) == "abd")
    }

    @Test func hintIsWrittenAsAClause() {
        #expect(DidYouMean.hint(for: "imgae", among: ["image", "load"]) == "; did you mean 'image'?")
    }

    @Test func editDistanceCountsInsertionsDeletionsAndSubstitutions() {
        #expect(DidYouMean.editDistance("kitten", "sitting") == 3)
        #expect(DidYouMean.editDistance("", "abc") == 3)
        #expect(DidYouMean.editDistance("abc", "") == 3)
        #expect(DidYouMean.editDistance("same", "same") == 0)
        #expect(DidYouMean.editDistance("stgaes", "stages") == 2)
        #expect(DidYouMean.editDistance("café", "cafe") == 1)
    }
}
