import Automation
import Engine
import Foundation
import KubeRendering
import Pipeline
import Testing

extension YAMLNode {
    /// The node at a dotted path of mapping keys and sequence indexes, e.g. `spec.template.spec.volumes.0.name`.
    subscript(path path: String) -> YAMLNode? {
        var node: YAMLNode? = self
        for part in path.split(separator: ".") {
            if let index = Int(part), case .sequence(let items)? = node {
                node = items.indices.contains(index) ? items[index] : nil
            } else {
                node = node?[String(part)]
            }
        }
        return node
    }

    /// A mapping's keys, in order.
    var keys: [String] {
        guard case .mapping(let pairs) = self else { return [] }
        return pairs.map(\.0)
    }

    /// A string scalar's text.
    var string: String? {
        guard case .string(let text) = self else { return nil }
        return text
    }

    /// A sequence's items.
    var items: [YAMLNode] {
        guard case .sequence(let items) = self else { return [] }
        return items
    }
}

/// Each field of the rendered manifests, on small definitions.
struct KubeManifestTests {
    let options = try! KubeRenderOptions(commit: KubeFixtures.commit)

    @Test func theJobRunsTheCommitOnceWithJSONEventsAndIsKeptADay() throws {
        let manifests = try KubeFixtures.render(try KubeFixtures.plan(timeout: "10m"), options: options)
        let job = try #require(manifests.job).node
        #expect(job["kind"] == .string("Job"))
        #expect(job[path: "metadata.name"] == .string("sutradhar-demo-3f2c1e9aa0b1"))
        #expect(job[path: "metadata.labels"]?["sutradhar.dev/commit"] == .string(KubeFixtures.commit))
        #expect(job[path: "spec.backoffLimit"] == .int(0))
        #expect(job[path: "spec.ttlSecondsAfterFinished"] == .int(86_400))
        #expect(job[path: "spec.template.spec.restartPolicy"] == .string("Never"))
        #expect(job[path: "spec.template.spec.containers.0.command"]?.items
            == ["sutradhar", "run", "demo", "--commit", KubeFixtures.commit, "--json", "--cache-dir", "/var/lib/sutradhar/cache"].map(YAMLNode.string))
        #expect(job[path: "spec.template.spec.containers.0.workingDir"] == .string("/etc/sutradhar"))
    }

    @Test func withoutACommitNoJobIsRendered() throws {
        let manifests = try KubeFixtures.render(try KubeFixtures.plan(timeout: nil), options: try KubeRenderOptions())
        #expect(manifests.job == nil)
        #expect(manifests.documents.map { $0["kind"] } == [.string("ConfigMap"), .string("CronJob")])
    }

    @Test func aDefinitionWithEnvValuesGoesInASecretNotAConfigMap() throws {
        let text = "version: 1\nname: demo\nstages:\n  work:\n    container:\n      image: busybox\n      env: { TOKEN: s3cr3t }\n"
        let manifests = try KubeFixtures.render(try KubeFixtures.plan(timeout: nil), options: options, text: text)
        #expect(manifests.documents.map { $0["kind"] } == [.string("Secret"), .string("Job"), .string("CronJob")])
        #expect(manifests.configMap.node[path: "stringData"]?["demo.yaml"] == .string(text))
        #expect(manifests.configMap.node["data"] == nil)
        let volume = try #require(manifests.job).node[path: "spec.template.spec.volumes"]?.items.first { $0["name"] == .string("pipelines") }
        #expect(volume?[path: "secret.secretName"] == .string("sutradhar-pipeline-demo"), "\(String(describing: volume))")
        #expect(volume?["configMap"] == nil)
    }

    @Test func theDeadlineAddsEveryStagesTimeoutOrItsKindsDefaultAndTheMargin() throws {
        let plan = try KubeFixtures.plan(stages: """
              image:
                timeout: 1h
                nix-build: { installable: ".#docker-image" }
              load:
                needs: [image]
                docker-load: { from: image }
              smoke:
                needs: [load]
                timeout: 90s
                smoke: { image: load, probe: { exec: [true], expect-exit: 0 } }

            """)
        // 1 h + docker-load's default 30 min + 90 s + the 15 min margin.
        #expect(KubeManifests.activeDeadlineSeconds(for: plan) == 3600 + 1800 + 90 + 900)
        let manifests = try KubeFixtures.render(plan, options: options)
        #expect(manifests.job?.node[path: "spec.activeDeadlineSeconds"] == .int(6390))
        #expect(manifests.cronJob.node[path: "spec.jobTemplate.spec.activeDeadlineSeconds"] == .int(6390))
        // nix-build's default is 2 h; a fraction of a second rounds up, never down.
        #expect(KubeManifests.activeDeadlineSeconds(for: try KubeFixtures.plan(timeout: nil)) == 7200 + 900)
        #expect(KubeManifests.activeDeadlineSeconds(for: try KubeFixtures.plan(timeout: "1500ms")) == 2 + 900)
    }

    @Test func theCronJobRunsNightlyOnTheConvertedScheduleOneAtATime() throws {
        let manifests = try KubeFixtures.render(try KubeFixtures.plan(timeout: nil, schedule: "*-*-* 02:30:00"), options: options)
        let cron = manifests.cronJob.node
        #expect(cron[path: "metadata.name"] == .string("sutradhar-nightly-demo"))
        #expect(cron[path: "spec.schedule"] == .string("30 2 * * *"))
        #expect(cron[path: "spec.timeZone"] == nil)
        #expect(cron[path: "spec.concurrencyPolicy"] == .string("Forbid"))
        #expect(cron[path: "spec.startingDeadlineSeconds"] == .int(3600))
        #expect(cron[path: "spec.successfulJobsHistoryLimit"] == .int(3))
        #expect(cron[path: "spec.failedJobsHistoryLimit"] == .int(3))
        #expect(cron[path: "spec.jobTemplate.spec.backoffLimit"] == .int(0))
        #expect(cron[path: "spec.jobTemplate.spec.template.spec.containers.0.command"]?.items
            == ["sutradhar", "nightly", "demo", "--cache-dir", "/var/lib/sutradhar/cache"].map(YAMLNode.string))
    }

    @Test func aPipelineWithoutAScheduleGetsTheSystemdTimersDefault() throws {
        let manifests = try KubeFixtures.render(try KubeFixtures.plan(timeout: nil), options: options)
        #expect(SystemdUnits.defaultSchedule == "*-*-* 03:00:00")
        #expect(manifests.cronJob.node[path: "spec.schedule"] == .string("0 3 * * *"))
    }

    @Test func aTimeZoneInTheScheduleBecomesTheCronJobsTimeZone() throws {
        let manifests = try KubeFixtures.render(try KubeFixtures.plan(timeout: nil, schedule: "Mon..Fri 03:00 Europe/Berlin"), options: options)
        #expect(manifests.cronJob.node[path: "spec.schedule"] == .string("0 3 * * 1-5"))
        #expect(manifests.cronJob.node[path: "spec.timeZone"] == .string("Europe/Berlin"))
    }

    @Test func aScheduleCronCannotSayIsRefusedNamingIt() throws {
        let plan = try KubeFixtures.plan(timeout: nil, schedule: "*-*-* 03:00:30")
        let error = try #require(throws: KubeError.self) { try KubeFixtures.render(plan, options: options) }
        #expect(error.code == .unconvertibleSchedule)
        #expect(error.message.contains("'*-*-* 03:00:30'"), "\(error.message)")
    }

    @Test func podsRunAsTheSocketOwnerWithNothingToEscalate() throws {
        let options = try KubeRenderOptions(commit: KubeFixtures.commit, uid: 1234)
        let pod = try #require(try KubeFixtures.render(try KubeFixtures.plan(timeout: nil), options: options).job?.node[path: "spec.template.spec"])
        #expect(pod[path: "securityContext.runAsUser"] == .int(1234))
        #expect(pod[path: "securityContext.runAsGroup"] == .int(1234))
        #expect(pod[path: "securityContext.runAsNonRoot"] == .bool(true))
        #expect(pod[path: "securityContext.seccompProfile.type"] == .string("RuntimeDefault"))
        #expect(pod[path: "securityContext.fsGroup"] == nil, "a hostPath cache ignores fsGroup; none is set")
        #expect(pod[path: "automountServiceAccountToken"] == .bool(false))
        let container = try #require(pod[path: "containers.0.securityContext"])
        #expect(container["allowPrivilegeEscalation"] == .bool(false))
        #expect(container["readOnlyRootFilesystem"] == .bool(true))
        #expect(container["runAsNonRoot"] == .bool(true))
        #expect(container[path: "capabilities.drop"]?.items == [.string("ALL")])
        #expect(container["privileged"] == nil)
        #expect(pod[path: "containers.0.resources.requests"]?.keys == ["cpu", "memory"])
        #expect(pod[path: "containers.0.resources.limits.memory"] == .string("1Gi"))
        #expect(pod[path: "nodeSelector"] == .mapping([("sutradhar.dev/rootless-docker", .string("true")), ("sutradhar.dev/nix-daemon", .string("true"))]))
    }

    @Test func theSocketsAndStoreAreHostPathsAndTmpIsAnEmptyDir() throws {
        let options = try KubeRenderOptions(commit: KubeFixtures.commit, socket: "/run/user/1001/docker.sock", cache: .hostPath("/srv/cache"))
        let pod = try #require(try KubeFixtures.render(try KubeFixtures.plan(timeout: nil), options: options).job?.node[path: "spec.template.spec"])
        let volumes = Dictionary(uniqueKeysWithValues: try #require(pod["volumes"]).items.map { ($0["name"]!.string!, $0) })
        #expect(volumes["docker-socket"]?["hostPath"] == .mapping([("path", .string("/run/user/1001/docker.sock")), ("type", .string("Socket"))]))
        #expect(volumes["nix-daemon-socket"]?["hostPath"]
            == .mapping([("path", .string("/nix/var/nix/daemon-socket/socket")), ("type", .string("Socket"))]))
        #expect(volumes["nix-store"]?["hostPath"] == .mapping([("path", .string("/nix/store")), ("type", .string("Directory"))]))
        #expect(volumes["cache"]?["hostPath"] == .mapping([("path", .string("/srv/cache")), ("type", .string("Directory"))]))
        #expect(volumes["tmp"]?[path: "emptyDir.sizeLimit"] == .string("1Gi"))
        #expect(volumes["pipelines"]?[path: "configMap.name"] == .string("sutradhar-pipeline-demo"))
        // The uid comes from the socket's /run/user/UID/ when --uid is not given.
        #expect(pod[path: "securityContext.runAsUser"] == .int(1001))

        let mounts = Dictionary(uniqueKeysWithValues: try #require(pod[path: "containers.0.volumeMounts"]).items.map { ($0["name"]!.string!, $0) })
        #expect(Set(mounts.keys) == Set(volumes.keys), "every volume is mounted once")
        #expect(mounts["docker-socket"]?["mountPath"] == .string("/run/sutradhar/docker.sock"))
        #expect(mounts["nix-store"]?["readOnly"] == .bool(true))
        #expect(mounts["pipelines"]?["readOnly"] == .bool(true))
        #expect(mounts["cache"]?["readOnly"] == nil)
        // At the node's own path: the node's daemon resolves the checkout's bind mounts there.
        #expect(mounts["cache"]?["mountPath"] == .string("/srv/cache"))
        #expect(pod[path: "containers.0.command"]?.items.suffix(2) == [.string("--cache-dir"), .string("/srv/cache")])
        #expect(mounts["tmp"]?["mountPath"] == .string("/tmp"))
        let environment = try #require(pod[path: "containers.0.env"]).items
        #expect(environment.contains(.mapping([("name", .string("DOCKER_HOST")), ("value", .string("unix:///run/sutradhar/docker.sock"))])))
        #expect(environment.contains(.mapping([("name", .string("NIX_REMOTE")), ("value", .string("daemon"))])))
    }

    @Test func aPVCCacheIsMadeWritableWithFSGroup() throws {
        let options = try KubeRenderOptions(commit: KubeFixtures.commit, uid: 1000, cache: try KubeCacheVolume.parse("pvc:sutradhar-cache"))
        let pod = try #require(try KubeFixtures.render(try KubeFixtures.plan(timeout: nil), options: options).job?.node[path: "spec.template.spec"])
        let cache = try #require(pod["volumes"]?.items.first { $0["name"] == .string("cache") })
        #expect(cache["persistentVolumeClaim"] == .mapping([("claimName", .string("sutradhar-cache"))]))
        #expect(pod[path: "securityContext.fsGroup"] == .int(1000))
        #expect(pod[path: "containers.0.volumeMounts"]?.items.first { $0["name"] == .string("cache") }?["mountPath"] == .string("/var/cache/sutradhar"))
    }

    @Test func aPVCCacheIsWarnedAboutWhenAStageMountsTheCheckout() throws {
        let plan = try KubeFixtures.plan(stages: """
              test:
                container: { image: "busybox:latest", command: ["true"] }

            """)
        let pvc = try KubeRenderOptions(cache: .persistentVolumeClaim("ci-cache"))
        let warnings = try KubeFixtures.render(plan, options: pvc).warnings
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("use --cache hostpath:DIR") == true, "\(warnings)")
        #expect(try KubeFixtures.render(plan, options: try KubeRenderOptions()).warnings.isEmpty)
        #expect(try KubeFixtures.render(try KubeFixtures.plan(timeout: nil), options: pvc).warnings.isEmpty)
    }

    @Test func theConfigMapHoldsTheDefinitionFileAsWritten() throws {
        let text = "version: 1\n# a comment: kept\nname: demo\n  indented: too\n"
        let manifests = try KubeFixtures.render(try KubeFixtures.plan(timeout: nil), options: options, text: text)
        let configMap = manifests.configMap.node
        #expect(configMap[path: "metadata.name"] == .string("sutradhar-pipeline-demo"))
        #expect(configMap["data"] == .mapping([("demo.yaml", .string(text))]))
        #expect(configMap.text.contains("  demo.yaml: |\n    version: 1\n    # a comment: kept\n"))
    }

    @Test func theNamespaceIsWrittenIntoEveryObject() throws {
        let options = try KubeRenderOptions(commit: KubeFixtures.commit, namespace: "ci")
        let manifests = try KubeFixtures.render(try KubeFixtures.plan(timeout: nil), options: options)
        #expect(manifests.documents.map { $0[path: "metadata.namespace"] } == [.string("ci"), .string("ci"), .string("ci")])
        let unset = try KubeFixtures.render(try KubeFixtures.plan(timeout: nil), options: try KubeRenderOptions())
        #expect(unset.documents.allSatisfy { $0[path: "metadata.namespace"] == nil })
    }

    @Test func aPipelineNameBecomesADNSLabel() throws {
        let manifests = try KubeFixtures.render(try KubeFixtures.plan(stages: "  image: { nix-build: { installable: \".#x\" } }\n", name: "My_Pipeline.v2"),
                                                options: options)
        #expect(manifests.cronJob.metadata.name == "sutradhar-nightly-my-pipeline-v2")
        #expect(manifests.job?.metadata.name == "sutradhar-my-pipeline-v2-3f2c1e9aa0b1")
    }

    @Test func aDefinitionFileNameThatCannotBeAKeyIsRefused() throws {
        let plan = try KubeFixtures.plan(timeout: nil)
        let error = try #require(throws: KubeError.self) {
            try KubeManifests.render(plan, definitionText: "", fileName: "my pipeline.yaml", options: options)
        }
        #expect(error.code == .invalidName)
        #expect(error.message.contains("'my pipeline.yaml'"))
    }

    @Test func aPathSourceIsWarnedAboutAndAGitSourceIsNot() throws {
        let example = try KubeFixtures.renderRepositoryPipeline("example", options: options)
        #expect(example.warnings.count == 1)
        #expect(example.warnings.first?.contains("git: source") == true)
        #expect(try KubeFixtures.renderRepositoryPipeline("bommalata", options: options).warnings.isEmpty)
    }
}
