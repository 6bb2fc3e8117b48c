import Automation
import Engine
import Foundation
import Pipeline
import RunEvents

/// The Kubernetes objects that run a pipeline on a node with a rootless Docker daemon and a nix
/// daemon: the definition as a ConfigMap, a Job for one commit (`sutradhar run … --commit SHA
/// --json`) and a CronJob for the nightly rebuild (`sutradhar nightly`). Pure values: nothing is
/// applied; `yaml` is the text to give `kubectl apply -f -`.
public struct KubeManifests: Sendable {
    /// The definition file, mounted at `/etc/sutradhar/pipelines`.
    public let configMap: KubeConfigMap
    /// The build of one commit; nil when no commit was given.
    public let job: KubeJob?
    /// The nightly rebuild.
    public let cronJob: KubeCronJob
    /// What the user should know that the manifests cannot fix (e.g. a `path:` source the pod cannot see).
    public let warnings: [String]

    /// Renders the manifests for the definition file at `path` (its plan already loaded).
    /// - Throws: `KubeError`: `.io` if the file cannot be read again, `.invalidName` if the
    ///   pipeline's name or file name cannot name objects, `.unconvertibleSchedule` if its
    ///   `schedule:` has no cron form.
    public static func render(_ plan: Plan, definitionFile path: String, options: KubeRenderOptions) throws(KubeError) -> KubeManifests {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw KubeError(.io, "cannot read \(path) to put it in the ConfigMap: \(error.localizedDescription)")
        }
        return try render(plan, definitionText: text, fileName: URL(fileURLWithPath: path).lastPathComponent, options: options)
    }

    /// Renders the manifests for a plan whose definition file is called `fileName` and holds `definitionText`.
    /// - Throws: as `render(_:definitionFile:options:)`, except `.io`.
    public static func render(_ plan: Plan, definitionText: String, fileName: String, options: KubeRenderOptions) throws(KubeError) -> KubeManifests {
        let definition = plan.definition
        let base = try objectBase(for: definition.name)
        // PipelineLocator finds pipelines/STEM.yaml from the working directory: the pod runs the
        // definition by that name, as an agent would on a machine.
        guard fileName.count <= 253, fileName.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-._".contains($0)) }),
              let stem = [".yaml", ".yml"].first(where: fileName.hasSuffix).map({ String(fileName.dropLast($0.count)) }), !stem.isEmpty else {
            throw KubeError(.invalidName, "the definition file '\(fileName)' cannot be a ConfigMap key: name it NAME.yaml with letters, digits, '-', '_' and '.' only")
        }
        let schedule = try CronSchedule.fromOnCalendar(definition.schedule ?? SystemdUnits.defaultSchedule)
        let labels = [("app.kubernetes.io/name", "sutradhar"), ("sutradhar.dev/pipeline", base)]
        // A definition with `env:` values carries secrets: it goes in a Secret, never a ConfigMap.
        let holdsSecrets = DefinitionMasking.masked(definitionText) != definitionText
        let configMap = KubeConfigMap(
            metadata: KubeObjectMeta(name: "sutradhar-pipeline-\(base)", namespace: options.namespace, labels: labels + [("app.kubernetes.io/component", "pipelines")]),
            data: [(fileName, definitionText)], secret: holdsSecrets)
        let deadline = activeDeadlineSeconds(for: plan)
        var job: KubeJob?
        if let commit = options.commit {
            let jobLabels = labels + [("app.kubernetes.io/component", "build"), ("sutradhar.dev/commit", commit)]
            let command = ["sutradhar", "run", stem, "--commit", commit, "--json", "--cache-dir", Paths.cache(options.cache)]
            job = KubeJob(
                metadata: KubeObjectMeta(name: "sutradhar-\(base)-\(commit.prefix(12))", namespace: options.namespace, labels: jobLabels),
                spec: KubeJobSpec(activeDeadlineSeconds: deadline, ttlSecondsAfterFinished: KubeJobSpec.finishedJobLifetime,
                              template: KubePodTemplate(labels: jobLabels, options: options, definitions: configMap, command: command)))
        }
        let nightlyLabels = labels + [("app.kubernetes.io/component", "nightly")]
        let cronJob = KubeCronJob(
            metadata: KubeObjectMeta(name: "sutradhar-nightly-\(base)", namespace: options.namespace, labels: nightlyLabels),
            schedule: schedule,
            jobSpec: KubeJobSpec(activeDeadlineSeconds: deadline, ttlSecondsAfterFinished: nil,
                             template: KubePodTemplate(labels: nightlyLabels, options: options, definitions: configMap,
                                                   command: ["sutradhar", "nightly", stem, "--cache-dir", Paths.cache(options.cache)])))
        var warnings: [String] = []
        let bindsCheckout = plan.stages.contains { stage in
            if let smoke = stage.definition.spec as? SmokeSpec { return !smoke.container.mounts.isEmpty }
            return stage.definition.spec is ContainerStageSpec
        }
        if bindsCheckout, case .persistentVolumeClaim(let claim) = options.cache {
            warnings.append("pipeline '\(definition.name)' has stages that mount the checkout into their containers, which the node's "
                + "Docker daemon resolves on the node, where the claim '\(claim)' is not at \(Paths.cache(options.cache)): "
                + "use --cache hostpath:DIR for this pipeline")
        }
        if case .path(let folder) = definition.source.location {
            warnings.append("pipeline '\(definition.name)' builds a folder (source path: \(URL(fileURLWithPath: folder).lastPathComponent)), "
                + "which the ConfigMap does not carry: the pods build it only if the image holds it where the definition points "
                + "(relative to \(Paths.pipelines)); give the pipeline a git: source to build commits in a cluster")
        }
        return KubeManifests(configMap: configMap, job: job, cronJob: cronJob, warnings: warnings)
    }

    /// The seconds a Job may run before Kubernetes stops it: every stage's timeout (its own
    /// `timeout:`, else its kind's default) added up, as if they ran one after another (with
    /// `--jobs 1` they do; in parallel they finish sooner), plus `deadlineMarginSeconds` for what
    /// has no stage timeout: fetching the mirror, checking out, waiting for a run slot. The
    /// stages' own timeouts fire first, so this only stops a run that hangs outside them.
    public static func activeDeadlineSeconds(for plan: Plan) -> Int {
        let stages = plan.stages.reduce(Duration.zero) { total, stage in
            total + (stage.definition.timeout ?? Engine.executors.first { $0.kind == stage.kind }?.defaultTimeout ?? .seconds(30 * 60))
        }
        let (seconds, attoseconds) = stages.components
        return Int(seconds) + (attoseconds > 0 ? 1 : 0) + deadlineMarginSeconds
    }

    /// Added to the stages' timeouts in `activeDeadlineSeconds`: 15 minutes.
    public static let deadlineMarginSeconds = 15 * 60

    /// The node labels the pods require: set them on nodes whose rootless Docker daemon (for the
    /// uid) and nix daemon are running, e.g. `kubectl label node NODE sutradhar.dev/rootless-docker=true sutradhar.dev/nix-daemon=true`.
    public static let nodeLabels = [("sutradhar.dev/rootless-docker", "true"), ("sutradhar.dev/nix-daemon", "true")]

    /// Where things are inside the pod.
    public enum Paths {
        /// The working directory: `pipelines/` is under it, so `sutradhar run NAME` finds the definition.
        public static let workingDirectory = "/etc/sutradhar"
        /// The ConfigMap's mount.
        public static let pipelines = "/etc/sutradhar/pipelines"
        /// The cache volume's mount, passed as `--cache-dir`: a hostPath folder at its own path,
        /// because container stages bind-mount the checkout from the cache and the node's daemon
        /// resolves that path on the node; a PVC at `/var/cache/sutradhar`.
        public static func cache(_ volume: KubeCacheVolume) -> String {
            switch volume {
            case .hostPath(let folder): return folder
            case .persistentVolumeClaim: return "/var/cache/sutradhar"
            }
        }
        /// The node's Docker socket's mount; `DOCKER_HOST` points at it.
        public static let dockerSocket = "/run/sutradhar/docker.sock"
        /// The nix daemon's socket, at the same path as on the node (nix clients look there).
        public static let nixDaemonSocket = "/nix/var/nix/daemon-socket/socket"
        /// The node's nix store, read-only: the daemon writes it, sutradhar reads built images from it.
        public static let nixStore = "/nix/store"
    }

    /// A Kubernetes object name from a pipeline name: lower-case, other characters as '-', at most
    /// 34 characters so that `sutradhar-nightly-NAME` fits a CronJob's 52.
    static func objectBase(for name: String) throws(KubeError) -> String {
        var base = ""
        for character in name.lowercased() {
            let keep = character.isASCII && (character.isLetter || character.isNumber)
            if keep { base.append(character) } else if !base.hasSuffix("-") { base.append("-") }
        }
        base = String(base.prefix(34))
        while base.hasPrefix("-") || base.hasSuffix("-") { base = String(base.trimmingCharacters(in: CharacterSet(charactersIn: "-"))) }
        guard !base.isEmpty else {
            throw KubeError(.invalidName, "pipeline name '\(name)' has no letters or digits to name Kubernetes objects with; give its name: some")
        }
        return base
    }

    /// The manifests as YAML documents: the ConfigMap, the Job (if any), the CronJob.
    public var documents: [YAMLNode] { [configMap.node] + (job.map { [$0.node] } ?? []) + [cronJob.node] }

    /// The text for `kubectl apply -f -`: a header, then each document after `---` and a line
    /// saying what it is. The same manifests always give the same bytes.
    public var yaml: String {
        var text = """
            # Rendered by `sutradhar kube render`. Apply with: kubectl apply -f FILE
            # The pods mount hostPath volumes (the node's Docker socket, nix daemon socket and store),
            # which Pod Security "baseline" forbids: the namespace must enforce "privileged" (see the README).

            """
        let notes = ["# The pipeline definition; the pods mount it at \(Paths.pipelines).\n"]
            + (job.map { _ in ["# Builds one commit: exit status and JSON events are the verdict; no retries.\n"] } ?? [])
            + ["# The nightly rebuild (sutradhar nightly) on the pipeline's schedule.\n"]
        for (note, document) in zip(notes, documents) { text += "---\n" + note + document.text }
        return text
    }
}

