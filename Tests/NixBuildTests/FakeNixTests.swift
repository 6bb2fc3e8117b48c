import Foundation
import NixBuild
import SutradharTesting
import Synchronization
import Testing

/// Behaviour of the process handling, checked against shell scripts standing in for `nix`:
/// these need no nix, so they run everywhere.
@Suite struct FakeNixTests {
    @Test func everyCallPassesFlakeFeaturesAndOptions() async throws {
        let fake = try writeFakeNix("""
            for argument in "$@"; do printf '[%s]\\n' "$argument" >> "$ARGS_FILE"; done
            echo '[{"drvPath":"/nix/store/a-x.drv","outputs":{"out":"/nix/store/b-x"}}]'
            """)
        defer { try? FileManager.default.removeItem(at: fake.deletingLastPathComponent()) }
        let argumentsFile = fake.deletingLastPathComponent().appendingPathComponent("arguments")
        let nix = Nix(
            executable: fake.path,
            options: [NixOption(name: "substituters", value: ""), NixOption(name: "cores", value: "1")],
            environment: ["ARGS_FILE": argumentsFile.path]
        )
        let folder = fake.deletingLastPathComponent()
        let result = try await nix.build(
            installable: ".#image", workingDirectory: folder,
            outLink: folder.appendingPathComponent("result"), log: { _ in })

        #expect(result == NixBuildResult(drvPath: "/nix/store/a-x.drv", outputs: ["out": "/nix/store/b-x"]))
        let arguments = try String(contentsOf: argumentsFile, encoding: .utf8)
        #expect(arguments.contains("[build]\n[path:\(folder.standardizedFileURL.path)#image]\n[--json]\n[--out-link]\n"))
        #expect(arguments.contains("[--extra-experimental-features]\n[nix-command flakes]\n"))
        #expect(arguments.contains("[--option]\n[substituters]\n[]\n[--option]\n[cores]\n[1]\n"))
        #expect(arguments.contains("[-L]\n"))
    }

    @Test func stderrLinesStreamInOrderAcrossPartialWritesAndLongLinesAreCut() async throws {
        let fake = try writeFakeNix("""
            printf 'first ' >&2; sleep 0.2; printf 'line\\nsecond line\\n' >&2
            head -c 100000 /dev/zero | tr '\\0' x >&2; printf '\\nlast line' >&2
            echo '[{"drvPath":"/nix/store/a-x.drv","outputs":{"out":"/nix/store/b-x"}}]'
            """)
        defer { try? FileManager.default.removeItem(at: fake.deletingLastPathComponent()) }
        let recorder = LineRecorder()
        let folder = fake.deletingLastPathComponent()
        _ = try await Nix(executable: fake.path).build(
            installable: ".", workingDirectory: folder,
            outLink: folder.appendingPathComponent("result"), log: recorder.log)

        let lines = recorder.lines
        #expect(lines.count == 4)
        #expect(lines.first == "first line")
        #expect(lines.dropFirst().first == "second line")
        #expect(lines.last == "last line")
        let long = lines.dropFirst(2).first ?? ""
        #expect(long.hasPrefix(String(repeating: "x", count: Nix.maxLogLineBytes)))
        #expect(long.utf8.count < Nix.maxLogLineBytes + 100)
    }

