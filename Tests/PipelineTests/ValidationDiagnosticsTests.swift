import Foundation
import Testing
@testable import Pipeline

/// Each kind of definition error, with the exact line and column it is reported at.
/// Inline definitions built with `withStages` have their first stage line at line 6.
@Suite struct ValidationDiagnosticsTests {
    // MARK: Problems in the stages, as a table

    /// Stages (the text under `stages:`, at line 6 of the definition) and the problems the
    /// definition must report, each at its line and column.
    struct StagesCase: Sendable, CustomTestStringConvertible {
        let name: String
        let stages: String
        let expected: [String]
        init(_ name: String, stages: String, expected: [String]) {
            (self.name, self.stages, self.expected) = (name, stages, expected)
        }
        var testDescription: String { name }
    }

    static let stagesCases: [StagesCase] = [
        StagesCase(
            "misspelt stage kind suggests the kind and is not also reported as kindless",
            stages: """
                  a:
                    nix-biuld: {}
                """,
            expected: [
                "p.yaml:7:5: unknown key 'nix-biuld' in stage 'a'; did you mean 'nix-build'?",
            ]),
        StagesCase(
            "unknown stage kind lists the known kinds",
            stages: """
                  a:
                    compile: {}
                """,
            expected: [
                "p.yaml:7:5: unknown key 'compile' in stage 'a'; a stage has one kind (nix-build, docker-load, smoke, container, docker-build) and may have needs, timeout, description",
            ]),
        StagesCase(
            "unknown key inside a kind block suggests the nearest field",
            stages: """
                  a:
                    nix-build:
                      instalable: .#default
                """,
            expected: [
                "p.yaml:8:7: unknown key 'instalable' in 'stages.a.nix-build'; did you mean 'installable'?",
            ]),
        StagesCase(
            "stage with two kinds is reported at the second kind",
            stages: """
                  a:
                    nix-build: {}
                    container:
                      image: busybox:latest
                      command: [sh, -c, "true"]
                """,
            expected: [
                "p.yaml:8:5: stage 'a' has more than one kind (nix-build, container); split it into stages",
            ]),
        StagesCase(
            "stage with no kind is reported at its name",
            stages: """
                  a:
                    timeout: 30s
                """,
            expected: [
                "p.yaml:6:3: stage 'a' has no kind; give it one of: nix-build, docker-load, smoke, container, docker-build",
            ]),
        StagesCase(
            "stage named checkout is refused as reserved",
            stages: """
                  checkout:
                    nix-build: {}
                """,
            expected: [
                "p.yaml:6:3: 'checkout' is the name of the implicit first step; call this stage something else",
            ]),
        StagesCase(
            "stage name with a space is refused",
            stages: """
                  "my stage":
                    nix-build: {}
                """,
            expected: [
                "p.yaml:6:3: stage name 'my stage' must be letters, digits, '-', '_' or '.'",
            ]),
        StagesCase(
            "duplicate stage name is reported with its position",
            stages: """
                  build:
                    nix-build: {}
                  build:
                    nix-build: {installable: .#other}
                """,
            expected: [
                "p.yaml:6:3: 'build' is given more than once in the same mapping; keep one",
            ]),
        StagesCase(
            "stage field inside a kind block says to move it up beside the kind",
            stages: """
                  s:
                    needs: [load]
                    smoke:
                      image: busybox:latest
                      timeout: 60s
                      probe: {exec: [true]}
                  load:
                    docker-load: {from: image}
                  image:
                    nix-build: {}
                """,
            expected: [
                "p.yaml:10:7: misplaced key 'timeout' in 'stages.s.smoke': 'timeout' is a stage field; move it up one level, beside 'smoke'",
            ]),
        StagesCase(
            "stage field inside a probe says how many levels up",
            stages: """
                  s:
                    smoke:
                      image: busybox:latest
                      probe: {exec: [true], needs: [x]}
                """,
            expected: [
                "p.yaml:9:29: misplaced key 'needs' in 'stages.s.smoke.probe': 'needs' is a stage field; move it up two levels, beside 'smoke'",
            ]),
        StagesCase(
            "kind field at the stage level says to move it into the kind",
            stages: """
                  s:
                    image: busybox:latest
                    smoke:
                      probe: {exec: [true]}
                """,
            expected: [
                "p.yaml:7:5: misplaced key 'image' in stage 's': 'image' is a smoke field; move it into 'smoke'",
                "p.yaml:9:7: 'stages.s.smoke' is missing 'image'",
            ]),
        StagesCase(
            "field of another kind names its kind and lists the allowed keys",
            stages: """
                  s:
                    smoke:
                      image: busybox:latest
                      installable: .#docker-image
                      probe: {exec: [true]}
                """,
            expected: [
                "p.yaml:9:7: unknown key 'installable' in 'stages.s.smoke': 'installable' is a nix-build field, not a smoke field; "
                    + "allowed: image, command, env, user, workdir, limits, mounts, network, runtime, probe",
            ]),
        StagesCase(
            "probe field in the smoke block says to move it into the probe",
            stages: """
                  s:
                    smoke:
                      image: busybox:latest
                      attempts: 5
                      probe: {exec: [true]}
                """,
            expected: [
                "p.yaml:9:7: misplaced key 'attempts' in 'stages.s.smoke': 'attempts' is a probe field; move it into 'probe'",
            ]),
        StagesCase(
            "limits field in the probe says to move it into limits beside the probe",
            stages: """
                  s:
                    smoke:
                      image: busybox:latest
                      probe: {exec: [true], nofile: 1024}
                """,
            expected: [
                "p.yaml:9:29: misplaced key 'nofile' in 'stages.s.smoke.probe': 'nofile' is a limits field; move it into 'limits', beside 'probe'",
            ]),
        StagesCase(
            "limits field at the stage level says to move it into the kinds limits",
            stages: """
                  t:
                    memory: 512MiB
                    container: {image: busybox:latest, command: [sh, -c, "true"]}
                """,
            expected: [
                "p.yaml:7:5: misplaced key 'memory' in stage 't': 'memory' is a limits field; move it into 'container.limits'",
            ]),
        StagesCase(
            "mount field in the kind block says to move it into a mount",
            stages: """
                  t:
                    container:
                      image: busybox:latest
                      command: [sh, -c, "true"]
                      read-only: false
                """,
            expected: [
                "p.yaml:10:7: misplaced key 'read-only' in 'stages.t.container': 'read-only' is a mount field; move it into an item of 'mounts'",
            ]),
        StagesCase(
            "top level field inside a stage says to move it to the top level",
            stages: """
                  a:
                    schedule: "*-*-* 02:00:00"
                    nix-build: {}
                """,
            expected: [
                "p.yaml:7:5: misplaced key 'schedule' in stage 'a': 'schedule' is a top-level field; move it to the top level, beside 'stages'",
            ]),
        StagesCase(
            "source field inside a stage says to move it into source",
            stages: """
                  a:
                    ref: main
                    nix-build: {}
                """,
            expected: [
                "p.yaml:7:5: misplaced key 'ref' in stage 'a': 'ref' is a 'source' field; move it into the top-level 'source'",
            ]),
        StagesCase(
            "typo of a refused key is not answered with the refused key",
            stages: """
                  s:
                    smoke:
                      image: busybox:latest
                      privilegd: true
                      probe: {exec: [true]}
                """,
            expected: [
                "p.yaml:9:7: unknown key 'privilegd' in 'stages.s.smoke'; allowed: image, command, env, user, workdir, limits, mounts, network, runtime, probe",
            ]),
        StagesCase(
            "typo of a field of another level suggests it and where it belongs",
            stages: """
                  s:
                    smoke:
                      image: busybox:latest
                      timout: 60s
                      probe: {exec: [true]}
                """,
            expected: [
                "p.yaml:9:7: unknown key 'timout' in 'stages.s.smoke'; did you mean 'timeout'? 'timeout' is a stage field; move it up one level, beside 'smoke'",
            ]),
        StagesCase(
            "typo of a field of the same level still suggests it",
            stages: """
                  s:
                    smoke:
                      image: busybox:latest
                      probe: {exec: [true], atempts: 3}
                """,
            expected: [
                "p.yaml:9:29: unknown key 'atempts' in 'stages.s.smoke.probe'; did you mean 'attempts'?",
            ]),
        StagesCase(
            "references in other stages are checked when one stage is broken",
            stages: """
                  a:
                    nix-biuld: {}
                  b:
                    needs: [missing]
                    nix-build: {}
                  c:
                    docker-load: {from: nowhere}
                  d:
                    smoke: {image: gone, probe: {exec: [true]}}
                """,
            expected: [
                "p.yaml:7:5: unknown key 'nix-biuld' in stage 'a'; did you mean 'nix-build'?",
                "p.yaml:9:13: 'stages.b.needs' names an unknown stage 'missing'",
                "p.yaml:12:25: 'stages.c.docker-load.from' names an unknown stage 'nowhere'",
                "p.yaml:14:20: 'stages.d.smoke.image' names an unknown stage 'gone'",
            ]),
        StagesCase(
            "string where a list is expected is not guessed into a list",
            stages: """
                  image:
                    nix-build: {}
                  load:
                    docker-load:
                      from: image
                      tags: hello:latest
                """,
            expected: [
                "p.yaml:11:13: 'stages.load.docker-load.tags' must be a list of strings, e.g. [a, b], not 'hello:latest'",
            ]),
        StagesCase(
            "number out of range gives the range",
            stages: """
                  s:
                    smoke:
                      image: busybox:latest
                      probe: {exec: [true], attempts: 0, expect-exit: 300}
                """,
            expected: [
                "p.yaml:9:39: 'stages.s.smoke.probe.attempts' must be between 1 and 10000, not 0",
                "p.yaml:9:55: 'stages.s.smoke.probe.expect-exit' must be between 0 and 255, not 300",
            ]),
        StagesCase(
            "invalid image tag is refused",
            stages: """
                  image:
                    nix-build: {}
                  load:
                    docker-load:
                      from: image
                      tags: ["Hello:latest"]
                """,
            expected: [
                "p.yaml:11:13: 'stages.load.docker-load.tags[0]' is not an image name: 'Hello:latest'; write NAME:TAG, e.g. hello:latest",
            ]),
        StagesCase(
            "probe without exec or sidecar shows an example",
            stages: """
                  s:
                    smoke:
                      image: busybox:latest
                      probe: {attempts: 3}
                """,
            expected: [
                "p.yaml:9:14: 'stages.s.smoke.probe' is missing 'exec' or 'sidecar'; e.g. exec: [wget, -qO-, http://127.0.0.1:8080/health]",
            ]),
        StagesCase(
            "from naming a docker load stage must name a nix build stage",
            stages: """
                  image:
                    nix-build: {}
                  load:
                    docker-load: {from: image}
                  again:
                    docker-load: {from: load}
                """,
            expected: [
                "p.yaml:11:25: 'stages.again.docker-load.from' names 'load', a docker-load stage; it must name a nix-build stage",
            ]),
        StagesCase(
            "smoke image naming a nix build stage must name a docker load stage",
            stages: """
                  image:
                    nix-build: {}
                  s:
                    smoke:
                      image: image
                      probe:
                        sidecar: {image: image, command: [wget, -qO-, "http://127.0.0.1/"]}
                """,
            expected: [
                "p.yaml:10:14: 'stages.s.smoke.image' names 'image', a nix-build stage; it must name a docker-load or docker-build stage",
                "p.yaml:12:26: 'stages.s.smoke.probe.sidecar.image' names 'image', a nix-build stage; it must name a docker-load or docker-build stage",
            ]),
        StagesCase(
            "duration that overflows is refused not crashing",
            stages: """
                  a:
                    timeout: 9223372036854775s9223372036854775s
                    nix-build: {}
                """,
            expected: [
                "p.yaml:7:14: 'stages.a.timeout' is not a duration: '9223372036854775s9223372036854775s'; write e.g. 30s, 5m, 1h30m, 14d",
            ]),
        StagesCase(
            "data limit below what runc needs is refused",
            stages: """
                  s:
                    smoke:
                      image: busybox:latest
                      limits: {data: 32MiB}
                      probe: {exec: [true]}
                """,
            expected: [
                "p.yaml:9:22: 'stages.s.smoke.limits.data' is 32 MiB: below 64 MiB the container runtime itself cannot start; give at least 64MiB",
            ]),
    ]

