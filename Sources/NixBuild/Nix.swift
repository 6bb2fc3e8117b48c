import Foundation
import Subprocess

/// A nix configuration setting passed on the command line as `--option NAME VALUE`.
public struct NixOption: Sendable, Hashable {
    /// The setting's name, e.g. `substituters`.
    public let name: String
    /// The setting's value, e.g. the empty string to use no binary cache.
    public let value: String

    /// Creates an option; `NixOption(name: "substituters", value: "")` builds without binary caches.
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// What `nix build --json` reported for the one installable built.
public struct NixBuildResult: Sendable, Hashable {
    /// The store path of the derivation that was built (`/nix/store/…drv`).
    public let drvPath: String
    /// Each output's name and store path; `outputs["out"]` is the default output.
    public let outputs: [String: String]

    /// Creates a result; normally made by ``Nix/build(installable:workingDirectory:outLink:log:)``.
    public init(drvPath: String, outputs: [String: String]) {
        self.drvPath = drvPath
        self.outputs = outputs
    }
}

/// Runs the `nix` command line (through swift-subprocess) to build flakes and query the store.
///
/// Every call except ``version()`` passes `--extra-experimental-features 'nix-command flakes'`
/// and each of ``options`` as `--option NAME VALUE`. nix runs in a session of its own; when the
/// calling task is cancelled it is stopped (SIGTERM to its process group, SIGKILL after
/// ``terminationGracePeriod``), reaped, and the call throws ``NixError`` with code `.cancelled`
/// (never `CancellationError`). When the calling process dies, even by SIGKILL, nix is stopped
/// the same way by a watchdog started with it (`/bin/sh`, in nix's process group).
public struct Nix: Sendable {
    /// How many of nix's last stderr lines a ``NixError`` keeps in ``NixError/logTail``.
    public static let logTailLimit = 50
    /// The most stdout kept from one call; nix prints only a little JSON there.
    public static let standardOutputLimit = 1 << 20
    /// Longer stderr lines are cut to this many bytes (the rest of the line is dropped).
    public static let maxLogLineBytes = 16 * 1024

    /// The nix executable: a name looked up on `PATH`, or a path containing `/`.
    public let executable: String
    /// Settings passed to every call as `--option NAME VALUE`.
    public let options: [NixOption]
    /// Variables set for nix on top of the inherited environment (e.g. `NIX_REMOTE=daemon`).
    public let environment: [String: String]
    /// How long nix has after SIGTERM, on cancellation, before its process group is SIGKILLed.
    public let terminationGracePeriod: Duration

    /// Describes how to run nix; nothing is run until a method is called. `executable` is looked
    /// up on the `PATH` of the environment nix gets; `environment` entries whose names are not
    /// valid variable names (empty, or holding `=`) are ignored.
    public init(
        executable: String = "nix",
        options: [NixOption] = [],
        environment: [String: String] = [:],
        terminationGracePeriod: Duration = .seconds(3)
    ) {
        self.executable = executable
        self.options = options
        self.environment = environment
        self.terminationGracePeriod = terminationGracePeriod
    }

    /// Runs `nix --version` and reads the version.
    ///
    /// This call alone passes no feature flags: a nix older than 2.4 would reject them and then
    /// could not say how old it is.
    /// - Throws: ``NixError`` `.nixMissing` if the executable is not found, `.nixTooOld` if it is
    ///   older than ``NixVersion/minimumSupported``, `.unexpectedOutput` if it fails or prints
    ///   no version, `.cancelled` if the task is cancelled.
    public func version() async throws -> NixVersion {
        let outcome = try await execute(["--version"], workingDirectory: nil)
        let text = String(decoding: outcome.standardOutput, as: UTF8.self)
        guard outcome.status.isSuccess, let version = NixVersion.parse(text) else {
            throw NixError(
                code: .unexpectedOutput,
                message: "'\(outcome.command.joined(separator: " "))' printed no version "
                    + "(\(text.trimmingCharacters(in: .whitespacesAndNewlines).prefix(200))). "
                    + "Check that '\(executable)' is Nix.",
                exitCode: outcome.exitCode,
                logTail: outcome.logTail,
                command: outcome.command
            )
        }
        guard version >= NixVersion.minimumSupported else {
            throw NixError(
                code: .nixTooOld,
                message: "Nix \(version) is too old: flakes need Nix \(NixVersion.minimumSupported) or newer. "
                    + "Upgrade nix (on Debian 12: apt-get install nix-bin gives 2.8).",
                command: outcome.command
            )
        }
        return version
    }

