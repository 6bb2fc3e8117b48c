import Foundation
import Testing

/// Test support for code that runs nix: whether nix may be used, and tiny offline flakes.
///
/// The flakes have no inputs, so they build without nixpkgs and without a network; their
/// builders are the host's `/bin/sh` with `PATH=/usr/bin:/bin` (Debian's nix builds without a
/// sandbox). Build them with `--option substituters ''`, or nix first spends seconds trying
/// cache.nixos.org.
public enum NixFixtures {
    /// The attribute each fixture flake defines under `packages.<system>`.
    public static let attribute = "fixture"
    /// A line every fixture's builder writes to stderr before anything else.
    public static let startLine = "sutradhar-fixture: builder started"
    /// The succeeding fixture's output file holds exactly this text.
    public static let successOutput = "hello from the sutradhar nix fixture\n"
    /// The last line the failing fixture's builder writes to stderr before it exits 1.
    public static let failureLine = "sutradhar-fixture: this build fails on purpose"

    /// `nil` when `nix --version` runs and reports 2.4 or newer; otherwise why nix is not usable.
    /// Checked once per test process.
    public static let unavailableReason: String? = checkNix()

    /// Whether nix integration tests should run: nix is usable, or CI requires them (and then
    /// ``requireNix()`` fails them with the reason).
    public static var integrationTestsEnabled: Bool {
        unavailableReason == nil || TestEnvironment.isCI
    }

    /// Throws with the reason when nix is not usable. Call it first in a nix integration test,
    /// so that under `CI=true` a missing nix fails the test instead of skipping it.
    public static func requireNix() throws {
        if let unavailableReason {
            throw NixUnavailable(reason: unavailableReason)
        }
    }

    /// The one flake template of the tests: no inputs (it builds offline, with `/bin/sh` as the
    /// builder and `PATH` set), and for x86_64 and aarch64 Linux one `derivation` per package,
    /// whose own attributes (`args`, a nonce, …) are given as Nix text, one per line.
    public static func offlineFlake(description: String, packages: [(attribute: String, name: String, attributes: [String])]) -> String {
        var derivations = ""
        for package in packages {
            derivations += "          \(package.attribute) = derivation {\n"
            derivations += "            name = \"\(package.name)\";\n"
            derivations += "            inherit system;\n"
            derivations += "            builder = \"/bin/sh\";\n"
            derivations += "            PATH = \"/usr/bin:/bin\";\n"
            for attribute in package.attributes { derivations += "            \(attribute)\n" }
            derivations += "          };\n"
        }
        return """
            {
              description = "\(description): no inputs, builds offline";
              outputs = { self }:
                let
                  systems = [ "x86_64-linux" "aarch64-linux" ];
                  forEach = f: builtins.listToAttrs (map (system: { name = system; value = f system; }) systems);
                in {
                  packages = forEach (system: {
            \(derivations)      });
                };
            }

            """
    }

    /// Writes a fixture flake of `kind` into `directory` (created if needed) and returns it.
    ///
    /// The slow fixture's builder writes its PID and that of a child `sleep` it starts, one per
    /// line, to `pidFile` — which must be writable by nix's build users (`nixbld*` when nix runs
    /// as root): ``withFlake(_:_:)`` makes a world-writable folder for it. `nonce` goes into the derivation,
    /// so a new nonce means a new derivation that nix really builds instead of finding built.
    public static func writeFlake(
        _ kind: NixFixtureFlake.Kind,
        into directory: URL,
        pidFile: URL,
        nonce: String = UUID().uuidString
    ) throws -> NixFixtureFlake {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let flake = offlineFlake(description: "sutradhar test fixture (\(kind.rawValue))", packages: [
            (attribute, "sutradhar-fixture-\(kind.rawValue)", ["args = [ ./builder.sh ];", "pidFile = \"\(pidFile.path)\";", "nonce = \"\(nonce)\";"]),
        ])
        let script: String
        switch kind {
        case .succeeding:
            script = """
                echo "sutradhar-fixture: a line on stdout"
                printf '\(successOutput.replacingOccurrences(of: "\n", with: "\\n"))' > "$out"

                """
        case .failing:
            script = """
                echo "sutradhar-fixture: about to fail" >&2
                echo "\(failureLine)" >&2
                exit 1

                """
        case .slow:
            script = """
                # A child process, so tests can check that stopping a build reaches the builder's children.
                sleep 300 &
                printf '%s\\n%s\\n' "$$" "$!" > "$pidFile.tmp" && mv "$pidFile.tmp" "$pidFile"
                echo "sutradhar-fixture: sleeping until stopped" >&2
                wait
                echo "sutradhar-fixture: the sleep ended; this fixture should have been stopped" >&2
                exit 1

                """
        }
        let header = """
            # Written by SutradharTesting.NixFixtures; nix runs it as the builder, with /bin/sh.
            echo "\(startLine)" >&2

            """
        try flake.write(to: directory.appendingPathComponent("flake.nix"), atomically: true, encoding: .utf8)
        try (header + script).write(
            to: directory.appendingPathComponent("builder.sh"), atomically: true, encoding: .utf8)
        return NixFixtureFlake(kind: kind, directory: directory, pidFile: pidFile)
    }