/// `metadata`: a name, the namespace (if given) and labels in order.
public struct KubeObjectMeta: Sendable {
    /// `metadata.name`.
    public let name: String
    /// `metadata.namespace`; nil leaves it to kubectl.
    public let namespace: String?
    /// `metadata.labels`.
    public let labels: [(String, String)]

    var node: YAMLNode {
        .mapping([("name", .string(name))] + (namespace.map { [("namespace", .string($0))] } ?? [])
            + [("labels", .mapping(labels.map { ($0.0, .string($0.1)) }))])
    }
}

/// A ConfigMap holding files by name; a Secret (`stringData`) when `secret` is set, for a
/// definition whose `env:` values must not sit in a ConfigMap anyone with read access sees.
public struct KubeConfigMap: Sendable {
    /// Its metadata.
    public let metadata: KubeObjectMeta
    /// File name and text, in order.
    public let data: [(String, String)]
    /// Whether the object is a Secret rather than a ConfigMap.
    public var secret = false

    /// The object as YAML.
    public var node: YAMLNode {
        secret
            ? .mapping([("apiVersion", .string("v1")), ("kind", .string("Secret")), ("metadata", metadata.node),
                        ("type", .string("Opaque")), ("stringData", .mapping(data.map { ($0.0, .string($0.1)) }))])
            : .mapping([("apiVersion", .string("v1")), ("kind", .string("ConfigMap")), ("metadata", metadata.node),
                        ("data", .mapping(data.map { ($0.0, .string($0.1)) }))])
    }
}