    /// Builds one installable: `nix build INSTALLABLE --json --out-link OUTLINK -L`, run in
    /// `workingDirectory`, with flakes enabled and every option as `--option NAME VALUE`.
    ///
    /// A relative flake installable is first made absolute with
    /// ``resolveInstallable(_:in:)``, so the flake is that folder even inside another git
    /// repository. Each stderr line (nix's progress and the builders' own output) is passed to
    /// `log` as it arrives, from another task. nix itself creates `outLink` (a GC root) when the
    /// build succeeds; a symlink already at `outLink` is removed first, and a failed or cancelled
    /// build leaves none there.
    /// `started` gets nix's process ID once it runs (see ``NixProcess`` for finding it again
    /// after this process was killed).
    /// - Throws: ``NixError`` `.buildFailed` (with exit code and log tail) if nix exits non-zero,
    ///   `.flakesUnavailable` if nix refuses flakes, `.unexpectedOutput` if its JSON cannot be
    ///   read, `.nixMissing`, or `.cancelled` if the calling task is cancelled.
    public func build(
        installable: String,
        workingDirectory: URL,
        outLink: URL,
        log: @escaping @Sendable (String) -> Void,
        started: (@Sendable (Int32) -> Void)? = nil
    ) async throws -> NixBuildResult {
        let resolved = Self.resolveInstallable(installable, in: workingDirectory)
        let outLinkPath = outLink.standardizedFileURL.path
        try prepareOutLink(at: outLinkPath)
        do {
            let outcome = try await execute(
                ["build", resolved, "--json", "--out-link", outLinkPath, "-L"] + commonFlags,
                workingDirectory: workingDirectory,
                log: log,
                started: started
            )
            guard outcome.status.isSuccess else {
                let failed = failure(of: outcome, code: .buildFailed, what: "building \(resolved)")
                // A daemon that dies mid-build makes nix say "unexpected end-of-file", a broken pipe
                // or a reset connection: ask the store (one `nix store ping`, tens of ms, only
                // for a failed build), so that the machine, not the commit, is blamed when it is gone.
                if failed.code == .buildFailed {
                    do {
                        _ = try await pingStore()
                    } catch let unreachable as NixError where unreachable.code == .storeUnreachable {
                        throw unreachable
                    } catch {}
                }
                throw failed
            }
            return try Self.parseBuildOutput(outcome)
        } catch {
            // nix makes the link only on success, but a build that succeeded just as it was
            // cancelled, or whose output could not be read, must not leave one either.
            removeSymlink(at: outLinkPath)
            throw error
        }
    }

    /// Evaluates the derivation path of an installable without building it:
    /// `nix eval --raw INSTALLABLE.drvPath`, run in `workingDirectory` (relative flake
    /// installables are made absolute as in ``build(installable:workingDirectory:outLink:log:)``;
    /// one without a `#` fragment means its `default` package).
    /// - Throws: ``NixError`` `.evalFailed` if nix exits non-zero, `.unexpectedOutput` if it
    ///   prints no store path, `.flakesUnavailable`, `.nixMissing`, or `.cancelled`.
    public func derivationPath(installable: String, workingDirectory: URL) async throws -> String {
        let resolved = Self.resolveInstallable(installable, in: workingDirectory)
        let attribute = resolved.contains("#") ? resolved + ".drvPath" : resolved + "#default.drvPath"
        let outcome = try await execute(
            ["eval", "--raw", attribute] + commonFlags,
            workingDirectory: workingDirectory
        )
        guard outcome.status.isSuccess else {
            throw failure(of: outcome, code: .evalFailed, what: "evaluating \(attribute)")
        }
        let path = String(decoding: outcome.standardOutput, as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard path.hasPrefix("/"), path.hasSuffix(".drv"), !outcome.standardOutputOverflowed else {
            throw NixError(
                code: .unexpectedOutput,
                message: "'\(outcome.command.joined(separator: " "))' printed no derivation path: "
                    + "\(path.prefix(200)). Check that \(installable) is a derivation.",
                logTail: outcome.logTail,
                command: outcome.command
            )
        }
        return path
    }

    /// Asks the store nix uses (the local one, or the daemon `NIX_REMOTE` names) whether it
    /// answers, by `nix store ping`.
    /// - Returns: the store's URL as nix names it (`daemon`, `local`, `unix:///…`).
    /// - Throws: ``NixError`` `.storeUnreachable` if the daemon does not answer, `.nixMissing`,
    ///   or `.unexpectedOutput` for any other failure.
    public func pingStore() async throws -> String {
        let outcome = try await execute(["store", "ping"] + commonFlags, workingDirectory: nil)
        guard outcome.status.isSuccess else {
            throw failure(of: outcome, code: .unexpectedOutput, what: "reaching its store")
        }
        // nix 2.8 prints "Store URL: daemon" to stderr; stdout is read too.
        let lines = outcome.logTail + String(decoding: outcome.standardOutput, as: UTF8.self).split(separator: "\n").map(String.init)
        let prefix = "Store URL: "
        return lines.first { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) } ?? "(unnamed)"
    }

