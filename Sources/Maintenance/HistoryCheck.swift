import Foundation
import RunHistory

extension RunHistory {
    /// Doctor's line for the run history of `cacheRoot`: `ok, N runs`; or, when opening it found
    /// the database corrupt (now or earlier), that it was recovered and where the corrupt file
    /// went; or a failure saying what to do. Opening it performs the recovery.
    public static func doctorCheck(cacheRoot: URL) -> DoctorCheck {
        do {
            let history = try RunHistory(cacheRoot: cacheRoot, integrity: .always)
            let count = try history.count()
            let runs = "\(count) run\(count == 1 ? "" : "s")"
            if let recovery = history.recovery {
                return DoctorCheck("run history", ok: true,
                                   "recovered from a corrupt file (\(recovery.cause)), moved aside to \(recovery.movedAside.path); "
                                   + "\(recovery.rebuiltRuns) rebuilt from the run folders, \(runs) now")
            }
            let aside = ((try? FileManager.default.contentsOfDirectory(atPath: history.folder.path)) ?? [])
                .filter { $0.hasPrefix("history.sqlite.corrupt-") && !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm") }.sorted()
            guard let latest = aside.last else { return DoctorCheck("run history", ok: true, "ok, \(runs)") }
            return DoctorCheck("run history", ok: true, "ok, \(runs); recovered earlier from a corrupt file, moved aside to "
                               + history.folder.appendingPathComponent(latest).path)
        } catch {
            return DoctorCheck("run history", ok: false, "\(error)",
                               fix: "check that \(cacheRoot.appendingPathComponent("runs").path) is a writable folder, "
                               + "or move it aside (runs are not needed to build)")
        }
    }
}