/// A Job that runs one pod once.
public struct KubeJob: Sendable {
    /// Its metadata.
    public let metadata: KubeObjectMeta
    /// Its spec.
    public let spec: KubeJobSpec

    /// The object as YAML.
    public var node: YAMLNode {
        .mapping([("apiVersion", .string("batch/v1")), ("kind", .string("Job")), ("metadata", metadata.node), ("spec", spec.node)])
    }
}

/// A Job's spec (also a CronJob's `jobTemplate.spec`).
public struct KubeJobSpec: Sendable {
    /// `backoffLimit: 0`: a failed build is a verdict, not a flake to retry.
    public let backoffLimit = 0
    /// `activeDeadlineSeconds`: see `KubeManifests.activeDeadlineSeconds(for:)`.
    public let activeDeadlineSeconds: Int
    /// `ttlSecondsAfterFinished`: how long a finished Job (and its pod's log) stays; nil for a
    /// CronJob's jobs, which its history limits keep instead.
    public let ttlSecondsAfterFinished: Int?
    /// The pod.
    public let template: KubePodTemplate

    /// A day: long enough for an agent or a person to read the pod's log the next morning.
    public static let finishedJobLifetime = 24 * 3600

    var node: YAMLNode {
        .mapping([("backoffLimit", .int(backoffLimit)), ("activeDeadlineSeconds", .int(activeDeadlineSeconds))]
            + (ttlSecondsAfterFinished.map { [("ttlSecondsAfterFinished", .int($0))] } ?? [])
            + [("template", template.node)])
    }
}