    /// The largest closure description streamed to a file (`closureInfo(of:into:)`): a closure
    /// of hundreds of thousands of paths; past it the answer is not kept.
    public static let closureInfoFileLimit = 256 << 20

    /// Writes the JSON of `nix path-info -r --json PATH` into `file` as nix prints it, never
    /// holding more than a pipe buffer of it in memory, and returns its size in bytes. The file is
    /// written whole or not at all (a temporary beside it, renamed).
    /// - Throws: ``NixError`` `.unexpectedOutput` if nix fails, the file cannot be written or the
    ///   answer exceeds ``closureInfoFileLimit`` bytes, `.storeUnreachable`, `.nixMissing`, or `.cancelled`.
    public func closureInfo(of storePath: String, into file: URL) async throws -> Int {
        let temporary = file.deletingLastPathComponent()
            .appendingPathComponent(".\(file.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp")
        let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw NixError(code: .unexpectedOutput, message: "cannot write \(temporary.path) (errno \(errno)) for the closure of \(storePath)")
        }
        var renamed = false
        defer {
            close(descriptor)
            if !renamed { unlink(temporary.path) }
        }
        let limit = Self.closureInfoFileLimit
        let outcome = try await execute(["path-info", "-r", "--json", storePath] + commonFlags, workingDirectory: nil,
                                        standardOutputTo: (descriptor, limit))
        guard outcome.status.isSuccess else {
            throw failure(of: outcome, code: .unexpectedOutput, what: "describing the closure of \(storePath)")
        }
        guard !outcome.standardOutputOverflowed else {
            throw NixError(code: .unexpectedOutput,
                           message: "the closure of \(storePath) is described in more than \(limit >> 20) MiB of JSON "
                               + "(or its file could not be written); it is not read",
                           command: outcome.command)
        }
        let size = Int(lseek(descriptor, 0, SEEK_CUR))
        guard rename(temporary.path, file.path) == 0 else {
            throw NixError(code: .unexpectedOutput, message: "cannot rename \(temporary.path) to \(file.path) (errno \(errno))")
        }
        renamed = true
        return size
    }

