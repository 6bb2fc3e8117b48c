import BuildCache
import Foundation
import GitMirror
import Pipeline
import RunEvents

/// Which source a run builds, after `--source` and `--commit` are applied.
package struct SourceSelection: Sendable, CustomStringConvertible {
    package enum Mode: Sendable {
        /// Fetch a repository into its mirror and check out `ref`.
        case git(String)
        /// Snapshot a folder as it is.
        case snapshot(String)
    }

    package let mode: Mode
    package let ref: String?

    package init(definition: PipelineDefinition, options: RunOptions) {
        if let override = options.sourceOverride {
            if SourceSpec.isURL(override) {
                mode = .git(override)
            } else {
                let path = URL(fileURLWithPath: override).standardizedFileURL.path
                // A local folder is built as it is, unless a commit of it is asked for.
                mode = options.commit == nil ? .snapshot(path) : .git(path)
            }
            ref = options.commit ?? (SourceSpec.isURL(override) ? definition.source.ref : nil)
            return
        }
        switch definition.source.location {
        case .git(let location):
            mode = .git(location)
            ref = options.commit ?? definition.source.ref
        case .path(let path):
            mode = options.commit == nil ? .snapshot(path) : .git(path)
            ref = options.commit
        }
    }

    package var description: String {
        switch mode {
        case .git(let location): return location
        case .snapshot(let path): return path
        }
    }

    /// A local folder asked for a commit must be a repository (a working tree or a bare one);
    /// libgit2 alone would say it "cannot read the source" and suggest credentials.
    func checkIsARepository(_ location: String) throws {
        guard !SourceSpec.isURL(location) || location.hasPrefix("file://") else { return }
        let path = location.hasPrefix("file://") ? String(location.dropFirst("file://".count)) : location
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue else { return }
        let exists = { (name: String) in FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent(name)) }
        guard !exists(".git"), !(exists("HEAD") && exists("objects")) else { return }
        throw StageFailure(.checkoutFailed, "\(path) is a folder, not a git repository: it has no commit\(ref.map { " '\($0)'" } ?? "s") to check out. "
            + "A folder is built as it is with 'source: { path: … }', or as a run's source with no commit named; "
            + "to build a commit, name its repository.")
    }
}

/// The checkout a run's stages work on.
struct CheckoutResult: Sendable {
    let commit: ResolvedCommit
    let directory: URL
}

/// The implicit first step: resolve the source to a commit (fetching only when needed) and
/// write its tree once into `checkouts/TREE`, shared by every run of that tree.
package enum CheckoutStep {
    package static let name = PipelineLoader.checkoutStageName

    /// `steps` receives the fetch and the writing of the tree, for the run's trace.
    static func run(_ source: SourceSelection, cache: BuildCache, recorder: RunRecorder, steps: StageStepSink? = nil) async -> CheckoutResult? {
        recorder.emit(.stageStarted(stage: name, kind: "checkout"))
        let started = ContinuousClock.now
        let progress: @Sendable (String) -> Void = { line in
            recorder.emit(.log(stage: name, stream: "stderr", line: line))
        }
        do {
            let mirror: GitMirror
            let commit: ResolvedCommit
            switch source.mode {
            case .git(let location):
                try source.checkIsARepository(location)
                mirror = GitMirror(source: location, mirrorsRoot: cache.folder(.mirrors))
                // A tree already checked out is not read from the mirror again: resolving need
                // not check that each of its files is there.
                commit = try await timedStep(steps, stage: name, "fetch") {
                    try await mirror.resolve(ref: source.ref, progress: progress, isCheckedOut: { cache.hasCheckout(tree: $0) })
                }
            case .snapshot(let path):
                progress("snapshotting \(path) as it is (uncommitted and untracked changes included)")
                (mirror, commit) = try await GitMirror.snapshot(folder: URL(fileURLWithPath: path), mirrorsRoot: cache.folder(.mirrors))
            }
            let directory = cache.folder(.checkouts).appendingPathComponent(commit.treeID)
            // Held before it is looked at, so that gc cannot remove it under this run.
            cache.hold(kind: BuildCache.checkoutKind, key: BuildCache.checkoutKey(tree: commit.treeID))
            var reused = FileManager.default.fileExists(atPath: directory.path)
            if !reused {
                do {
                    try await timedStep(steps, stage: name, "write tree") { try await mirror.checkout(commit: commit.sha, into: directory) }
                } catch where FileManager.default.fileExists(atPath: directory.path) {
                    // Another run wrote the same tree first; its rename made it complete.
                    reused = true
                }
            }
            try cache.recordCheckout(tree: commit.treeID, commit: commit.sha, source: source.description, pipeline: recorder.pipeline)
            let result = CheckoutResult(commit: commit, directory: directory)
            recorder.record(StageResult(
                name: name, kind: "checkout", status: .passed, cached: reused && !commit.fetched,
                durationMilliseconds: started.duration(to: .now).milliseconds,
                outputs: [("commit", .string(commit.sha)), ("tree", .string(commit.treeID)),
                          ("source", .string(source.description)), ("fetched", .bool(commit.fetched)),
                          ("path", .string(directory.path))]))
            return result
        } catch {
            // The same classification as every stage's: a full disk here blames the machine too.
            let cancelled = Task.isCancelled
            let failure = ClassifiedFailure(error)
            if !cancelled, let problem = failure.environmentProblem {
                recorder.noteEnvironmentProblem(problem, code: failure.code, remedy: failure.remedy)
            }
            recorder.record(StageResult(name: name, kind: "checkout", status: cancelled ? .cancelled : .failed, cached: false,
                                        durationMilliseconds: started.duration(to: .now).milliseconds,
                                        error: failure.message, code: cancelled ? .cancelled : failure.code,
                                        remedy: cancelled ? nil : failure.remedy))
            return nil
        }
    }
}