/// A CronJob running `sutradhar nightly`.
public struct KubeCronJob: Sendable {
    /// Its metadata.
    public let metadata: KubeObjectMeta
    /// `schedule` and `timeZone`.
    public let schedule: CronSchedule
    /// `Forbid`: a rebuild still running when the next is due is not joined by a second one
    /// fighting it for the same cache.
    public let concurrencyPolicy = "Forbid"
    /// An hour: a rebuild the controller missed (it was down, or the last one ran long) still
    /// starts within the hour, later than that it waits for the next night.
    public let startingDeadlineSeconds = 3600
    /// Finished rebuilds kept for their logs.
    public let successfulJobsHistoryLimit = 3
    /// Failed rebuilds kept for their logs.
    public let failedJobsHistoryLimit = 3
    /// Each rebuild's Job.
    public let jobSpec: KubeJobSpec

    /// The object as YAML.
    public var node: YAMLNode {
        var spec: [(String, YAMLNode)] = [("schedule", .string(schedule.expression))]
        if let zone = schedule.timeZone { spec.append(("timeZone", .string(zone))) }
        spec += [("concurrencyPolicy", .string(concurrencyPolicy)), ("startingDeadlineSeconds", .int(startingDeadlineSeconds)),
                 ("successfulJobsHistoryLimit", .int(successfulJobsHistoryLimit)), ("failedJobsHistoryLimit", .int(failedJobsHistoryLimit)),
                 ("jobTemplate", .mapping([("metadata", .mapping([("labels", metadata.node["labels"]!)])), ("spec", jobSpec.node)]))]
        return .mapping([("apiVersion", .string("batch/v1")), ("kind", .string("CronJob")), ("metadata", metadata.node),
                         ("spec", .mapping(spec))])
    }
}

/// The pod both kinds of Job run: one container, as least privileged as a socket to a rootless
/// daemon allows.
public struct KubePodTemplate: Sendable {
    /// The pod's labels.
    public let labels: [(String, String)]
    /// The uid and gid it runs as: the socket's owner (the rootless daemon's user).
    public let uid: Int
    /// `fsGroup`, only with a PVC cache (hostPath volumes ignore it).
    public let fsGroup: Int?
    /// The one container.
    public let container: KubeContainer
    /// The volumes, in mount order.
    public let volumes: [KubeVolume]

    init(labels: [(String, String)], options: KubeRenderOptions, definitions: KubeConfigMap, command: [String]) {
        self.labels = labels
        uid = options.uid
        let cache: KubeVolume.Source
        switch options.cache {
        case .hostPath(let folder):
            cache = .hostPath(path: folder, type: "Directory")
            fsGroup = nil
        case .persistentVolumeClaim(let claim):
            cache = .persistentVolumeClaim(claim)
            fsGroup = options.uid
        }
        volumes = [
            KubeVolume(name: "pipelines", source: definitions.secret ? .secret(definitions.metadata.name) : .configMap(definitions.metadata.name), mountPath: KubeManifests.Paths.pipelines, readOnly: true),
            KubeVolume(name: "docker-socket", source: .hostPath(path: options.socket, type: "Socket"), mountPath: KubeManifests.Paths.dockerSocket, readOnly: false),
            KubeVolume(name: "nix-daemon-socket", source: .hostPath(path: KubeManifests.Paths.nixDaemonSocket, type: "Socket"),
                   mountPath: KubeManifests.Paths.nixDaemonSocket, readOnly: false),
            KubeVolume(name: "nix-store", source: .hostPath(path: KubeManifests.Paths.nixStore, type: "Directory"), mountPath: KubeManifests.Paths.nixStore, readOnly: true),
            KubeVolume(name: "cache", source: cache, mountPath: KubeManifests.Paths.cache(options.cache), readOnly: false),
            KubeVolume(name: "tmp", source: .emptyDir(sizeLimit: "1Gi"), mountPath: "/tmp", readOnly: false),
        ]
        container = KubeContainer(image: options.image, command: command, environment: [
            ("DOCKER_HOST", "unix://\(KubeManifests.Paths.dockerSocket)"),
            ("NIX_REMOTE", "daemon"),
            // The root filesystem is read-only: nix's and sutradhar's per-user files go to /tmp.
            ("HOME", "/tmp"),
            ("XDG_CACHE_HOME", "/tmp/.cache"),
        ])
    }

