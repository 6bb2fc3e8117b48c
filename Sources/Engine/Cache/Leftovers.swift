import DockerEngine
import Foundation

/// Removes what runs that died (kill -9, a crash, a lost machine session) left in the daemon:
/// containers labelled `dev.sutradhar=1` by a process of this host that no longer exists.
/// A live run's containers are never touched: its process answers kill(pid, 0).
enum Leftovers {
    /// Lists the labelled containers (`GET /containers/json?all=1&filters={"label":["dev.sutradhar=1"]}`),
    /// or says why it could not. Removes nothing, so a run asks for it while it asks the daemon
    /// other things, and reaps once the daemon is accepted.
    static func list(client: DockerClient) async -> Result<[ContainerSummary], any Error> {
        do {
            return .success(try await client.listContainers(labels: [DockerSession.Label.marker: "1"], all: true))
        } catch {
            return .failure(error)
        }
    }

    /// Of the `listing`, keeps the containers whose `dev.sutradhar.host` is this host and whose
    /// `dev.sutradhar.pid` is dead (kill(2) with signal 0 fails with ESRCH), and force-removes them
    /// (`DELETE /containers/{id}?force=1`), reporting each through `report`. Failures (the listing's
    /// too) are reported, never thrown: a leftover must not stop the next run.
    static func reap(_ listing: Result<[ContainerSummary], any Error>, client: DockerClient,
                     report: @Sendable (String) -> Void) async {
        let host = ProcessInfo.processInfo.hostName
        let containers: [ContainerSummary]
        switch listing {
        case .success(let listed):
            containers = listed
        case .failure(let error):
            report("could not list containers left by earlier runs: \(error)")
            return
        }
        for container in containers where container.labels[DockerSession.Label.host] == host {
            guard let pid = container.labels[DockerSession.Label.pid].flatMap({ pid_t($0) }), isDead(pid) else { continue }
            let name = container.names.first.map { String($0.drop { $0 == "/" }) } ?? String(container.id.prefix(12))
            let run = container.labels[DockerSession.Label.run] ?? "?"
            do {
                try await client.removeContainer(container.id, force: true)
                report("removed container \(name) (\(container.state)) left by run \(run), whose process \(pid) is gone")
            } catch {
                report("could not remove container \(name) left by run \(run) (process \(pid) is gone): \(error)")
            }
        }
    }

    /// Whether no process `pid` exists. EPERM means one exists that we may not signal: alive.
    static func isDead(_ pid: pid_t) -> Bool {
        guard pid > 0, pid != getpid() else { return false }
        return kill(pid, 0) != 0 && errno == ESRCH
    }
}
