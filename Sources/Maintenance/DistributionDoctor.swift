import Engine
import Foundation
import NixBuild
import Pipeline
import RunEvents

extension Doctor {
    /// The longest a builder may take to answer `nix store ping` before doctor calls it
    /// unreachable: ssh's connect timeout (10 s) plus the remote nix's start-up, generously, as a
    /// loaded machine starts processes slowly.
    static let builderDeadline: Duration = .seconds(30)

    /// One line per remote builder of `definition` (`nix store ping --store URI`, with its key and
    /// host key, within ``builderDeadline``), saying which does not answer and why; and one for
    /// its `cache.nix-push` key file, which the push reads.
    public static func distributionChecks(for definition: PipelineDefinition) async -> [DoctorCheck] {
        var checks: [DoctorCheck] = []
        for builder in definition.nixDistribution.builders {
            checks.append(await builderCheck(builder, pipeline: definition.name))
        }
        if let push = definition.cache.nixPush {
            let readable = FileManager.default.isReadableFile(atPath: push.secretKeyFile)
            checks.append(DoctorCheck("nix-push", ok: readable,
                readable ? "\(definition.name): pushes to \(push.uri), signed with \(push.secretKeyFile)"
                         : "\(definition.name): the push key \(push.secretKeyFile) is not readable by this user",
                fix: readable ? nil : "make a key with 'nix key generate-secret --key-name NAME-1 > FILE' readable by the user running pipelines"))
        }
        return checks
    }

    static func builderCheck(_ builder: NixBuilder, pipeline: String) async -> DoctorCheck {
        let name = "builder"
        do {
            let store = try await withDeadline(builderDeadline) { try await Nix().pingStore(uri: builder.storeURI) }
            return DoctorCheck(name, ok: true, "\(pipeline): \(builder.uri) answers (\(store))")
        } catch let error as NixError {
            return DoctorCheck(name, ok: false, "\(pipeline): \(builder.uri) is unreachable: \(error.message)",
                               fix: Self.builderFix(builder))
        } catch {
            return DoctorCheck(name, ok: false, "\(pipeline): \(builder.uri) did not answer within \(builderDeadline) (\(error))",
                               fix: Self.builderFix(builder))
        }
    }

    private static func builderFix(_ builder: NixBuilder) -> String {
        let key = builder.sshKey.map { " with the key \($0)" } ?? ""
        return "check that \(builder.uri) is up and that 'ssh\(builder.sshKey.map { " -i \($0)" } ?? "") "
            + "\(builder.uri.split(separator: "/").last ?? "") nix-store --version' works as root (nix-daemon connects as root\(key))"
    }
}