    var node: YAMLNode {
        var security: [(String, YAMLNode)] = [("runAsUser", .int(uid)), ("runAsGroup", .int(uid)), ("runAsNonRoot", .bool(true))]
        if let fsGroup { security += [("fsGroup", .int(fsGroup)), ("fsGroupChangePolicy", .string("OnRootMismatch"))] }
        security.append(("seccompProfile", .mapping([("type", .string("RuntimeDefault"))])))
        let spec: [(String, YAMLNode)] = [
            ("restartPolicy", .string("Never")),
            // The pod talks to the node's daemons, never to the API server.
            ("automountServiceAccountToken", .bool(false)),
            ("nodeSelector", .mapping(KubeManifests.nodeLabels.map { ($0.0, .string($0.1)) })),
            ("securityContext", .mapping(security)),
            ("containers", .sequence([container.node(mounts: volumes)])),
            ("volumes", .sequence(volumes.map(\.node))),
        ]
        return .mapping([("metadata", .mapping([("labels", .mapping(labels.map { ($0.0, .string($0.1)) }))])), ("spec", .mapping(spec))])
    }
}

/// The container running `sutradhar`.
public struct KubeContainer: Sendable {
    /// `sutradhar`.
    public let name = "sutradhar"
    /// The image.
    public let image: String
    /// The command and its arguments.
    public let command: [String]
    /// `env`, in order.
    public let environment: [(String, String)]
    /// CPU and memory for sutradhar itself: the builds run in the node's nix daemon and the
    /// containers in its Docker daemon, outside the pod's cgroup.
    public let requests = [("cpu", "250m"), ("memory", "256Mi")]
    /// Limits: sutradhar streams images and logs, so its memory does not grow with them.
    public let limits = [("cpu", "1"), ("memory", "1Gi")]

    func node(mounts: [KubeVolume]) -> YAMLNode {
        .mapping([
            ("name", .string(name)), ("image", .string(image)), ("imagePullPolicy", .string("IfNotPresent")),
            ("workingDir", .string(KubeManifests.Paths.workingDirectory)),
            ("command", .sequence(command.map(YAMLNode.string))),
            ("env", .sequence(environment.map { .mapping([("name", .string($0.0)), ("value", .string($0.1))]) })),
            ("resources", .mapping([("requests", .mapping(requests.map { ($0.0, .string($0.1)) })),
                                    ("limits", .mapping(limits.map { ($0.0, .string($0.1)) }))])),
            ("securityContext", .mapping([
                ("allowPrivilegeEscalation", .bool(false)), ("readOnlyRootFilesystem", .bool(true)), ("runAsNonRoot", .bool(true)),
                ("capabilities", .mapping([("drop", .sequence([.string("ALL")]))])),
            ])),
            ("volumeMounts", .sequence(mounts.map { mount in
                .mapping([("name", .string(mount.name)), ("mountPath", .string(mount.mountPath))]
                    + (mount.readOnly ? [("readOnly", .bool(true))] : []))
            })),
        ])
    }
}

/// A pod volume and where the container mounts it.
public struct KubeVolume: Sendable {
    /// What backs a volume.
    public enum Source: Sendable, Equatable {
        /// A path on the node with its expected `type` (`Socket`, `Directory`).
        case hostPath(path: String, type: String)
        /// A ConfigMap by name.
        case configMap(String)
        /// A Secret by name.
        case secret(String)
        /// A PersistentVolumeClaim by name.
        case persistentVolumeClaim(String)
        /// An empty folder for the pod's life, at most this big.
        case emptyDir(sizeLimit: String)
    }

    /// The volume's name.
    public let name: String
    /// What backs it.
    public let source: Source
    /// Where the container sees it.
    public let mountPath: String
    /// Whether the container mounts it read-only.
    public let readOnly: Bool

    var node: YAMLNode {
        let source: (String, YAMLNode)
        switch self.source {
        case .hostPath(let path, let type): source = ("hostPath", .mapping([("path", .string(path)), ("type", .string(type))]))
        case .configMap(let name): source = ("configMap", .mapping([("name", .string(name))]))
        case .secret(let name): source = ("secret", .mapping([("secretName", .string(name))]))
        case .persistentVolumeClaim(let claim): source = ("persistentVolumeClaim", .mapping([("claimName", .string(claim))]))
        case .emptyDir(let size): source = ("emptyDir", .mapping([("sizeLimit", .string(size))]))
        }
        return .mapping([("name", .string(name)), source])
    }
}
