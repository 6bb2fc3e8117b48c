import Foundation
import SutradharTesting
import Testing

extension DockerEndToEndTests {
    /// A stage's output is text from outside: printed for a person, none of its control or bidi
    /// characters may act on the terminal (a clipboard write, a title, a hyperlink, a clear
    /// screen, a right-to-left override); JSON keeps the exact text; `runs logs --raw` the bytes.
    @Suite struct TerminalInjection {
        /// OSC 52 (clipboard), OSC 0 (title), OSC 8 (hyperlink), CSI 2J (clear), RLO, and a C1 CSI.
        static let hostile = "\u{1B}]52;c;aGVsbG8=\u{07}\u{1B}]0;owned\u{07}\u{1B}]8;;file:///etc/passwd\u{07}link\u{1B}]8;;\u{07}\u{1B}[2J\u{202E}txt.exe\u{9B}31m"

        @Test func humanOutputsShowControlCharactersAndJSONKeepsThem() async throws {
            try await DockerE2E.withServerImage { workspace, server, host, _ in
                // printf's octal escapes make the bytes inside the container; the definition stays plain.
                let printf = #"printf '\033]52;c;aGVsbG8=\007\033]0;owned\007\033]8;;file:///etc/passwd\007link\033]8;;\007\033[2J\342\200\256txt.exe\302\23331m\n'; echo 'ERR \033[31m' >&2; exit 3"#
                let pipeline = try workspace.write("inject.yaml", """
                    version: 1
                    name: e2e-inject
                    source: { path: ./src }
                    stages:
                      noisy:
                        timeout: 60s
                        container:
                          image: "\(server.tag)"
                          command: [sh, -c, "\(printf.replacingOccurrences(of: "\\", with: "\\\\"))"]

                    """)
                let text = try await SutradharCLI.run(["run", pipeline.path, "--cache-dir", workspace.cache.path, "--docker-host", host], timeout: .seconds(180))
                #expect(text.exitCode == 1, text.diagnosis)
                for (name, output) in [("run", text.stdout + text.stderr)] {
                    #expect(!output.contains("\u{1B}"), "\(name) printed a raw ESC: \(output.debugDescription)")
                    #expect(!output.contains("\u{202E}") && !output.contains("\u{9B}"), "\(name) printed a raw override or C1: \(output.debugDescription)")
                    #expect(output.contains("^[]52;c;aGVsbG8=^G"), "\(name) did not show the clipboard write: \(output)")
                    #expect(output.contains("<U+202E>txt.exe<U+009B>31m"), "\(name): \(output)")
                }
                let quiet = try await SutradharCLI.run(["run", pipeline.path, "--quiet", "--cache-dir", workspace.cache.path, "--docker-host", host, "--no-cache"], timeout: .seconds(180))
                #expect(!quiet.stdout.contains("\u{1B}"), quiet.diagnosis)

                let json = try await DockerE2E.run(pipeline, workspace: workspace, host: host, extra: ["--no-cache"])
                #expect(json.logLines(of: "noisy", stream: "stdout").first == Self.hostile, json.diagnosis)
                let run = try #require(DockerE2E.runID(inJSONLines: json.stdout))

                let logs = try await SutradharCLI.run(["runs", "logs", run, "--cache-dir", workspace.cache.path])
                #expect(logs.exitCode == 0, logs.diagnosis)
                #expect(!logs.stdout.contains("\u{1B}") && logs.stdout.contains("^[[2J"), "\(logs.stdout.debugDescription)")
                let raw = try await SutradharCLI.run(["runs", "logs", run, "--stage", "noisy", "--raw", "--cache-dir", workspace.cache.path])
                #expect(raw.stdout.contains(Self.hostile), "\(raw.stdout.debugDescription)")
                let show = try await SutradharCLI.run(["runs", "show", run, "--cache-dir", workspace.cache.path])
                #expect(!show.stdout.contains("\u{1B}"), "\(show.stdout.debugDescription)")
                let unknown = try await SutradharCLI.run(["runs", "logs", run, "--stage", "../../../etc/passwd", "--cache-dir", workspace.cache.path])
                #expect(unknown.exitCode == 2 && unknown.stderr.contains("has no stage"), unknown.diagnosis)
                try expectNoContainersLeft(json, host: host)
            }
        }
    }
}
