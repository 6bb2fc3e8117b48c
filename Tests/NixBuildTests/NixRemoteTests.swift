import Foundation
import NixBuild
import SutradharTesting
import Testing

/// Remote builders and binary caches as `Nix` sees them, against shell scripts standing in for
/// nix: the log lines it reads, the failures it blames on the machines, and `nix copy`.
@Suite struct NixRemoteTests {
    @Test func remoteBuildAndSubstitutionLinesAreRead() {
        let remote = Nix.remoteBuild(in: "building '/nix/store/abc-x.drv' on 'ssh-ng://root@10.231.0.2'...")
        #expect(remote?.derivation == "/nix/store/abc-x.drv")
        #expect(remote?.machine == "ssh-ng://root@10.231.0.2")
        #expect(Nix.remoteBuild(in: "building '/nix/store/abc-x.drv'...") == nil, "a local build names no machine")
        let copied = Nix.substitution(in: "copying path '/nix/store/def-y' from 'file:///srv/cache'...")
        #expect(copied?.path == "/nix/store/def-y")
        #expect(copied?.cache == "file:///srv/cache")
        #expect(Nix.substitution(in: "copying path '/nix/store/def-y' to 'ssh-ng://b'...") == nil)
    }

    @Test func aBuilderThatCannotBeReachedIsAMachineProblem() async throws {
        let fake = try writeFakeNix("""
            echo "cannot build on 'ssh-ng://root@10.9.9.9': error: cannot open connection to remote store 'ssh-ng://root@10.9.9.9': error: unexpected end-of-file" >&2
            echo "Failed to find a machine for remote build!" >&2
            echo "error: unable to start any build; remote machines may not have all required system features." >&2
            exit 1
            """)
        defer { try? FileManager.default.removeItem(at: fake.deletingLastPathComponent()) }
        let folder = fake.deletingLastPathComponent()
        let error = await #expect(throws: NixError.self) {
            try await Nix(executable: fake.path, options: [NixOption(name: "builders", value: "ssh-ng://root@10.9.9.9")])
                .build(installable: ".", workingDirectory: folder, outLink: folder.appendingPathComponent("result"), log: { _ in })
        }
        #expect(error?.code == .builderUnreachable)
        #expect(error?.message.contains("could not use the builder ssh-ng://root@10.9.9.9") == true, "\(String(describing: error))")
        #expect(error?.message.contains("unexpected end-of-file") == true)
    }

    @Test func buildersIgnoredByTheDaemonUnderMaxJobsZeroSayWhy() async throws {
        let fake = try writeFakeNix("""
            echo "error: unable to start any build; either increase '--max-jobs' or enable remote builds." >&2
            exit 1
            """)
        defer { try? FileManager.default.removeItem(at: fake.deletingLastPathComponent()) }
        let folder = fake.deletingLastPathComponent()
        func build(_ options: [NixOption]) async -> NixError? {
            await #expect(throws: NixError.self) {
                try await Nix(executable: fake.path, options: options)
                    .build(installable: ".", workingDirectory: folder, outLink: folder.appendingPathComponent("result"), log: { _ in })
            }
        }
        let withBuilders = await build([NixOption(name: "builders", value: "ssh-ng://b"), NixOption(name: "max-jobs", value: "0")])
        #expect(withBuilders?.code == .builderUnreachable)
        #expect(withBuilders?.message.contains("trusted-users") == true)
        // Without builders of the pipeline's own, max-jobs 0 is the definition's doing: a build failure.
        let without = await build([NixOption(name: "max-jobs", value: "0")])
        #expect(without?.code == .buildFailed)
    }

    @Test func copyPassesTheDestinationAndSumsTheClosure() async throws {
        let fake = try writeFakeNix("""
            for argument in "$@"; do printf '[%s]\\n' "$argument" >> "$ARGS_FILE"; done
            if [ "$1" = path-info ]; then echo '[{"path":"/nix/store/a","narSize":1000},{"path":"/nix/store/b","narSize":24}]'; fi
            """)
        defer { try? FileManager.default.removeItem(at: fake.deletingLastPathComponent()) }
        let argumentsFile = fake.deletingLastPathComponent().appendingPathComponent("arguments")
        let copied = try await Nix(executable: fake.path, environment: ["ARGS_FILE": argumentsFile.path])
            .copy(closureOf: "/nix/store/a", to: "file:///c?secret-key=/k")
        #expect(copied == NixCopyResult(paths: 2, bytes: 1024))
        let arguments = try String(contentsOf: argumentsFile, encoding: .utf8)
        #expect(arguments.hasPrefix("[copy]\n[--to]\n[file:///c?secret-key=/k]\n[/nix/store/a]\n"))
        #expect(arguments.contains("[path-info]\n[--json]\n[-r]\n[/nix/store/a]\n"))
    }

    @Test func aFailedCopyIsAPushFailureNamingTheCacheWithoutItsQuery() async throws {
        let fake = try writeFakeNix("""
            echo "error: opening file '/k': No such file or directory" >&2
            exit 1
            """)
        defer { try? FileManager.default.removeItem(at: fake.deletingLastPathComponent()) }
        let error = await #expect(throws: NixError.self) {
            try await Nix(executable: fake.path).copy(closureOf: "/nix/store/a", to: "file:///c?secret-key=/k")
        }
        #expect(error?.code == .pushFailed)
        #expect(error?.message == "nix could not copy /nix/store/a to file:///c: error: opening file '/k': No such file or directory")
    }
}
