import Automation
import Engine
import FileWatching
import Foundation
import SutradharTesting
import Testing

/// `sutradhar schedule`: systemd user units for nightly runs, written into a test folder (so
/// systemctl is never run here), checked by `systemd-analyze verify` where it exists and by a
/// parse check everywhere.
@Suite struct ScheduleTests {
    @Test func installWritesUnitsThatSystemdAcceptsAndRemoveDeletesThem() async throws {
        try await Workspace.with { workspace in
            let repository = workspace.root.appendingPathComponent("project")
            try FileManager.default.createDirectory(at: repository, withIntermediateDirectories: true)
            let scheduled = try workspace.writePipeline(
                fixturePipeline(name: "weekdays", repository: repository, extra: #"schedule: "Mon..Fri *-*-* 02:30:00""#),
                named: "weekdays", in: "pipelines")
            try workspace.writePipeline(fixturePipeline(name: "daily", repository: repository), named: "daily", in: "pipelines")
            let units = workspace.root.appendingPathComponent("units")

            let installed = try await workspace.sutradhar(["schedule", "install", "weekdays", "--user-unit-dir", units.path])
            let installedDefault = try await workspace.sutradhar(["schedule", "install", "daily", "--user-unit-dir", units.path])

            #expect(installed.exitCode == 0, "\(installed.transcript)")
            #expect(installedDefault.exitCode == 0, "\(installedDefault.transcript)")
            if commandExists("systemd-analyze") {
                #expect(installed.stdout.contains("next: "), "systemd's next elapse is not shown: \(installed.transcript)")
            }
            // The units are outside the user manager's folder: the commands are printed, not run.
            #expect(installed.stdout.contains("systemctl --user enable --now \(units.path)/sutradhar-nightly-weekdays.timer"),
                    "\(installed.transcript)")
            let service = try UnitFile(units.appendingPathComponent("sutradhar-nightly-weekdays.service"))
            let timer = try UnitFile(units.appendingPathComponent("sutradhar-nightly-weekdays.timer"))
            #expect(service.value("Service", "Type") == "oneshot")
            let execStart = try #require(service.value("Service", "ExecStart"))
            let executable = SutradharCLI.executable.resolvingSymlinksInPath().path
            #expect(execStart == "\(executable) nightly \(scheduled) --cache-dir \(workspace.cache.path)", "\(execStart)")
            #expect(service.values("Service", "Environment").contains("NIX_REMOTE=daemon"))
            #expect(service.value("Unit", "Description")?.contains("weekdays") == true)
            #expect(timer.value("Timer", "OnCalendar") == "Mon..Fri *-*-* 02:30:00")
            #expect(timer.value("Timer", "Persistent") == "true")
            #expect(timer.value("Install", "WantedBy") == "timers.target")
            let daily = try UnitFile(units.appendingPathComponent("sutradhar-nightly-daily.timer"))
            #expect(daily.value("Timer", "OnCalendar") == SystemdUnits.defaultSchedule)

            if commandExists("systemd-analyze") {
                // System mode: user mode needs a running user manager, which a CI container lacks.
                let verified = try runCommand(["systemd-analyze", "verify", service.url.path, timer.url.path])
                #expect(verified.status == 0, "systemd-analyze verify: \(verified.output)")
                #expect(verified.output.isEmpty, "systemd-analyze verify warned: \(verified.output)")
            }

            let listed = try await SutradharCLI.run(["schedule", "ls", "--user-unit-dir", units.path], workingDirectory: workspace.root)
            #expect(listed.exitCode == 0, "\(listed.transcript)")
            #expect(listed.stdout.contains("weekdays  Mon..Fri *-*-* 02:30:00  not enabled"), "\(listed.transcript)")
            #expect(listed.stdout.contains("daily  \(SystemdUnits.defaultSchedule)"), "\(listed.transcript)")

            let removed = try await SutradharCLI.run(["schedule", "remove", "weekdays", "--user-unit-dir", units.path], workingDirectory: workspace.root)
            #expect(removed.exitCode == 0, "\(removed.transcript)")
            #expect(!FileManager.default.fileExists(atPath: service.url.path))
            #expect(!FileManager.default.fileExists(atPath: timer.url.path))
            let after = try await SutradharCLI.run(["schedule", "ls", "--user-unit-dir", units.path], workingDirectory: workspace.root)
            #expect(!after.stdout.contains("weekdays") && after.stdout.contains("daily"), "\(after.transcript)")

            let again = try await SutradharCLI.run(["schedule", "remove", "weekdays", "--user-unit-dir", units.path], workingDirectory: workspace.root)
            #expect(again.exitCode == 2, "\(again.transcript)")
            #expect(again.stderr.contains("schedule ls"), "\(again.transcript)")
        }
    }

