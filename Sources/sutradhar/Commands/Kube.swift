import ArgumentParser
import Foundation
import SutradharKit

/// `sutradhar kube render PIPELINE`: Kubernetes manifests for a pipeline, printed, never applied.
struct Kube: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kube",
        abstract: "Kubernetes manifests for running pipelines in a cluster.",
        subcommands: [Render.self])

    struct Render: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "render",
            abstract: "Print a ConfigMap, a Job per commit and a nightly CronJob for a pipeline.",
            discussion: """
                Prints YAML for 'kubectl apply -f -'; nothing is applied. The objects:

                ConfigMap sutradhar-pipeline-NAME: the definition file, mounted at /etc/sutradhar/pipelines.

                Job sutradhar-NAME-SHA12 (only with --commit): sutradhar run NAME --commit SHA --json. \
                backoffLimit 0 (a failed build is a verdict, not a flake), ttlSecondsAfterFinished one day, \
                activeDeadlineSeconds = every stage's timeout (its own, else its kind's default) added up, \
                plus 15 minutes.

                CronJob sutradhar-nightly-NAME: sutradhar nightly NAME on the pipeline's schedule: (default \
                \(SystemdUnits.defaultSchedule)), converted from systemd OnCalendar to cron (refused where cron \
                cannot say it); concurrencyPolicy Forbid.

                The pods run as --uid (the owner of the rootless Docker socket; default: the UID in a \
                /run/user/UID/ socket path, else 1000), non-root, no privilege escalation, all capabilities \
                dropped, seccomp RuntimeDefault, a read-only root filesystem with /tmp on an emptyDir. They \
                mount the node's Docker socket, nix daemon socket and /nix/store as hostPath volumes (the \
                namespace must allow hostPath: Pod Security "privileged"), and run only on nodes labelled \
                sutradhar.dev/rootless-docker=true and sutradhar.dev/nix-daemon=true.

                Exit codes: 0 printed, 2 invalid argument, unknown pipeline, invalid definition or a \
                schedule cron cannot express, 3 the definition could not be read.

                Examples:
                  sutradhar kube render bommalata --commit SHA | kubectl apply -f -
                  sutradhar kube render bommalata --namespace ci --cache pvc:ci-cache
                  sutradhar kube render example --socket /run/user/1001/docker.sock
                """)

        @Argument(help: "A definition file, or NAME for pipelines/NAME.yaml.")
        var pipeline: String

        @Option(help: ArgumentHelp("Also render a Job that builds this commit (7 to 40 hex digits).", valueName: "SHA"))
        var commit: String?

        @Option(help: ArgumentHelp("The image the pods run; it must hold sutradhar and a nix client on its PATH.", valueName: "IMAGE"))
        var image: String = KubeRenderOptions.defaultImage

        @Option(help: ArgumentHelp("Write this namespace into every object. Default: none (kubectl's).", valueName: "NS"))
        var namespace: String?

        @Option(help: ArgumentHelp("The rootless Docker daemon's socket on the node.", valueName: "PATH"))
        var socket: String = KubeRenderOptions.defaultSocket

        @Option(help: ArgumentHelp("The uid (and gid) the pods run as: the socket's owner.", valueName: "UID"))
        var uid: String?

        @Option(help: ArgumentHelp("Where the cache lives: a folder on the node the uid owns, or a PersistentVolumeClaim. Default: hostpath:/var/lib/sutradhar/cache.",
                                   valueName: "hostpath:DIR|pvc:NAME"))
        var cache: String?

        func run() async throws {
            let options: KubeRenderOptions
            do {
                options = try KubeRenderOptions(commit: commit, image: image, namespace: namespace, socket: socket,
                                                uid: uid.map(KubeRenderOptions.parseUID), cache: cache.map(KubeCacheVolume.parse) ?? .defaultValue)
            } catch {
                throw CommandFailure(Exit.invalidDefinition, error.message)
            }
            let path = try DefinitionFiles.locate(pipeline)
            let plan = try DefinitionFiles.load(path)
            let manifests: KubeManifests
            do {
                manifests = try KubeManifests.render(plan, definitionFile: path, options: options)
            } catch {
                throw CommandFailure(error.code == .io ? Exit.environmentProblem : Exit.invalidDefinition, "\(path): \(error.message)")
            }
            print(manifests.yaml, terminator: "")
            for warning in manifests.warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
            if options.commit == nil {
                FileHandle.standardError.write(Data("note: no --commit, so no Job: pass --commit SHA to build one commit\n".utf8))
            }
        }
    }
}