    /// Whether a store path is still valid (present and registered in the store), by
    /// `nix path-info PATH`. Returns false on any failure: path unknown, nix missing, nix
    /// hanging for more than 60 seconds, or the task cancelled.
    public func isValid(storePath: String) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                let outcome = try? await execute(["path-info", storePath] + commonFlags, workingDirectory: nil)
                return outcome?.status.isSuccess ?? false
            }
            group.addTask {
                // A store locked by a stuck process would otherwise hang this query forever.
                try? await Task.sleep(for: .seconds(60))
                return false
            }
            let answer = await group.next() ?? false
            group.cancelAll()
            return answer
        }
    }

    /// Rewrites a relative flake installable to `path:ABSOLUTE#attr` under `workingDirectory`.
    ///
    /// Why: for `.#attr` nix looks for an enclosing git repository and, if it finds one, takes
    /// the flake from that repository's tracked files — a checkout in a plain folder inside
    /// another repository would build the wrong flake, or fail on untracked files. A `path:`
    /// flake is exactly that folder.
    ///
    /// `.`, `.#attr`, `./sub#attr`, `../x#attr` (and a `?query` before the `#`) are rewritten;
    /// anything else — `github:`, `git+file:`, `path:`, absolute paths, `/nix/store` paths,
    /// registry names such as `nixpkgs#hello` — is returned unchanged. Nix 2.8 does not decode
    /// percent-escapes in `path:` URLs, so if the absolute folder holds characters a URL may not
    /// (a space, say), the relative form `path:./sub#attr` is returned instead, which nix resolves
    /// against the working directory that ``build(installable:workingDirectory:outLink:log:)``
    /// runs it in.
    public static func resolveInstallable(_ installable: String, in workingDirectory: URL) -> String {
        let beforeFragment = installable.firstIndex(of: "#").map { installable[..<$0] } ?? installable[...]
        let fragment = installable[beforeFragment.endIndex...]  // "" or "#attr"
        let pathEnd = beforeFragment.firstIndex(of: "?") ?? beforeFragment.endIndex
        let relativePath = beforeFragment[..<pathEnd]
        let query = beforeFragment[pathEnd...]  // "" or "?dir=…"
        guard relativePath == "." || relativePath == ".." || relativePath.hasPrefix("./")
                || relativePath.hasPrefix("../")
        else { return installable }

        let absolute = workingDirectory.appendingPathComponent(String(relativePath)).standardizedFileURL.path
        let flakePath = absolute.allSatisfy(isURLPathCharacter) ? absolute : String(relativePath)
        return "path:" + flakePath + query + fragment
    }

    /// Characters nix 2.8 accepts unescaped in the path of a flake URL (RFC 3986 `pchar` and `/`).
    private static func isURLPathCharacter(_ character: Character) -> Bool {
        character.isASCII && (character.isLetter || character.isNumber || "-._~!$&'()*+,;=:@/".contains(character))
    }

    /// Reads `[{"drvPath": …, "outputs": {"out": …}}]`, the JSON `nix build --json` prints.
    static func parseBuildOutput(_ outcome: NixRunOutcome) throws -> NixBuildResult {
        struct Entry: Decodable {
            let drvPath: String
            let outputs: [String: String]
        }
        let problem: String
        if outcome.standardOutputOverflowed {
            problem = "more than \(standardOutputLimit) bytes"
        } else if let entries = try? JSONDecoder().decode([Entry].self, from: Data(outcome.standardOutput)),
                  let first = entries.first, !first.outputs.isEmpty {
            return NixBuildResult(drvPath: first.drvPath, outputs: first.outputs)
        } else {
            problem = String(decoding: outcome.standardOutput.prefix(300), as: UTF8.self)
        }
        throw NixError(
            code: .unexpectedOutput,
            message: "'\(outcome.command.joined(separator: " "))' succeeded but its --json output "
                + "could not be read (\(problem)). This nix may print another format; Nix 2.4 to 2.x "
                + "print [{\"drvPath\":…,\"outputs\":{…}}].",
            exitCode: outcome.exitCode,
            logTail: outcome.logTail,
            command: outcome.command
        )
    }

    /// The error for a nix call that exited non-zero, naming nix's own last `error:` line.
    func failure(of outcome: NixRunOutcome, code: NixError.Code, what: String) -> NixError {
        let cause = Self.lastErrorLine(in: outcome.logTail)
        if let cause, cause.contains("cannot connect to socket at") || cause.contains("cannot connect to daemon") {
            return NixError(
                code: .storeUnreachable,
                message: "nix cannot reach the nix daemon while \(what): \(cause). Start it (as root: "
                    + "'nix-daemon &', or 'systemctl start nix-daemon'; scripts/setup.sh does), and check that "
                    + "this user may open its socket (Debian: the nix-users group); or unset NIX_REMOTE to "
                    + "use a single-user store.",
                exitCode: outcome.exitCode,
                logTail: outcome.logTail,
                command: outcome.command
            )
        }
        if let unreachable = builderFailure(of: outcome, what: what) {
            return unreachable
        }
        if let cause, cause.contains("experimental Nix feature"), cause.contains("disabled") {
            return NixError(
                code: .flakesUnavailable,
                message: "nix refused flakes while \(what): \(cause). Allow the 'nix-command' and "
                    + "'flakes' features (experimental-features in nix.conf).",
                exitCode: outcome.exitCode,
                logTail: outcome.logTail,
                command: outcome.command
            )
        }
        let status: String
        switch outcome.status {
        case .exited(let code): status = "exit status \(code)"
        case .signaled(let signal): status = "signal \(signal)"
        }
        return NixError(
            code: code,
            message: "nix failed \(what) (\(status)): \(cause ?? "no error line in its log"). "
                + "See the log above; the command was: \(outcome.command.joined(separator: " "))",
            exitCode: outcome.exitCode,
            logTail: outcome.logTail,
            command: outcome.command
        )
    }

    /// Removes a stale out-link so that a failing build cannot leave the last success's link
    /// behind, and creates the folder nix will put the link in.
    /// - Throws: ``NixError`` `.unexpectedOutput` if something other than a symlink is in the way.
    private func prepareOutLink(at path: String) throws {
        removeSymlink(at: path)
        let fileManager = FileManager.default
        if fileManager.fileExists(atPath: path) {
            throw NixError(
                code: .unexpectedOutput,
                message: "the out-link path \(path) is taken by a file or folder that is not a symlink; "
                    + "remove it or choose another out-link."
            )
        }
        let parent = (path as NSString).deletingLastPathComponent
        do {
            try fileManager.createDirectory(atPath: parent, withIntermediateDirectories: true)
        } catch {
            throw NixError(
                code: .unexpectedOutput,
                message: "could not create \(parent) for the out-link; check its permissions.",
                underlyingError: error
            )
        }
    }

    private func removeSymlink(at path: String) {
        var info = stat()
        if lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFLNK {
            unlink(path)
        }
    }
}