    /// A schedule systemd cannot parse would give a timer that never fires: where systemd is
    /// installed it is refused before anything is written; elsewhere it cannot be checked.
    @Test func aScheduleSystemdCannotParseIsRefusedWhereSystemdCanTell() async throws {
        try await Workspace.with { workspace in
            let repository = workspace.root.appendingPathComponent("project")
            try FileManager.default.createDirectory(at: repository, withIntermediateDirectories: true)
            try workspace.writePipeline(fixturePipeline(name: "vague", repository: repository, extra: #"schedule: "every tuesday-ish""#),
                                        named: "vague", in: "pipelines")
            let units = workspace.root.appendingPathComponent("units")
            let result = try await workspace.sutradhar(["schedule", "install", "vague", "--user-unit-dir", units.path])
            if commandExists("systemd-analyze") {
                #expect(result.exitCode == 2, "\(result.transcript)")
                #expect(result.stderr.contains("schedule 'every tuesday-ish' is not a systemd calendar expression"), "\(result.transcript)")
                #expect(!FileManager.default.fileExists(atPath: units.path), "units were written")
            } else {
                #expect(result.exitCode == 0, "\(result.transcript)")
            }
        }
    }

    @Test func aSigningKeyIsPassedToTheNightlyRunsQuoted() throws {
        var units = try SystemdUnits(pipeline: "p", executable: "/usr/bin/sutradhar", definitionFile: "/srv/p.yaml",
                                     cacheRoot: "/srv/cache", schedule: nil, environment: [])
        units.signingKey = "/etc/sutradhar/builder key.pem"
        let service = try UnitFile(text: units.service)
        #expect(service.value("Service", "ExecStart")
            == #"/usr/bin/sutradhar nightly /srv/p.yaml --cache-dir /srv/cache --signing-key "/etc/sutradhar/builder key.pem""#)
    }

    @Test func unitTextQuotesWhatSystemdWouldOtherwiseExpand() throws {
        let units = try SystemdUnits(
            pipeline: "naïve pipe", executable: "/opt/sutra dhar/bin/sutradhar", definitionFile: "/srv/100%/p.yaml",
            cacheRoot: "/srv/$HOME/cache", schedule: nil,
            environment: [(name: "DOCKER_HOST", value: "unix:///run/user/1001/docker.sock"), (name: "PATH", value: "/a b:/usr/bin")])

        let service = try UnitFile(text: units.service)
        #expect(service.value("Service", "ExecStart")
            == #""/opt/sutra dhar/bin/sutradhar" nightly /srv/100%%/p.yaml --cache-dir /srv/$$HOME/cache"#)
        #expect(service.values("Service", "Environment") == ["DOCKER_HOST=unix:///run/user/1001/docker.sock", #""PATH=/a b:/usr/bin""#])
        #expect(units.baseName == #"sutradhar-nightly-na\xc3\xafve\x20pipe"#)
        #expect(SystemdUnits.pipeline(fromUnitName: units.timerName) == "naïve pipe")
        #expect(throws: CallerError.self) {
            try SystemdUnits(pipeline: "p", executable: "/x", definitionFile: "/p.yaml", cacheRoot: "/c",
                             schedule: "daily\nExecStartPre=/bin/evil", environment: [])
        }
    }
}

/// A unit file read with a strict parse check: every line is blank, a comment, a section
/// header or KEY=VALUE inside a section; anything else fails the test.
struct UnitFile {
    let url: URL
    private var settings: [(section: String, key: String, value: String)] = []

    init(_ url: URL, sourceLocation: SourceLocation = #_sourceLocation) throws {
        try self.init(text: String(contentsOf: url, encoding: .utf8), url: url, sourceLocation: sourceLocation)
    }

    init(text: String, url: URL = URL(fileURLWithPath: "/dev/null"), sourceLocation: SourceLocation = #_sourceLocation) throws {
        self.url = url
        var section: String?
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") || trimmed.hasPrefix(";") { continue }
            if trimmed.hasPrefix("["), trimmed.hasSuffix("]") {
                section = String(trimmed.dropFirst().dropLast())
                continue
            }
            guard let section, let equals = trimmed.firstIndex(of: "="),
                  trimmed[..<equals].allSatisfy({ $0.isLetter || $0.isNumber })
            else {
                Issue.record("\(url.lastPathComponent):\(number + 1) is not a section, comment or KEY=VALUE: \(line)",
                             sourceLocation: sourceLocation)
                continue
            }
            settings.append((section, String(trimmed[..<equals]), String(trimmed[trimmed.index(after: equals)...])))
        }
    }

    /// The last value of KEY in SECTION (later settings override earlier ones in systemd).
    func value(_ section: String, _ key: String) -> String? {
        values(section, key).last
    }

    /// Every value of KEY in SECTION, in order.
    func values(_ section: String, _ key: String) -> [String] {
        settings.filter { $0.section == section && $0.key == key }.map(\.value)
    }
}
