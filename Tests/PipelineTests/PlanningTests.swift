import Testing
@testable import Pipeline

@Suite struct PlanningTests {
    /// Listed out of dependency order on purpose; `docs` and `extra` depend on nothing.
    static let outOfOrder = withStages("""
          smoke:
            smoke:
              image: load
              probe:
                sidecar: {image: load, command: [wget, -qO-, "http://127.0.0.1:8080/"]}
          docs:
            nix-build: {installable: .#docs}
          load:
            needs: [image]
            docker-load: {from: image, tags: ["hello:latest"]}
          image:
            nix-build: {}
          extra:
            nix-build: {installable: .#extra}
        """)

    @Test func planRunsStagesAfterWhatTheyNeedOrReadAndOtherwiseInFileOrder() throws {
        let plan = try plan(Self.outOfOrder)
        #expect(plan.order == ["docs", "image", "load", "smoke", "extra"])
        // `image:` and the sidecar's `image:` both name load: one dependency. `needs` and `from`
        // name the same stage: one dependency.
        #expect(plan.stage(named: "smoke")?.dependencies == ["load"])
        #expect(plan.stage(named: "load")?.dependencies == ["image"])
        #expect(plan.stage(named: "docs")?.dependencies == [])
    }

    @Test func implicitReferencesAloneOrderStages() throws {
        let plan = try plan(withStages("""
              s:
                smoke: {image: load, probe: {exec: [true]}}
              load:
                docker-load: {from: image}
              image:
                nix-build: {}
            """))
        #expect(plan.order == ["image", "load", "s"])
        #expect(plan.stage(named: "s")?.dependencies == ["load"])
    }

    @Test func needsAreKeptInTheOrderWritten() throws {
        let plan = try plan(withStages("""
              b:
                nix-build: {}
              a:
                nix-build: {}
              all:
                needs: [b, a, b]
                container: {image: busybox:latest, command: ["true"]}
            """))
        #expect(plan.order == ["b", "a", "all"])
        #expect(plan.stage(named: "all")?.dependencies == ["b", "a"])
    }

    @Test func restrictingToAStageKeepsItAndWhatItNeedsTransitively() throws {
        let plan = try plan(Self.outOfOrder)
        #expect(plan.restricted(to: "smoke")?.order == ["image", "load", "smoke"])
        #expect(plan.restricted(to: "load")?.order == ["image", "load"])
        #expect(plan.restricted(to: "extra")?.order == ["extra"])
        #expect(plan.restricted(to: "smoke")?.definition.name == "t")
    }

    @Test func restrictingToAnUnknownStageGivesNothing() throws {
        #expect(try plan(Self.outOfOrder).restricted(to: "deploy") == nil)
    }

    @Test func kindsAreReportedByTheirKeys() throws {
        let plan = try plan(Self.outOfOrder)
        #expect(plan.stages.map(\.kind) == ["nix-build", "nix-build", "docker-load", "smoke", "nix-build"])
    }

    @Test func everyKindIsAcceptedWhenAllAreImplemented() throws {
        let definition = try parse(Self.outOfOrder)
        let plan = try Planner.plan(definition, implementedKinds: ["nix-build", "docker-load", "smoke", "container"])
        #expect(plan.stages.count == 5)
    }

    @Test func cyclesAreFoundOnceEachAndStartAtTheEarliestStage() {
        #expect(Planner.cycles(in: ["a", "b", "c"], dependencies: ["a": ["b"], "b": ["c"], "c": ["a"]]) == [["a", "c", "b"]])
        #expect(Planner.cycles(in: ["x", "a", "b"], dependencies: ["x": ["a"], "a": ["b"], "b": ["a"]]) == [["a", "b"]])
        #expect(Planner.cycles(in: ["a", "b", "c", "d"], dependencies: ["a": ["b"], "b": ["a"], "c": ["d"], "d": ["c"]])
            == [["a", "b"], ["c", "d"]])
        #expect(Planner.cycles(in: ["a", "b", "c"], dependencies: ["b": ["a"], "c": ["a", "b"]]).isEmpty)
    }

    @Test func topologicalOrderBreaksTiesByFileOrder() {
        #expect(Planner.topologicalOrder(["c", "b", "a"], dependencies: [:]) == ["c", "b", "a"])
        #expect(Planner.topologicalOrder(["c", "b", "a"], dependencies: ["c": ["a"]]) == ["b", "a", "c"])
    }
}

@Suite struct DiagnosticRenderingTests {
    @Test func diagnosticIsRenderedFileLineColumnMessage() {
        let diagnostic = Diagnostic(SourcePosition(file: "pipelines/x.yaml", line: 12, column: 7), "something is wrong")
        #expect(diagnostic.description == "pipelines/x.yaml:12:7: something is wrong")
    }

    @Test func definitionErrorSortsItsProblemsByPositionAndPrintsOnePerLine() {
        let at = { (line: Int, column: Int) in Diagnostic(SourcePosition(file: "p.yaml", line: line, column: column), "\(line).\(column)") }
        let error = DefinitionError([at(3, 1), at(1, 9), at(1, 2), at(10, 1)])
        #expect(error.diagnostics.map(\.message) == ["1.2", "1.9", "3.1", "10.1"])
        #expect(error.description == "p.yaml:1:2: 1.2\np.yaml:1:9: 1.9\np.yaml:3:1: 3.1\np.yaml:10:1: 10.1")
    }
}