    /// Makes a temporary folder holding a fixture flake (`flake/`), a world-writable folder for
    /// the builder's PID file (`state/`) and room for an out-link, runs `body`, then removes the
    /// folder — also when `body` throws or the task is cancelled.
    public static func withFlake<Result>(
        _ kind: NixFixtureFlake.Kind,
        _ body: (NixFixtureFlake) async throws -> Result
    ) async throws -> Result {
        let root = try makeTemporaryDirectory(prefix: "sutradhar-nix-\(kind.rawValue)")
        defer { try? FileManager.default.removeItem(at: root) }
        let state = root.appendingPathComponent("state")
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: false)
        // nix (as root) runs builders as nixbld users, who must be able to write the PID file.
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: state.path)
        let flake = try writeFlake(
            kind,
            into: root.appendingPathComponent("flake"),
            pidFile: state.appendingPathComponent("builder.pid")
        )
        return try await body(flake)
    }

    /// Creates an empty folder under the temporary directory, readable by every user (nix's
    /// build users must reach the PID file below it).
    public static func makeTemporaryDirectory(prefix: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(prefix)-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
        return url
    }

    private static func checkNix() -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["nix", "--version"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return "could not run /usr/bin/env nix --version: \(error)"
        }
        // `nix --version` prints one short line, so reading to the end is bounded.
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            return "`nix --version` failed (status \(process.terminationStatus))"
        }
        let numbers = (output.split(separator: " ").last ?? "").split(separator: ".")
            .map { Int($0.prefix(while: \.isNumber)) ?? 0 }
        guard numbers.count >= 2, (numbers[0], numbers[1]) >= (2, 4) else {
            return "nix is too old or unrecognised (\(output.trimmingCharacters(in: .whitespacesAndNewlines))); flakes need 2.4+"
        }
        return nil
    }
}

/// A fixture flake written by ``NixFixtures``.
public struct NixFixtureFlake: Sendable {
    /// What the fixture's builder does.
    public enum Kind: String, Sendable, CaseIterable {
        /// Writes ``NixFixtures/successOutput`` to `$out` and exits 0.
        case succeeding
        /// Prints ``NixFixtures/failureLine`` to stderr and exits 1.
        case failing
        /// Sleeps (300 s) until stopped: for cancellation tests.
        case slow
    }

    /// What the builder does.
    public let kind: Kind
    /// The folder holding `flake.nix` and `builder.sh`.
    public let directory: URL
    /// The file the slow builder writes its PID and its child's PID to, one per line.
    public let pidFile: URL

    /// `path:/abs/folder#fixture`: the installable for exactly this folder.
    public var installable: String { "path:\(directory.path)#\(NixFixtures.attribute)" }

    /// A path next to (not inside) the flake folder for an out-link; nothing exists there yet.
    public var suggestedOutLink: URL {
        directory.deletingLastPathComponent().appendingPathComponent("result")
    }

    /// The PIDs the slow builder wrote (builder first, then its child), or `nil` until it has
    /// written both.
    public func builderPIDs() -> [Int32]? {
        guard let text = try? String(contentsOf: pidFile, encoding: .utf8) else { return nil }
        let pids = text.split(separator: "\n").compactMap { Int32($0) }
        return pids.count == 2 ? pids : nil
    }
}

/// Thrown by ``NixFixtures/requireNix()`` when nix is not usable here.
public struct NixUnavailable: Error, CustomStringConvertible {
    /// Why nix is not usable.
    public let reason: String
    /// The reason, with what to do about it.
    public var description: String {
        "nix is required for this test but not usable: \(reason). Install it with scripts/setup.sh (as root)."
    }
}

extension Trait where Self == ConditionTrait {
    /// Runs a test or suite only where nix is usable, and always under `CI=true` (where a missing
    /// nix must fail the test: call ``NixFixtures/requireNix()`` inside it).
    public static var requiresNix: Self {
        .enabled(if: NixFixtures.integrationTestsEnabled, "nix is not usable here and CI is not set")
    }
}
