import Foundation
import Testing
@testable import Pipeline

/// `docker-build:` blocks: what is read, and each mistake reported at its position.
@Suite struct DockerBuildDefinitionTests {
    @Test func fullBlockIsReadWithDefaultsForWhatIsLeftOut() throws {
        let yaml = withStages("""
              base:
                docker-build: { context: base, tags: [base:ci] }
              app:
                docker-build:
                  dockerfile: deploy/Dockerfile
                  target: runtime
                  build-args: { VERSION: "1.2", DEBUG: 0 }
                  tags: [app:ci]
                  network: bridge
                  from-stage: base
              smoke:
                smoke: { image: app, probe: { exec: [true] } }
            """)
        let plan = try #require(accepted(yaml))
        let base = try #require(plan.spec("base", as: DockerBuildSpec.self))
        #expect(base.context == "base" && base.dockerfile == "Dockerfile" && base.network == .none && base.fromStage == nil)
        let app = try #require(plan.spec("app", as: DockerBuildSpec.self))
        #expect(app.context == "." && app.dockerfile == "deploy/Dockerfile" && app.target == "runtime")
        #expect(app.buildArgs.map { "\($0.name)=\($0.value)" } == ["VERSION=1.2", "DEBUG=0"])
        #expect(app.network == .bridge && app.tags == ["app:ci"] && app.fromStage?.name == "base")
        // from-stage is a dependency, and an image consumer may name a docker-build stage.
        #expect(plan.order == ["base", "app", "smoke"])
    }

    @Test func pathsOutOfTheCheckoutHostNetworkAndBadTagsAreReportedAtTheirValues() {
        let yaml = withStages("""
              app:
                docker-build:
                  context: ../elsewhere
                  dockerfile: /etc/Dockerfile
                  tags: [Bad:tag]
                  network: host
            """)
        #expect(diagnostics(yaml) == [
            "p.yaml:8:16: 'stages.app.docker-build.context' leaves the checkout ('../elsewhere' contains ..); write a folder inside the checkout, e.g. . or app",
            "p.yaml:9:19: 'stages.app.docker-build.dockerfile' is an absolute path ('/etc/Dockerfile'); write a file inside the context, e.g. Dockerfile",
            "p.yaml:10:13: 'stages.app.docker-build.tags[0]' is not an image name: 'Bad:tag'; write NAME:TAG, e.g. app:ci",
            "p.yaml:11:16: 'stages.app.docker-build.network': the host network is refused; use none (the default), or bridge with --allow-network",
        ])
    }

    @Test func fromStageMustNameAnImageProducingStage() {
        let yaml = withStages("""
              flake:
                nix-build: {}
              app:
                docker-build: { from-stage: flake }
            """)
        #expect(diagnostics(yaml) == [
            "p.yaml:9:33: 'stages.app.docker-build.from-stage' names 'flake', a nix-build stage; it must name a docker-load or docker-build stage",
        ])
    }

    @Test func misplacedKeySaysWhereItBelongs() {
        let yaml = withStages("""
              app:
                docker-build: { timeout: 5m }
            """)
        #expect(diagnostics(yaml).first?.contains("'timeout' is a stage field") == true, "\(diagnostics(yaml))")
    }
}