    @Test(arguments: stagesCases) func problemsInTheStagesAreReportedWhereTheyAre(_ example: StagesCase) {
        #expect(diagnostics(withStages(example.stages)) == example.expected)
    }

    // MARK: Keys

    @Test func unknownTopLevelKeySuggestsTheNearestKnownOne() {
        let yaml = """
            version: 1
            name: t
            source:
              path: src
            stgaes:
              a:
                nix-build: {}
            """
        #expect(diagnostics(yaml) == [
            "p.yaml:1:1: the definition is missing 'stages'",
            "p.yaml:5:1: unknown key 'stgaes' in the definition; did you mean 'stages'?",
        ])
    }

    @Test func unknownTopLevelKeyWithNothingCloseListsTheAllowedKeys() {
        let yaml = withStages("  a:\n    nix-build: {}") + "\nowner: me"
        #expect(diagnostics(yaml) == [
            "p.yaml:8:1: unknown key 'owner' in the definition; allowed: version, name, description, source, nix, cache, schedule, nightly, stages",
        ])
    }

    @Test func duplicateKeyIsReportedAtItsFirstOccurrenceOnOneLine() {
        let yaml = """
            version: 1
            name: t
            source:
              path: src
            name: u
            stages:
              a:
                nix-build: {}
            """
        // Yams refuses duplicates while composing and only knows the first occurrence.
        #expect(diagnostics(yaml) == [
            "p.yaml:2:1: 'name' is given more than once in the same mapping; keep one",
        ])
    }

    // MARK: Keys at the wrong level

    @Test func fieldOfAnotherLevelOutsideStagesSaysWhereItGoes() {
        let yaml = withStages("  a:\n    nix-build: {}").replacingOccurrences(of: "  path: src", with: "  path: src\n  options: {}")
        #expect(diagnostics(yaml) == [
            "p.yaml:5:3: misplaced key 'options' in 'source': 'options' is a 'nix' field; move it into the top-level 'nix'",
        ])
    }

    @Test func stageWithOnlyAMisplacedKeyIsAlsoReportedAsKindless() {
        // A key of another level is no misspelt kind: the stage still needs one.
        let yaml = withStages("""
              a:
                ref: main
            """)
        #expect(diagnostics(yaml) == [
            "p.yaml:6:3: stage 'a' has no kind; give it one of: nix-build, docker-load, smoke, container, docker-build",
            "p.yaml:7:5: misplaced key 'ref' in stage 'a': 'ref' is a 'source' field; move it into the top-level 'source'",
        ])
    }

    @Test func stageFieldAndKindAtTheTopLevelSayToMoveThemIntoAStage() {
        let yaml = withStages("  a:\n    nix-build: {}") + "\ntimeout: 5m\nsmoke: {}"
        #expect(diagnostics(yaml) == [
            "p.yaml:8:1: misplaced key 'timeout' in the definition: 'timeout' is a stage field; move it into a stage under 'stages'",
            "p.yaml:9:1: misplaced key 'smoke' in the definition: 'smoke' is a stage kind; move it into a stage under 'stages'",
        ])
    }

    @Test func allowedKeysAreListedInTheDocumentedOrderWithoutRefusedKeys() {
        // Listed in docs/definitions.md's order, every time; refused keys (privileged, cap-add, …) are
        // refused with their own message when used, never offered.
        let yaml = withStages("""
              s:
                smoke:
                  image: busybox:latest
                  colour: red
                  probe: {exec: [true]}
              t:
                container:
                  image: busybox:latest
                  command: [sh, -c, "true"]
                  colour: red
            """)
        #expect(diagnostics(yaml) == [
            "p.yaml:9:7: unknown key 'colour' in 'stages.s.smoke'; allowed: image, command, env, user, workdir, limits, mounts, network, runtime, probe",
            "p.yaml:15:7: unknown key 'colour' in 'stages.t.container'; allowed: image, command, expect-exit, env, user, workdir, limits, mounts, network, runtime",
        ])
    }

    // MARK: Every problem at once

    @Test func referencesOfABrokenStageAreStillChecked() {
        // Stage `load` has a bad tag and `s` has no probe: their references are checked anyway.
        let yaml = withStages("""
              image:
                nix-build: {}
              load:
                needs: [imgae]
                docker-load: {from: imag, tags: ["Bad:tag"]}
              s:
                smoke: {image: lod}
            """)
        #expect(diagnostics(yaml) == [
            "p.yaml:9:13: 'stages.load.needs' names an unknown stage 'imgae'; did you mean 'image'?",
            "p.yaml:10:25: 'stages.load.docker-load.from' names an unknown stage 'imag'; did you mean 'image'?",
            "p.yaml:10:37: 'stages.load.docker-load.tags[0]' is not an image name: 'Bad:tag'; write NAME:TAG, e.g. hello:latest",
            "p.yaml:12:12: 'stages.s.smoke' is missing 'probe'",
            "p.yaml:12:20: 'stages.s.smoke.image' names an unknown stage 'lod'; did you mean 'load'?",
        ])
    }

    @Test func stagesThatCouldNotBeReadAreNotReportedAsUnknownWhereNamed() {
        // `image` exists but its kind is misspelt: naming it is not a second problem, and its
        // kind is unknown, so neither is `from` naming it.
        let yaml = withStages("""
              image:
                nix-biuld: {}
              load:
                needs: [image]
                docker-load: {from: image}
            """)
        #expect(diagnostics(yaml) == [
            "p.yaml:7:5: unknown key 'nix-biuld' in stage 'image'; did you mean 'nix-build'?",
        ])
    }

    @Test func cyclesAndWrongKindsAreFoundBesideOtherErrors() {
        let yaml = """
            version: 1
            source:
              path: src
            stages:
              a:
                needs: [b]
                nix-build: {}
              b:
                needs: [a]
                nix-build: {}
              load:
                docker-load: {from: load}
              again:
                docker-load: {from: a, tags: hello}
            """
        #expect(diagnostics(yaml) == [
            "p.yaml:1:1: the definition is missing 'name'",
            "p.yaml:5:3: stages form a cycle: a -> b -> a; remove one of these needs",
            "p.yaml:12:25: 'stages.load.docker-load.from': stage 'load' cannot depend on itself",
            "p.yaml:14:34: 'stages.again.docker-load.tags' must be a list of strings, e.g. [a, b], not 'hello'",
        ])
    }

    @Test func kindsThisBuildCannotRunAreReportedBesideOtherErrors() {
        let yaml = withStages("""
              image:
                nix-build: {}
              s:
                smoke: {image: busybox:latest}
            """)
        do {
            _ = try PipelineLoader.parse(yaml: yaml, file: "p.yaml", directory: definitionFolder, implementedKinds: ["nix-build"])
            Issue.record("the definition was accepted")
        } catch {
            #expect(error.diagnostics.map(\.description) == [
                "p.yaml:8:3: stage 's' is of kind 'smoke', which this build of Sutradhar cannot run; it runs: nix-build",
                "p.yaml:9:12: 'stages.s.smoke' is missing 'probe'",
            ])
        }
    }

    // MARK: Versions and the root

    @Test func versionTwoIsRefusedAtItsValue() {
        let yaml = withStages("  a:\n    nix-build: {}").replacingOccurrences(of: "version: 1", with: "version: 2")
        #expect(diagnostics(yaml) == ["p.yaml:1:10: 'version' 2 is not known to this Sutradhar; it reads version 1"])
    }

    @Test func missingVersionSaysWhatToAdd() {
        let yaml = withStages("  a:\n    nix-build: {}").replacingOccurrences(of: "version: 1\n", with: "")
        #expect(diagnostics(yaml) == ["p.yaml:1:1: the definition is missing 'version'; add 'version: 1'"])
    }

    @Test func emptyFileAndCommentOnlyFileAreRefusedAsEmpty() {
        for yaml in ["", "# nothing here yet\n"] {
            #expect(diagnostics(yaml) == ["p.yaml:1:1: the definition is empty; start with 'version: 1'"])
        }
    }

    @Test func definitionThatIsNotAMappingSaysSo() {
        #expect(diagnostics("- version: 1\n") == [
            "p.yaml:1:1: the definition must be a mapping (key: value lines), not a list",
        ])
    }

    @Test func emptyStagesMappingIsRefused() {
        let yaml = withStages("").replacingOccurrences(of: "stages:\n", with: "stages: {}")
        #expect(diagnostics(yaml) == ["p.yaml:5:9: 'stages' is empty; a pipeline needs at least one stage"])
    }

    @Test func stagesGivenAsAListAreReportedOnce() {
        let yaml = withStages("").replacingOccurrences(of: "stages:\n", with: "stages: [a, b]")
        #expect(diagnostics(yaml) == ["p.yaml:5:9: 'stages' must be a mapping (key: value lines), not a list"])
    }

    @Test func brokenOnlyStageIsNotAlsoCalledAnEmptyStagesBlock() {
        let yaml = withStages("""
              load:
                docker-load: {tags: ["hello:latest"]}
            """)
        #expect(diagnostics(yaml) == ["p.yaml:7:18: 'stages.load.docker-load' is missing 'from'"])
    }

    // MARK: Types

    @Test func mappingWhereAStringIsExpectedNamesTheField() {
        let yaml = withStages("  a:\n    nix-build: {}").replacingOccurrences(of: "name: t", with: "name: {first: t}")
        #expect(diagnostics(yaml) == ["p.yaml:2:7: 'name' must be a string, not a mapping"])
    }

    @Test func listWhereAMappingIsExpectedNamesTheField() {
        let yaml = """
            version: 1
            name: t
            source: [src]
            stages:
              a:
                nix-build: {}
            """
        #expect(diagnostics(yaml) == ["p.yaml:3:9: 'source' must be a mapping (key: value lines), not a list"])
    }

    @Test func wrongDescriptionIsReportedEvenWhenNameIsMissing() {
        let yaml = """
            version: 1
            description: [not, text]
            source:
              path: src
            stages:
              a:
                nix-build: {}
            """
        #expect(diagnostics(yaml) == [
            "p.yaml:1:1: the definition is missing 'name'",
            "p.yaml:2:14: 'description' must be a string, not a list",
        ])
    }

    // MARK: Missing fields

    @Test func missingNameAndSourceAreReportedAtTheTop() {
        let yaml = """
            version: 1
            stages:
              a:
                nix-build: {}
            """
        #expect(diagnostics(yaml) == [
            "p.yaml:1:1: the definition is missing 'name'",
            "p.yaml:1:1: the definition is missing 'source'",
        ])
    }

    @Test func missingDockerLoadFromIsReportedAtTheBlock() {
        let yaml = withStages("""
              image:
                nix-build: {}
              load:
                docker-load:
                  tags: ["hello:latest"]
            """)
        #expect(diagnostics(yaml) == ["p.yaml:10:7: 'stages.load.docker-load' is missing 'from'"])
    }

    @Test func missingProbeIsReportedAtTheSmokeBlock() {
        let yaml = withStages("""
              s:
                smoke:
                  image: busybox:latest
            """)
        #expect(diagnostics(yaml) == ["p.yaml:8:7: 'stages.s.smoke' is missing 'probe'"])
    }

    @Test func containerStageWithoutCommandIsRefused() {
        let yaml = withStages("""
              test:
                container:
                  image: busybox:latest
            """)
        #expect(diagnostics(yaml) == ["p.yaml:8:7: 'stages.test.container' is missing 'command'; e.g. command: [go, test, ./...]"])
    }

    // MARK: References between stages

    @Test func unknownStageInNeedsSuggestsTheNearestStage() {
        let yaml = withStages("""
              image:
                nix-build: {}
              load:
                needs: [imgae]
                docker-load: {from: image}
            """)
        #expect(diagnostics(yaml) == ["p.yaml:9:13: 'stages.load.needs' names an unknown stage 'imgae'; did you mean 'image'?"])
    }

    @Test func unknownStageInFromSuggestsTheNearestStage() {
        let yaml = withStages("""
              image:
                nix-build: {}
              load:
                docker-load: {from: imag}
            """)
        #expect(diagnostics(yaml) == ["p.yaml:9:25: 'stages.load.docker-load.from' names an unknown stage 'imag'; did you mean 'image'?"])
    }

    @Test func imageWithoutTagNamingNoStageIsAnUnknownStage() {
        let yaml = withStages("""
              s:
                smoke:
                  image: busybox
                  probe: {exec: [true]}
            """)
        #expect(diagnostics(yaml) == ["p.yaml:8:14: 'stages.s.smoke.image' names an unknown stage 'busybox'"])
    }

    @Test func stageNeedingItselfIsRefusedOnceAndNotAlsoAsACycle() {
        let yaml = withStages("""
              a:
                needs: [a]
                nix-build: {}
            """)
        #expect(diagnostics(yaml) == ["p.yaml:7:13: 'stages.a.needs': stage 'a' cannot depend on itself"])
    }

    // MARK: Cycles

    @Test func twoStageCycleIsNamedOnceAtItsFirstStage() {
        let yaml = withStages("""
              a:
                needs: [b]
                nix-build: {}
              b:
                needs: [a]
                nix-build: {}
            """)
        #expect(diagnostics(yaml) == ["p.yaml:6:3: stages form a cycle: a -> b -> a; remove one of these needs"])
    }

    @Test func threeStageCycleIsNamedOnceInRunOrder() {
        // a needs b, b needs c, c needs a. Arrows read "must run before": c needs a, b needs c.
        let yaml = withStages("""
              a:
                needs: [b]
                nix-build: {}
              b:
                needs: c
                nix-build: {}
              c:
                needs: [a]
                nix-build: {}
              free:
                nix-build: {}
            """)
        #expect(diagnostics(yaml) == ["p.yaml:6:3: stages form a cycle: a -> c -> b -> a; remove one of these needs"])
    }

    @Test func cycleThroughAnImplicitImageReferenceIsFound() {
        let yaml = withStages("""
              image:
                nix-build: {}
              load:
                needs: [s]
                docker-load: {from: image}
              s:
                smoke: {image: load, probe: {exec: [true]}}
            """)
        #expect(diagnostics(yaml) == ["p.yaml:8:3: stages form a cycle: load -> s -> load; remove one of these needs"])
    }

    // MARK: Values

    @Test func durationWithAWordUnitIsRefusedWithExamples() {
        let yaml = withStages("""
              a:
                timeout: 5 minutes
                nix-build: {}
            """)
        #expect(diagnostics(yaml) == ["p.yaml:7:14: 'stages.a.timeout' is not a duration: '5 minutes'; write e.g. 30s, 5m, 1h30m, 14d"])
    }

    @Test func sizeThatIsAWordIsRefusedWithExamples() {
        let yaml = withStages("""
              s:
                smoke:
                  image: busybox:latest
                  limits: {memory: lots}
                  probe: {exec: [true]}
            """)
        #expect(diagnostics(yaml) == ["p.yaml:9:24: 'stages.s.smoke.limits.memory' is not a size: 'lots'; write e.g. 512MiB, 20GiB, 100KB"])
    }

    @Test func cacheLimitsAreCheckedToo() {
        let yaml = withStages("  a:\n    nix-build: {}") + "\ncache: {max-size: huge, max-age: forever}"
        #expect(diagnostics(yaml) == [
            "p.yaml:8:19: 'cache.max-size' is not a size: 'huge'; write e.g. 512MiB, 20GiB, 100KB",
            "p.yaml:8:34: 'cache.max-age' is not a duration: 'forever'; write e.g. 30s, 5m, 1h30m, 14d",
        ])
    }

    @Test func invalidRegularExpressionIsRefusedAtItsValue() {
        let yaml = withStages("""
              s:
                smoke:
                  image: busybox:latest
                  probe:
                    exec: [true]
                    expect-stdout-matches: "(["
            """)
        #expect(diagnostics(yaml) == ["p.yaml:11:32: 'stages.s.smoke.probe.expect-stdout-matches' is not a valid regular expression: '(['"])
    }

    // MARK: YAML syntax

    @Test func yamlSyntaxErrorCarriesLibyamlsPosition() {
        let yaml = """
            version: 1
            name: a: b
            """
        #expect(diagnostics(yaml) == ["p.yaml:2:8: YAML syntax: mapping values are not allowed in this context"])
    }

    @Test func unclosedFlowListIsASyntaxErrorWithAPosition() {
        let yaml = withStages("""
              a:
                needs: [b, c
                nix-build: {}
            """)
        // libyaml notices at the next line's `:` that the list was never closed.
        #expect(diagnostics(yaml) == ["p.yaml:8:14: YAML syntax: did not find expected ',' or ']'"])
    }

    // MARK: Kinds this build can run

    @Test func kindsThisBuildCannotRunAreRefusedPerStage() throws {
        let definition = try parse(withStages("""
              image:
                nix-build: {}
              load:
                docker-load: {from: image}
            """))
        #expect(throws: DefinitionError.self) { try Planner.plan(definition, implementedKinds: ["nix-build"]) }
        do {
            _ = try Planner.plan(definition, implementedKinds: ["nix-build"])
        } catch {
            #expect(error.diagnostics.map(\.description) == [
                "p.yaml:8:3: stage 'load' is of kind 'docker-load', which this build of Sutradhar cannot run; it runs: nix-build",
            ])
        }
        #expect(try Planner.plan(definition, implementedKinds: ["nix-build", "docker-load"]).order == ["image", "load"])
    }
}
