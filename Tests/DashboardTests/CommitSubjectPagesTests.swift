import Foundation
import GitMirror
import Hummingbird
import HummingbirdTesting
@testable import SutradharDashboard
import SutradharKit
import SutradharTesting
import Testing

/// The commit's subject beside its id on the runs page and a run's page, read from the cache's
/// mirror of the run's source (a real git repository, mirrored by the real `GitMirror`).
@Suite struct CommitSubjectPagesTests {
    static let run = "20261201-130000-dddd"

    @Test func aRunWhoseCommitIsInTheMirrorShowsItsSubjectEscaped() async throws {
        try await DashboardFixture.with { fixture in
            let repository = try GitFixtureRepository(at: fixture.cache.appendingPathComponent("source-repo"))
            let sha = try repository.commit("<b>x</b>", files: ["README.md": "hello\n"])
            let mirrors = fixture.cache.appendingPathComponent(CacheArea.mirrors.rawValue)
            _ = try await GitMirror(source: repository.directory.path, mirrorsRoot: mirrors).resolve(ref: sha, progress: { _ in })
            let recorder = HistoryRecorder(history: fixture.history, trigger: "manual")
            let checkout = StageResult(name: "checkout", kind: "checkout", status: .passed, cached: false, durationMilliseconds: 100)
            recorder.record(RunEvent(run: Self.run, .runStarted(pipeline: "example", source: repository.directory.path, ref: "main",
                                                                 cacheRoot: fixture.cache.path), time: fixture.at(9000)))
            recorder.record(RunEvent(run: Self.run, .runFinished(RunSummary(run: Self.run, pipeline: "example", commit: sha, status: .passed,
                                                                            durationMilliseconds: 100, stages: [checkout])),
                                     time: fixture.at(9001)))
            let escaped = "<span class=\"subject\" title=\"&lt;b&gt;x&lt;/b&gt;\">&lt;b&gt;x&lt;/b&gt;</span>"
            try await fixture.test { client in
                let runs = try await client.execute(uri: "/", method: .get).text
                #expect(runs.contains("\(String(sha.prefix(12)))</code> \(escaped)"))
                #expect(!runs.contains("<b>x</b>"))
                let page = try await client.execute(uri: "/runs/\(Self.run)", method: .get).text
                #expect(page.contains("\(String(sha.prefix(12)))</code> \(escaped)"))
                #expect(!page.contains("<b>x</b>"))
                // The fixture's other runs built commits no mirror holds: the id alone, no error.
                let other = try await client.execute(uri: "/runs/\(DashboardFixture.passed)", method: .get)
                #expect(other.status == .ok)
                #expect(other.text.contains("<code title=\"\(String(repeating: "a", count: 40))\">aaaaaaaaaaaa</code> ·"))
            }
        }
    }

    @Test func theSubjectCacheIsBounded() async throws {
        try await GitFixtures.withTemporaryDirectory("sutradhar-subjects") { root in
            let repository = try GitFixtureRepository(at: root.appendingPathComponent("source"))
            var shas: [String] = []
            for index in 0..<5 { shas.append(try repository.commit("commit \(index)", files: ["file": "\(index)\n"])) }
            let mirrors = root.appendingPathComponent("mirrors")
            _ = try await GitMirror(source: repository.directory.path, mirrorsRoot: mirrors).resolve(ref: "main", progress: { _ in })
            let cache = CommitSubjects(mirrorsRoot: mirrors, capacity: 4)
            for (index, sha) in shas.enumerated() {
                #expect(cache.subject(source: repository.directory.path, sha: sha) == "commit \(index)")
                #expect(cache.count <= 4)
            }
            #expect(cache.count >= 2)
        }
    }
}
