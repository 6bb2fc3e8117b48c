import BuildCache
import DockerEngine
import Foundation
import GitMirror
import Pipeline

/// What `cache gc` removed besides entries: images from the daemon and unused mirrors.
public struct GCCleanup: Sendable {
    /// An image removed from the daemon, with the tags removed from it first.
    public struct RemovedImage: Sendable {
        /// The image ID.
        public let id: String
        /// The tags the evicted entries had put on it and that still pointed to it.
        public let untagged: [String]
    }

    /// A mirror removed, with the source it copied (empty if its config names none).
    public struct RemovedMirror: Sendable {
        /// The mirror folder.
        public let path: String
        /// Its remote URL, if it has one (snapshot mirrors have none).
        public let source: String
    }

    /// Images removed from the daemon.
    public var removedImages: [RemovedImage] = []
    /// Why some images (or tags) were not removed: in use by a container, tagged by others…
    public var imageNotes: [String] = []
    /// Set when no image was removed because no daemon answered.
    public var imagesNotRemoved: String?
    /// Mirrors removed: no pipeline names their source, no run holds them, unused beyond max-age.
    public var removedMirrors: [RemovedMirror] = []
    /// Unused mirrors kept because a live run holds them.
    public var busyMirrors: [String] = []
    /// Set when mirrors were not looked at (no pipelines known for this cache).
    public var mirrorsNotCollected: String?

    package init() {}
}

