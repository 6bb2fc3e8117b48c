import Foundation
import Testing
@testable import Pipeline

@Suite struct DefinitionParsingTests {
    static let example = """
        version: 1
        name: example
        source:
          path: ../Examples/hello-server
        nix:
          options: { substituters: "" }
        stages:
          image:
            nix-build:
              installable: .#docker-image
          load:
            needs: [image]
            docker-load: { from: image, tags: [hello:latest] }
          smoke:
            needs: [load]
            timeout: 60s
            smoke:
              image: load
              probe: { exec: [wget, -qO-, "http://127.0.0.1:8080/health"], expect-stdout: ok }
        """

    @Test func exampleDefinitionParsesIntoTypedStages() throws {
        let definition = try parse(Self.example)
        #expect(definition.version == 1)
        #expect(definition.name == "example")
        #expect(definition.file == "p.yaml")
        #expect(definition.source.location == .path("/work/defs/Examples/hello-server"))
        #expect(definition.source.position == SourcePosition(file: "p.yaml", line: 4, column: 3))
        #expect(definition.nixOptions == [NixOptionSpec(name: "substituters", value: "")])
        #expect(definition.stages.map(\.name) == ["image", "load", "smoke"])
        #expect(definition.stages.map(\.position.line) == [8, 11, 14])
        #expect(definition.stages.map(\.position.column) == [3, 3, 3])

        let image = try #require(definition.stages[0].spec as? NixBuildSpec)
        #expect(image.installable == ".#docker-image")

        let load = try #require(definition.stages[1].spec as? DockerLoadSpec)
        #expect(load.from == StageReference(name: "image", field: "stages.load.docker-load.from",
                                            position: SourcePosition(file: "p.yaml", line: 13, column: 26), requiredKind: "nix-build"))
        #expect(load.tags == ["hello:latest"])
        #expect(definition.stages[1].needs.map(\.name) == ["image"])
        #expect(definition.stages[1].needs.first?.position == SourcePosition(file: "p.yaml", line: 12, column: 13))

        let smoke = try #require(definition.stages[2].spec as? SmokeSpec)
        #expect(definition.stages[2].timeout == .seconds(60))
        #expect(smoke.image.stageName == "load")
        #expect(smoke.probe.runner == .exec(["wget", "-qO-", "http://127.0.0.1:8080/health"]))
        #expect(smoke.probe.expectStdout == "ok")
        // Defaults where nothing is written.
        #expect(smoke.probe.expectExit == 0)
        #expect(smoke.probe.attempts == 30)
        #expect(smoke.probe.interval == .seconds(1))
        #expect(smoke.container.network == .none)
        #expect(smoke.container.command == nil)
        #expect(smoke.container.limits.nofile == 64_000)
        #expect(smoke.container.limits.nproc == 2048)
        #expect(smoke.container.limits.memory == nil)
        #expect(definition.cache == CacheSettings())
    }

    @Test func emptyNixBuildBlockTakesTheDefaultInstallable() throws {
        let definition = try parse(withStages("  image:\n    nix-build:"))
        #expect((definition.stages.first?.spec as? NixBuildSpec)?.installable == ".#docker-image")
    }

    @Test func fullFixtureLoadsEveryField() throws {
        let path = Fixture.path("full.yaml")
        let plan = try PipelineLoader.load(path: path)
        let definition = plan.definition
        #expect(definition.file == path)
        #expect(definition.name == "full.example_1")
        #expect(definition.description == "Builds, loads, smoke-tests and runs the test suite.")
        #expect(definition.source.location == .git(Fixture.directory.deletingLastPathComponent().appendingPathComponent("repos/server.git").path))
        #expect(definition.source.ref == "v1.2.0")
        #expect(definition.nixOptions.map { "\($0.name)=\($0.value)" } == ["substituters=", "max-jobs=2", "sandbox=false"])
        #expect(definition.cache == CacheSettings(maxSize: ByteSize(bytes: 20 << 30), maxAge: .seconds(14 * 86_400)))
        #expect(definition.schedule == "*-*-* 03:00:00")
        #expect(plan.order == ["image", "load", "smoke", "unit-tests"])
        #expect(plan.stage(named: "unit-tests")?.dependencies == ["load"])
        #expect(plan.stage(named: "smoke")?.definition.position == SourcePosition(file: path, line: 19, column: 3))
        #expect(plan.stage(named: "smoke")?.definition.timeout == .seconds(120))

        let load = try #require(plan.spec("load", as: DockerLoadSpec.self))
        #expect(load.tags == ["server:latest", "registry.local:5000/team/server:v1"])

        let smoke = try #require(plan.spec("smoke", as: SmokeSpec.self))
        #expect(smoke.container.command == ["httpd", "-f", "-p", "8080"])
        #expect(smoke.container.environment == [EnvironmentVariable(name: "MODE", value: "test"), EnvironmentVariable(name: "WORKERS", value: "4")])
        #expect(smoke.container.user == "1000:1000")
        #expect(smoke.container.workingDirectory == "/srv")
        var limits = ContainerLimits()
        limits.memory = ByteSize(bytes: 512 << 20)
        limits.pids = 64
        limits.cpus = 0.5
        limits.nofile = 1024
        limits.nofileIsExplicit = true
        limits.nproc = 128
        limits.data = ByteSize(bytes: 256 << 20)
        limits.cpuSeconds = 60
        limits.requireEnforced = true
        #expect(smoke.container.limits == limits)
        #expect(smoke.container.mounts == [CheckoutMount(source: "testdata", target: "/srv/testdata", readOnly: true)])
        #expect(smoke.probe.runner == .sidecar(image: .reference("busybox:latest"), command: ["wget", "-qO-", "http://127.0.0.1:8080/health"]))
        #expect(smoke.probe.expectStdoutMatches == "^ok( [0-9]+)?$")
        #expect(smoke.probe.attempts == 10)
        #expect(smoke.probe.interval == .milliseconds(250))

        let tests = try #require(plan.spec("unit-tests", as: ContainerStageSpec.self))
        #expect(tests.image.stageName == "load")
        #expect(tests.container.command == ["go", "test", "./..."])
        #expect(tests.container.network == .bridge)
        #expect(tests.container.mounts == [CheckoutMount(source: ".", target: "/src", readOnly: true)])
    }

    @Test func bundledExampleDefinitionLoadsAndPlans() throws {
        let path = Fixture.repositoryPipelines.appendingPathComponent("example.yaml").path
        let plan = try PipelineLoader.load(path: path)
        #expect(plan.definition.name == "example")
        #expect(plan.order == ["image", "load", "smoke", "probe-from-sidecar"])
        #expect(plan.restricted(to: "probe-from-sidecar")?.order == ["image", "load", "probe-from-sidecar"])
    }

    @Test func everyProblemInAFileIsReportedAtOnceSortedAndRendered() throws {
        let path = Fixture.path("many-mistakes.yaml")
        // `owner` is reported first while reading but sorts last: the list is in file order.
        #expect(loadDiagnostics(path) == [
            "\(path):5:3: 'source.ref' has no meaning with 'path' (the folder is built as it is); remove it or use 'git'",
            "\(path):8:5: unknown key 'nix-biuld' in stage 'image'; did you mean 'nix-build'?",
            "\(path):10:14: 'stages.load.timeout' is not a duration: '5 minutes'; write e.g. 30s, 5m, 1h30m, 14d",
            "\(path):11:18: 'stages.load.docker-load' is missing 'from'",
            "\(path):15:7: 'stages.smoke.smoke.privileged': privileged containers are refused: Sutradhar runs containers rootless, with least privilege and no escalation; remove 'privileged'",
            "\(path):16:25: 'stages.smoke.smoke.limits.memory' is not a size: 'lots'; write e.g. 512MiB, 20GiB, 100KB",
            "\(path):17:53: 'stages.smoke.smoke.probe.expect-stdout-matches' is not a valid regular expression: '(['",
            "\(path):18:1: unknown key 'owner' in the definition; allowed: version, name, description, source, nix, cache, schedule, nightly, stages",
        ])
    }

    @Test func errorDescriptionIsOneRenderedLinePerProblem() {
        do {
            _ = try PipelineLoader.load(path: Fixture.path("many-mistakes.yaml"))
            Issue.record("many-mistakes.yaml was accepted")
        } catch {
            let lines = error.description.split(separator: "\n")
            #expect(lines.count == 8)
            #expect(lines.allSatisfy { $0.hasPrefix(Fixture.path("many-mistakes.yaml") + ":") })
        }
    }
}
