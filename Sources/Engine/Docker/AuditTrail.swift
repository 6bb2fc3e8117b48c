import DockerEngine
import Foundation
import RunEvents

extension DockerSession {
    /// The stage name under which the daemon's own record of the run appears in the logs.
    public static let auditStage = StageResult.auditStageName

    /// Copies the daemon's events about this run's containers (`GET /events` filtered by the
    /// run's label, from `start` to now) into the run's log, as an audit trail of what was
    /// created, started, killed and destroyed. Bounded by `until`, so it ends by itself.
    /// Skipped at once when the daemon went away during the run.
    func recordAuditTrail(since start: Date, log: @Sendable (String) -> Void) async {
        // Only containers carry the run's label: a run that created none has no events to read.
        guard containersRequested.isRaised, let run = runLabels[Label.run] else { return }
        if let gone = daemonFate.goneError {
            // Asking a dead daemon would only wait for the connect timeout.
            log("no audit trail: \(gone.message)")
            return
        }
        do {
            for try await event in client.events(labels: [Label.run: run], since: start, until: Date(), timeout: .seconds(10)) {
                let stage = event.attributes[Label.stage].map { " stage=\($0)" } ?? ""
                let name = event.attributes["name"].map { " name=\($0)" } ?? ""
                let exit = event.attributes["exitCode"].map { " exit=\($0)" } ?? ""
                log("\(RunEvent.rfc3339(event.time)) \(event.type) \(event.action) \(event.actorID.prefix(12))\(name)\(stage)\(exit)")
            }
        } catch {
            log("could not read the daemon's events for this run: \(error)")
        }
    }
}
