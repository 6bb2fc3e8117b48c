import DockerEngine
import Testing

/// The Dockerfile read as the classic builder reads it, for what a build would fetch from outside
/// the daemon: hostile spellings of the same instructions find the same things.
@Suite struct DockerfileTests {
    typealias Finding = Dockerfile.Finding

    static func images(_ text: String, _ buildArgs: [String: String] = [:]) -> [String] {
        Dockerfile(text, buildArgs: buildArgs).requiredImages
    }

    static func findings(_ text: String, _ buildArgs: [String: String] = [:]) -> [Finding] {
        Dockerfile(text, buildArgs: buildArgs).findings
    }

    @Test func fromLinesGiveBaseImagesWithArgsExpandedAndStageAliasesSkipped() {
        let file = Dockerfile("ARG BASE=busybox:1\nFROM ${BASE} AS build\nRUN x\nFROM --platform=linux/amd64 build\nFROM scratch\nFROM app:ci\n",
                              buildArgs: ["BASE": "mine:2"])
        #expect(file.baseImages == ["mine:2", "app:ci"])
        #expect(file.froms.map(\.line) == [2, 4, 5, 6])
        let rewritten = Dockerfile(file.replacingBases(["app:ci"], with: "sha256:abc"))
        #expect(rewritten.froms.last?.image == "sha256:abc")
        #expect(rewritten.froms.last?.line == 6, "the rewrite keeps line numbers")
    }

    @Test func fromWithAnArgWithoutValueIsUnresolvedNotSkipped() {
        #expect(Self.findings("ARG UNSET\nFROM $UNSET\n") == [Finding(line: 2, kind: .unresolved, instruction: "FROM", value: "$UNSET")])
        #expect(Self.images("ARG UNSET\nFROM ${UNSET:-alpine:3.19}\n") == ["alpine:3.19"], "the default of :- counts")
        #expect(Self.images("ARG SET=x\nFROM ${SET:+alpine}\n") == ["alpine"])
        #expect(Self.images("FROM ${NEVER:-busybox}\n") == ["busybox"], "an ARG never declared is empty before FROM")
        #expect(Self.findings("ARG X=a\nFROM ${X%a}\n").map(\.kind) == [.unresolved], "an expansion not modelled is refused")
        #expect(Self.images("ARG B=alp\nFROM \"${B}ine\":'3.19'\n") == ["alpine:3.19"], "quotes are removed as the lexer does")
    }

    @Test func continuationsSplitAnInstructionOverLinesWithCommentsAndBlankLinesInside() {
        let text = "FROM \\\n\n  # a comment inside\n   alpine:3.19 \\  \n AS base\nRUN echo hi\n"
        let file = Dockerfile(text)
        #expect(file.requiredImages == ["alpine:3.19"])
        #expect(file.findings.first?.line == 1, "the instruction's first line is named")
        #expect(file.froms.first?.alias == "base")
        #expect(Self.images("from \\\nbusybox\n") == ["busybox"], "instructions in any case")
        #expect(Self.images("\\\nFROM busybox\n") == ["busybox"], "a lone escape joins the next line")
        #expect(Self.images("\u{FEFF}FROM a\r\nFROM b\r\n") == ["a", "b"], "BOM and CRLF")
    }

    @Test func escapeDirectiveChangesTheContinuationCharacterOnlyAtTheTop() {
        let backtick = "# escape=`\nFROM `\n  alpine:3.19\nRUN dir c:\\\n"
        #expect(Self.images(backtick) == ["alpine:3.19"])
        #expect(Dockerfile(backtick).findings.allSatisfy { $0.line == 2 })
        // A backslash is no continuation with a backtick escape: `FROM busybox\` is one image.
        #expect(Self.images("#escape = `\nFROM busybox \\\nCOPY --from=alpine / /\n") == ["busybox", "alpine"])
        // After an instruction (or a comment) the directive is a comment: `\` continues.
        #expect(Self.images("# hello\n# escape=`\nFROM busybox `\nFROM alpine\n") == ["busybox", "alpine"])
        #expect(Self.images("FROM a\n# escape=`\nFROM b \\\n AS c\n") == ["a", "b"])
        #expect(Self.findings("# escape=x\nFROM a\n").first?.kind == .invalid)
        #expect(Self.findings("# escape=`\n# escape=\\\nFROM a\n").first?.kind == .invalid)
    }