/// The clean-up after an eviction that `cache gc` (Operations) and a run's pipeline cache limits
/// (`CacheLimits`) share: it lives in Engine because a run applies its pipeline's limits.
package struct CacheCleaner: Sendable {
    /// The cache.
    package let cache: BuildCache
    /// The environment Docker discovery sees.
    package let environment: [String: String]

    package init(cache: BuildCache, environment: [String: String]) {
        self.cache = cache
        self.environment = environment
    }

    /// Removes from the daemon the images of evicted docker-load entries that no remaining
    /// entry names: first the entries' tags that still point at the image
    /// (`DELETE /images/{repo:tag}`), then the image by ID, never forced
    /// (`DELETE /images/{id}?force=0`), so an image a container uses stays (and is noted).
    /// A load of the same key running meanwhile (its lock is busy) keeps its image.
    package func removeImages(of evicted: [Eviction], into cleanup: inout GCCleanup, dockerHost: String?) async {
        let loads = evicted.map(\.record).filter { Engine.imageProducingKinds.contains($0.kind) && $0.outputs["image"] != nil }
        guard !loads.isEmpty else { return }
        let stillNamed = Set(((try? cache.records()) ?? []).filter { Engine.imageProducingKinds.contains($0.kind) }
            .compactMap { $0.outputs["image"] })
        var candidates: [(record: CacheRecord, id: String, tags: [String])] = []
        for record in loads {
            let id = record.outputs["image"]!
            guard !stillNamed.contains(id) else {
                cleanup.imageNotes.append("image \(id) kept: another cache entry still names it")
                continue
            }
            let tags = (record.outputs["tags"] ?? "").split(separator: ",").map(String.init).filter { !$0.isEmpty }
            candidates.append((record, id, tags))
        }
        guard !candidates.isEmpty else { return }
        let host: DockerHost
        do {
            host = try DockerHost.discover(explicit: dockerHost, environment: environment, homeDirectory: environment["HOME"])
        } catch {
            cleanup.imagesNotRemoved = "images not removed: no daemon (\(error))"
            return
        }
        do {
            let found = try await DockerClient.withClient(host: host, timeout: .seconds(30)) { client in
                var found = GCCleanup()
                var done = Set<String>()
                for candidate in candidates where !done.contains(candidate.id) {
                    // The executor loads under this lock (KIND-KEY.lock): a run loading the same key right now keeps its image.
                    let lock = cache.folder(.locks).appendingPathComponent("\(candidate.record.kind)-\(candidate.record.shortKey).lock")
                    let outcome: (removed: GCCleanup.RemovedImage?, notes: [String])?
                    do {
                        outcome = try await FileLock.withLockIfFree(at: lock) {
                            try await Self.removeImage(candidate.id, tags: candidate.tags, client: client)
                        }
                    } catch {
                        found.imageNotes.append("image \(candidate.id) not removed: \(error)")
                        continue
                    }
                    guard let outcome else {
                        found.imageNotes.append("image \(candidate.id) kept: a run is loading it")
                        continue
                    }
                    done.insert(candidate.id)
                    found.imageNotes += outcome.notes
                    if let removed = outcome.removed { found.removedImages.append(removed) }
                }
                return found
            }
            cleanup.removedImages += found.removedImages
            cleanup.imageNotes += found.imageNotes
        } catch {
            cleanup.imagesNotRemoved = "images not removed: no daemon answered at \(host) (\(error))"
        }
    }

    /// Untags `tags` that still point at `id`, then removes `id` unforced; failures become notes.
    private static func removeImage(_ id: String, tags: [String], client: DockerClient) async throws
        -> (removed: GCCleanup.RemovedImage?, notes: [String]) {
        var notes: [String] = []
        var untagged: [String] = []
        for tag in tags {
            // A tag moved to a newer image since belongs to that image now.
            guard let details = try await client.inspectImage(tag), details.id == id else { continue }
            do {
                try await client.removeImage(tag, force: false)
                untagged.append(tag)
            } catch {
                notes.append("tag \(tag) of \(id) not removed: \(error)")
            }
        }
        do {
            try await client.removeImage(id, force: false)
        } catch {
            notes.append("image \(id) not removed: \(error)")
            return (untagged.isEmpty ? nil : GCCleanup.RemovedImage(id: id, untagged: untagged), notes)
        }
        return (GCCleanup.RemovedImage(id: id, untagged: untagged), notes)
    }

    /// Removes the mirrors under `git/mirrors` whose source is not the source of any definition
    /// under the `pipelines/` folder nearest the cache root (at or above it), that no live run
    /// holds (their `<mirror>.lock` flock(2) is taken without waiting) and, with `maxAge`, that
    /// were not used for longer (the newer mtime of `FETCH_HEAD` and the folder). With no
    /// pipelines found, or one that cannot be loaded, every mirror is kept and the reason given.
    package func collectMirrors(maxAge: Duration?, now: Date, into cleanup: inout GCCleanup) {
        let names = PipelineLocator.knownPipelines(from: cache.root)
        guard !names.isEmpty else {
            cleanup.mirrorsNotCollected = "no pipelines/ folder at or above \(cache.root.path): every mirror kept"
            return
        }
        let mirrorsRoot = cache.folder(.mirrors)
        var wanted = Set<String>()
        var sources = Set<String>()
        for name in names {
            guard let path = PipelineLocator.locate(name, from: cache.root),
                  let plan = try? PipelineLoader.load(path: path, implementedKinds: Engine.implementedKinds) else {
                cleanup.mirrorsNotCollected = "pipeline '\(name)' cannot be loaded, so its source is unknown: every mirror kept"
                return
            }
            let source: String
            switch plan.definition.source.location {
            case .git(let location): source = location
            case .path(let path): source = path
            }
            sources.insert(Self.trimmed(source))
            for url in GitMirror.mirrorPaths(of: source, mirrorsRoot: mirrorsRoot) { wanted.insert(url.lastPathComponent) }
        }
        let cutoff = maxAge.map { now.addingTimeInterval(-Double($0.components.seconds)) }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: mirrorsRoot.path)) ?? []
        for name in entries.sorted() where name.hasSuffix(".git") && !name.hasPrefix(".") && !wanted.contains(name) {
            let mirror = mirrorsRoot.appendingPathComponent(name)
            let remote = Self.remoteURL(of: mirror)
            if let remote, sources.contains(Self.trimmed(remote)) { continue }
            if let cutoff, Self.lastUsed(mirror) > cutoff { continue }
            switch removeMirror(mirror) {
            case true?: cleanup.removedMirrors.append(.init(path: mirror.path, source: remote ?? ""))
            case false?: cleanup.busyMirrors.append(mirror.path)
            case nil: cleanup.busyMirrors.append(mirror.path + " (could not be removed)")
            }
        }
    }

    /// Holding the mirror's lock (never deleted: a waiter on it must not race a newcomer on a
    /// new file), renames the mirror aside the way GitMirror does (`.NAME.trash-…`, swept by
    /// the next checkout of that source if a crash leaves it) and deletes it. Nil if it failed,
    /// false if a run holds the lock.
    private func removeMirror(_ mirror: URL) -> Bool? {
        let descriptor = open(mirror.path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else { return false }
        let aside = mirror.deletingLastPathComponent().appendingPathComponent(".\(mirror.lastPathComponent).trash-\(UUID().uuidString)")
        guard rename(mirror.path, aside.path) == 0 else { return nil }
        return (try? FileManager.default.removeItem(at: aside)) != nil
    }

    /// The newer modification time of `FETCH_HEAD` (a fetch) and the mirror folder.
    private static func lastUsed(_ mirror: URL) -> Date {
        [mirror.appendingPathComponent("FETCH_HEAD"), mirror].compactMap {
            (try? FileManager.default.attributesOfItem(atPath: $0.path))?[.modificationDate] as? Date
        }.max() ?? .distantPast
    }

    /// The `url = …` of the mirror's `[remote "origin"]` (bounded read: a config is small).
    private static func remoteURL(of mirror: URL) -> String? {
        guard let handle = FileHandle(forReadingAtPath: mirror.appendingPathComponent("config").path) else { return nil }
        defer { try? handle.close() }
        let text = String(decoding: (try? handle.read(upToCount: 1 << 16)) ?? Data(), as: UTF8.self)
        var inOrigin = false
        for line in text.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if line.hasPrefix("[") { inOrigin = line == "[remote \"origin\"]" }
            if inOrigin, line.hasPrefix("url"), let equals = line.firstIndex(of: "=") {
                return line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    private static func trimmed(_ source: String) -> String {
        var text = source
        while text.count > 1, text.hasSuffix("/") { text.removeLast() }
        return text
    }
}
