import ArgumentParser
import Foundation
import SutradharKit

/// `sutradhar schedule …`: systemd user timers that run `sutradhar nightly`.
struct Schedule: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Run nightly rebuilds on a schedule with a systemd user timer.",
        discussion: """
            Install as the user who owns the rootless daemon. For the timer to fire while that \
            user is logged out, enable lingering once: loginctl enable-linger USER.
            """,
        subcommands: [Install.self, List.self, Remove.self])

    /// `--user-unit-dir`, shared by the subcommands.
    struct UnitDirectoryOptions: ParsableArguments {
        @Option(name: .customLong("user-unit-dir"), help: ArgumentHelp(
            "Where the units go. Default: the user manager's folder, ~/.config/systemd/user.", valueName: "DIR"))
        var unitDirectory: String?

        var manager: SystemdUserManager {
            SystemdUserManager(unitDirectory: unitDirectory.map { URL(fileURLWithPath: $0) })
        }
    }

    struct Install: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "install",
            abstract: "Write sutradhar-nightly-NAME.service and .timer, and enable the timer.",
            discussion: """
                The timer's OnCalendar= is the pipeline's schedule: field (default: \(SystemdUnits.defaultSchedule)). \
                The service runs this sutradhar binary as 'nightly DEFINITION --cache-dir CACHE' with \
                DOCKER_HOST (if known), NIX_REMOTE=daemon and the current PATH. The timer is enabled with \
                systemctl --user when a user manager answers; otherwise the commands to run are printed.
                """)

        @Argument(help: "A definition file, or NAME for pipelines/NAME.yaml.")
        var pipeline: String

        @OptionGroup var unitOptions: UnitDirectoryOptions
        @OptionGroup var cacheOptions: CacheOptions
        @OptionGroup var dockerOptions: DockerOptions
        @Option(name: .customLong("signing-key"), help: ArgumentHelp("The nightly runs sign with this key (see 'nightly --signing-key').", valueName: "FILE"))
        var signingKey: String?

        func run() async throws {
            let path = try DefinitionFiles.locate(pipeline)
            let definition = try DefinitionFiles.load(path).definition
            let environment = ProcessInfo.processInfo.environment
            var units: SystemdUnits
            do {
                units = try SystemdUnits(
                    pipeline: definition.name, executable: SystemdUnits.currentExecutable(),
                    definitionFile: URL(fileURLWithPath: path).standardizedFileURL.path,
                    cacheRoot: cacheOptions.resolve(definitionPath: path).path, schedule: definition.schedule,
                    environment: SystemdUnits.environment(dockerHost: dockerOptions.dockerHost, processEnvironment: environment))
                units.signingKey = try AttestOptions.checked(AttestationSettings(signingKey: signingKey)).signingKey?.path
            } catch let error as CallerError {
                throw CommandFailure(Exit.invalidDefinition, "\(path): \(error.description)")
            }
            // A timer systemd cannot parse would be written and then never fire: refuse it now.
            let calendar = await CalendarCheck.of(units.schedule)
            if case .invalid(let words) = calendar {
                throw CommandFailure(Exit.invalidDefinition,
                                     "\(path): schedule '\(units.schedule)' is not a systemd calendar expression (\(words)); "
                                        + "write e.g. 'daily', '*-*-* 02:30:00' or 'Mon..Fri 03:00'")
            }
            let outcome: (files: [URL], activation: SystemdUserManager.Activation)
            do {
                outcome = try await unitOptions.manager.install(units)
            } catch {
                throw CommandFailure(error.code == .io ? Exit.environmentProblem : Exit.invalidDefinition, Schedule.advised(error))
            }
            for file in outcome.files { print("wrote \(file.path)") }
            print("runs: \(units.executable) nightly \(units.definitionFile)   on: \(units.schedule)")
            if case .valid(let next?) = calendar { print("next: \(next)") }
            Schedule.report(outcome.activation, done: "enabled \(units.timerName)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List the installed Sutradhar timers.")

        @OptionGroup var unitOptions: UnitDirectoryOptions

        func run() async throws {
            let manager = unitOptions.manager
            let timers: [SystemdUserManager.InstalledTimer]
            do {
                timers = try manager.installed()
            } catch {
                throw CommandFailure(Exit.environmentProblem, error.description)
            }
            if timers.isEmpty { print("no Sutradhar timers in \(manager.unitDirectory.path)") }
            for timer in timers {
                print("\(timer.pipeline)  \(timer.onCalendar ?? "?")  \(timer.enabled ? "enabled" : "not enabled")  \(timer.timer.path)")
                if let execStart = timer.execStart { print("    runs \(execStart)") }
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "remove", abstract: "Disable and delete a pipeline's timer and service.")

        @Argument(help: "The pipeline's name (as 'schedule ls' shows it), a definition file, or NAME for pipelines/NAME.yaml.")
        var pipeline: String

        @OptionGroup var unitOptions: UnitDirectoryOptions

        func run() async throws {
            let manager = unitOptions.manager
            // The units are named after the definition's name:, which a file name need not match;
            // a definition that is gone is removed by the name 'schedule ls' shows.
            let installed = (try? manager.installed().map(\.pipeline)) ?? []
            var name = pipeline
            if !installed.contains(pipeline), let path = try? DefinitionFiles.locate(pipeline),
               let definition = try? DefinitionFiles.load(path).definition {
                name = definition.name
            }
            let outcome: (files: [URL], activation: SystemdUserManager.Activation)
            do {
                outcome = try await manager.remove(pipeline: name)
            } catch {
                throw CommandFailure(error.code == .io ? Exit.environmentProblem : Exit.invalidDefinition, Schedule.advised(error))
            }
            for file in outcome.files { print("removed \(file.path)") }
            Schedule.report(outcome.activation, done: "the user manager is up to date")
        }
    }

    /// Says what systemctl did, or what to run by hand.
    static func report(_ activation: SystemdUserManager.Activation, done: String) {
        if activation.done {
            print(done)
            return
        }
        print("systemctl was not run: \(activation.detail ?? "no user manager"). Run:")
        for command in activation.commands { print("  \(command)") }
    }
}

extension Schedule {
    /// A caller error as the CLI words it: the library names the remedy, the CLI its flag.
    static func advised(_ error: CallerError) -> String {
        switch error.remedy {
        case .chooseUnitFolder: "\(error.message) with --user-unit-dir" + (error.cause.map { " (cause: \($0))" } ?? "")
        case nil: error.description
        }
    }
}