    @Test func anUnreachableDaemonIsAStoreProblemNotABuildFailure() async throws {
        let fake = try writeFakeNix("""
            echo "error: cannot connect to socket at '/nix/var/nix/daemon-socket/socket': Connection refused" >&2
            exit 1
            """)
        defer { try? FileManager.default.removeItem(at: fake.deletingLastPathComponent()) }
        let folder = fake.deletingLastPathComponent()
        let nix = Nix(executable: fake.path)
        let build = await #expect(throws: NixError.self) {
            try await nix.build(installable: ".#image", workingDirectory: folder,
                                outLink: folder.appendingPathComponent("result"), log: { _ in })
        }
        #expect(build?.code == .storeUnreachable)
        #expect(build?.message.contains("nix-daemon") == true, "\(String(describing: build?.message))")
        let ping = await #expect(throws: NixError.self) { try await nix.pingStore() }
        #expect(ping?.code == .storeUnreachable)
    }

    @Test func storePingReadsTheStoreURLFromEitherStream() async throws {
        for stream in [">&2", ""] {
            let fake = try writeFakeNix("echo 'Store URL: daemon' \(stream); echo 'Version: 2.8.0' \(stream)")
            defer { try? FileManager.default.removeItem(at: fake.deletingLastPathComponent()) }
            #expect(try await Nix(executable: fake.path).pingStore() == "daemon")
        }
    }

    @Test func unreadableJSONIsUnexpectedOutputAndLeavesNoOutLink() async throws {
        let fake = try writeFakeNix("echo 'this is not json'")
        defer { try? FileManager.default.removeItem(at: fake.deletingLastPathComponent()) }
        let folder = fake.deletingLastPathComponent()
        let outLink = folder.appendingPathComponent("result")
        try FileManager.default.createSymbolicLink(atPath: outLink.path, withDestinationPath: "/nix/store/old")

        let error = await #expect(throws: NixError.self) {
            try await Nix(executable: fake.path).build(
                installable: ".", workingDirectory: folder, outLink: outLink, log: { _ in })
        }
        #expect(error?.code == .unexpectedOutput)
        #expect(error?.message.contains("this is not json") == true)
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: outLink.path)) == nil)
    }

    @Test func failingNixReportsExitCodeAndItsLastErrorLine() async throws {
        let fake = try writeFakeNix("""
            echo "building something" >&2
            echo "error: builder for '/nix/store/x.drv' failed with exit code 3" >&2
            echo "       last 1 log lines:" >&2
            exit 3
            """)
        defer { try? FileManager.default.removeItem(at: fake.deletingLastPathComponent()) }
        let folder = fake.deletingLastPathComponent()
        let error = await #expect(throws: NixError.self) {
            try await Nix(executable: fake.path).build(
                installable: ".", workingDirectory: folder,
                outLink: folder.appendingPathComponent("result"), log: { _ in })
        }
        #expect(error?.code == .buildFailed)
        #expect(error?.exitCode == 3)
        #expect(error?.logTail == [
            "building something",
            "error: builder for '/nix/store/x.drv' failed with exit code 3",
            "       last 1 log lines:",
        ])
        #expect(error?.message.contains("failed with exit code 3") == true)
    }

    @Test func oldNixIsReportedTooOld() async throws {
        let fake = try writeFakeNix("echo 'nix (Nix) 2.3.16'")
        defer { try? FileManager.default.removeItem(at: fake.deletingLastPathComponent()) }
        let error = await #expect(throws: NixError.self) { try await Nix(executable: fake.path).version() }
        #expect(error?.code == .nixTooOld)
        #expect(error?.message.contains("2.3.16") == true)
    }

    /// nix runs under a watchdog that stops it if this process dies; a nix that finishes must
    /// keep its own PID and exit status, and leave no watchdog behind in its process group.
    @Test func aFinishedNixKeepsItsStatusAndLeavesNoWatchdogBehind() async throws {
        let fake = try writeFakeNix("""
            echo "pid $$" >&2
            echo "error: failing on purpose" >&2
            exit 7
            """)
        defer { try? FileManager.default.removeItem(at: fake.deletingLastPathComponent()) }
        let folder = fake.deletingLastPathComponent()
        let recorder = LineRecorder()
        let started = Mutex<Int32?>(Int32?.none)
        let error = await #expect(throws: NixError.self) {
            try await Nix(executable: fake.path).build(
                installable: ".", workingDirectory: folder, outLink: folder.appendingPathComponent("result"),
                log: recorder.log, started: { pid in started.withLock { $0 = pid } })
        }
        #expect(error?.exitCode == 7)
        let pid = try #require(started.withLock { $0 })
        #expect(recorder.lines.first == "pid \(pid)", "nix does not have the PID that was reported: \(recorder.lines)")
        // The watchdog leaves once the write end is closed; 10 s is generous for a loaded machine.
        let alone = await eventually(timeout: .seconds(10)) { processes(inGroup: pid).isEmpty }
        #expect(alone, "processes left in nix's group \(pid): \(processes(inGroup: pid))")
    }

    @Test func aNixNotOnPathIsMissingNotAFailedBuild() async throws {
        let error = await #expect(throws: NixError.self) {
            try await Nix(executable: "sutradhar-no-such-nix", environment: ["PATH": "/usr/bin:/bin"]).version()
        }
        #expect(error?.code == .nixMissing)
    }

    /// nix puts its builders in sessions of their own, so a group signal does not reach them;
    /// if nix itself ignores SIGTERM and must be SIGKILLed, its builders must still be stopped.
    @Test(.timeLimit(.minutes(1)))
    func cancellationKillsANixThatIgnoresSIGTERMAndItsBuildersInOtherSessions() async throws {
        let fake = try writeFakeNix("""
            trap '' TERM
            setsid sleep 300 &
            echo "$$ $!" > "$PID_FILE.tmp" && mv "$PID_FILE.tmp" "$PID_FILE"
            echo "fake nix: building" >&2
            wait
            """)
        let folder = fake.deletingLastPathComponent()
        defer { try? FileManager.default.removeItem(at: folder) }
        let pidFile = folder.appendingPathComponent("pids")
        let nix = Nix(
            executable: fake.path, environment: ["PID_FILE": pidFile.path],
            terminationGracePeriod: .milliseconds(500))
        let build = Task {
            try await nix.build(
                installable: ".", workingDirectory: folder,
                outLink: folder.appendingPathComponent("result"), log: { _ in })
        }
        #expect(await eventually(timeout: .seconds(10)) { FileManager.default.fileExists(atPath: pidFile.path) })
        let pids = try String(contentsOf: pidFile, encoding: .utf8)
            .split(whereSeparator: \.isWhitespace).compactMap { Int32($0) }
        try #require(pids.count == 2)

        await expectCancellationStops(build, processes: pids, within: .seconds(30))
    }
}