    @Test func anEscapeAfterASyntaxDirectiveIsCheckedBothWays() {
        // Docker reads the backtick; a builder that knows only `escape` stops at `syntax` and
        // reads `\`, ending the RUN before COPY: both readings are checked.
        let text = "# syntax=docker/dockerfile:1\n# escape=`\nFROM busybox\nRUN echo `\nCOPY --from=alpine:3.19 / /\n"
        #expect(Self.images(text) == ["busybox", "alpine:3.19"])
        #expect(Self.images("# escape=`\nFROM busybox\nRUN echo `\nCOPY --from=alpine:3.19 / /\n") == ["busybox"],
                "without the syntax line every builder reads the backtick")
    }

    @Test func copyFromAStageNameOrIndexIsFineAndAnImageMustBeLocal() {
        let text = """
            FROM busybox AS Build
            RUN make
            FROM busybox
            COPY --from=build /out /a
            COPY --from=0 /out /b
            COPY --chown=1:1 --from=alpine:3.19 / /c
            copy --from=later / /d
            ADD --from=x / /e
            RUN --mount=type=bind,from=node:20,target=/n true
            FROM busybox AS later

            """
        #expect(Self.findings(text).filter { $0.kind == .image } == [
            Finding(line: 1, kind: .image, instruction: "FROM", value: "busybox"),
            Finding(line: 3, kind: .image, instruction: "FROM", value: "busybox"),
            Finding(line: 6, kind: .image, instruction: "COPY --from", value: "alpine:3.19"),
            Finding(line: 7, kind: .image, instruction: "COPY --from", value: "later"),
            Finding(line: 8, kind: .image, instruction: "ADD --from", value: "x"),
            Finding(line: 9, kind: .image, instruction: "RUN --mount", value: "node:20"),
            Finding(line: 10, kind: .image, instruction: "FROM", value: "busybox"),
        ])
        #expect(Self.images(text) == ["busybox", "alpine:3.19", "later", "x", "node:20"])
        #expect(Self.images("FROM a\nARG S=alpine\nCOPY --from=$S / /\n") == ["a", "alpine"])
        #expect(Self.images("FROM a AS own\nCOPY --from=own / /\n") == ["a", "own"],
                "a stage is named once built: its own name is an image the builder would pull")
        #expect(Self.findings("FROM a\nCOPY --from=$FROM_IMAGE_ENV / /\n").last?.kind == .unresolved,
                "a variable the base image may set cannot be checked")
    }

    @Test func remoteAddSourcesAreFoundInEveryForm() {
        let text = """
            FROM busybox
            ADD http://127.0.0.1:9/a /a
            add --chmod=644 HTTPS://example.com/b local.txt /b
            ADD ["https://example.com/c", "/c"]
            ADD \\
              git@github.com:x/y.git /d
            ARG U=http://example.com/e
            ADD $U /e
            ADD git://example.com/f /f
            ADD ./local /g
            COPY http://example.com/h /h
            ENV V=ftp://example.com/i
            ADD "${V}" /i

            """
        #expect(Self.findings(text).filter { $0.kind == .remote }.map(\.line) == [2, 3, 4, 5, 8, 9, 13])
        #expect(Self.findings(text).first { $0.line == 8 }?.value == "http://example.com/e")
        #expect(Self.findings("FROM a\nADD $FROM_BASE_IMAGE /x\n").last?.kind == .unresolved)
        #expect(Self.findings("FROM a\nADD --checksum=sha256:0 local /x\n").filter { $0.kind != .image }.isEmpty)
    }

    @Test func heredocLinesAreInstructionsAsTheClassicBuilderReadsThem() {
        let text = "FROM busybox\nRUN <<EOF\nFROM alpine:3.19\nADD http://example.com/x /x\nEOF\n"
        let found = Self.findings(text)
        #expect(found.contains(Finding(line: 3, kind: .image, instruction: "FROM", value: "alpine:3.19")))
        #expect(found.contains { $0.kind == .remote && $0.line == 4 })
    }

    @Test func onBuildTriggersOfABaseImageAreCheckedLikeLines() {
        let found = Dockerfile.findings(ofTriggers: ["RUN true", "ADD https://example.com/x /x", "COPY --from=alpine:3.19 / /", "ADD $X /y"])
        #expect(found == [
            Finding(line: 2, kind: .remote, instruction: "ADD", value: "https://example.com/x"),
            Finding(line: 3, kind: .image, instruction: "COPY --from", value: "alpine:3.19"),
            Finding(line: 4, kind: .unresolved, instruction: "ADD", value: "$X"),
        ])
        #expect(Dockerfile.findings(ofTriggers: ["RUN echo \\", "FROM evil"]).count == 1, "a trigger is one line: no continuation into the next")
    }

    @Test func replacingBasesOfAContinuedFromKeepsTheOtherLines() {
        let text = "ARG X\nFROM --platform=linux/amd64 \\\n  app:ci \\\n  AS base\nCOPY --from=alpine / /\n"
        let rewritten = Dockerfile(text).replacingBases(["app:ci"], with: "sha256:abc")
        #expect(rewritten == "ARG X\nFROM --platform=linux/amd64 sha256:abc AS base\n\n\nCOPY --from=alpine / /")
        #expect(Dockerfile(rewritten).findings.map(\.line) == [2, 5])
    }
}
