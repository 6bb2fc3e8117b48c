import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Changes under a watched folder that have settled: nothing else changed for the debounce time.
public struct FileChanges: Sendable {
    /// The changed paths, relative to the folder, sorted (`.` for the folder itself).
    public let paths: [String]
    /// The kernel's event queue overflowed: anything may have changed.
    public let overflowed: Bool
    /// Trouble keeping the watch complete (a new folder that could not be watched, say).
    public let problems: [String]
}

/// Watches a folder tree for changes with inotify(7), debounced.
///
/// Why inotify rather than polling modification times: a poll must stat the whole tree every
/// interval, so its cost grows with the tree while nothing happens, and its latency is the
/// interval; inotify costs nothing while idle and reports at once. Its price is one watch per
/// folder (`fs.inotify.max_user_watches`, hundreds of thousands on current kernels) and adding
/// watches for folders created later, which this does. `.git` folders are not watched: git's own
/// bookkeeping is not a change of the tree. Other ignore rules are left to the caller, which can
/// compare snapshots (ignored files never change a snapshot).
public enum FileWatcher {
    /// Whose inotify descriptor a watch uses.
    public enum Descriptor: Sendable {
        /// One of its own.
        case own
        /// The one the process shares among all its `.processWide` watches.
        case processWide
    }

    /// Watches every folder under `root` (not following symbolic links, skipping `.git`) and
    /// hands `body` the stream of settled changes: a batch is delivered once no event has
    /// arrived for `debounce`. With `recursive: false` only `root` itself is watched (its
    /// entries created, removed or written), one watch however many folders it holds. The watch ends (the inotify descriptor is closed and the stream
    /// finishes) when `body` returns, throws or is cancelled.
    ///
    /// `inotify_init1(2)`, `inotify_add_watch(2)` per folder, `read(2)` of the events on a
    /// dispatch queue.
    /// - Throws: `CallerError` `.watchFailed` if inotify is unavailable or `root` cannot be
    ///   watched (e.g. out of watches: raise `fs.inotify.max_user_watches`); whatever `body` throws.
    ///
    /// With `descriptor: .processWide` the watch shares one inotify instance with every other
    /// such watch of the process (a server following hundreds of folders); `.own` gives it one of
    /// its own, closed when it ends.
    public static func withChanges<T>(under root: URL, debounce: Duration, recursive: Bool = true,
                                      descriptor: Descriptor = .own,
                                      _ body: (AsyncStream<FileChanges>) async throws -> T) async throws -> T {
        #if os(Linux)
        let (stream, continuation) = AsyncStream.makeStream(of: FileChanges.self, bufferingPolicy: .bufferingNewest(16))
        let hub = descriptor == .own ? try InotifyHub() : try InotifyHub.processWide()
        let watch = InotifyTree(hub: hub, root: root.path, debounce: debounce, recursive: recursive, continuation: continuation)
        defer {
            watch.stop()
            if descriptor == .own { hub.close() }
        }
        try watch.start()
        return try await body(stream)
        #else
        throw CallerError(.watchFailed, "watching a folder needs Linux's inotify; on this system run the pipeline on the folder by hand")
        #endif
    }
}

#if os(Linux)
/// One inotify descriptor and the dispatch queue that reads it, routing each event to the trees
/// that watch its folder. A descriptor of the watch's own (`.own`) or one for the whole process
/// (`.processWide`): a user has 128 inotify instances in all, so a server that follows hundreds
/// of folders at once must not spend one on each.
private final class InotifyHub: @unchecked Sendable {
    /// Every tree's state and this hub's routes are touched only on this queue.
    let queue = DispatchQueue(label: "sutradhar.watch")
    let descriptor: Int32
    private var source: (any DispatchSourceRead)?
    /// The trees that watch each watch descriptor, and as which of their folders. A folder two
    /// trees watch has one watch descriptor: the kernel gives an inode one per inotify instance.
    private var routes: [Int32: [ObjectIdentifier: (tree: InotifyTree, folder: String)]] = [:]

    private static let processWideHub = Mutex<InotifyHub?>(nil)

    /// The process's shared descriptor, opened on first use (and tried again later if that failed).
    static func processWide() throws -> InotifyHub {
        try processWideHub.withLock { hub in
            if let hub { return hub }
            let opened = try InotifyHub()
            hub = opened
            return opened
        }
    }

    init() throws {
        descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard descriptor >= 0 else {
            let error = errno
            let hint = error == EMFILE ? "; raise the limit: sysctl fs.inotify.max_user_instances=512" : ""
            throw CallerError(.watchFailed, "cannot start watching: inotify is unavailable\(hint)", cause: String(cString: strerror(error)))
        }
        let source = DispatchSource.makeReadSource(fileDescriptor: descriptor, queue: queue)
        source.setEventHandler { [weak self] in self?.drain() }
        source.setCancelHandler { [descriptor] in Glibc.close(descriptor) }
        self.source = source
        source.resume()
    }

    /// Stops reading and closes the descriptor (a hub of one watch, when that watch ends).
    func close() {
        queue.sync {
            source?.cancel()  // its cancel handler closes the descriptor
            source = nil
        }
    }

    /// Why `inotify_add_watch(2)` failed.
    struct WatchFailure: Error {
        let errno: Int32
    }

    /// On `queue`: watches `path` for `tree`, which knows it as `folder`; the watch descriptor.
    func watch(_ path: String, mask: UInt32, for tree: InotifyTree, as folder: String) -> Result<Int32, WatchFailure> {
        let watch = inotify_add_watch(descriptor, path, mask)
        guard watch >= 0 else { return .failure(WatchFailure(errno: errno)) }
        routes[watch, default: [:]][ObjectIdentifier(tree)] = (tree, folder)
        return .success(watch)
    }

    /// On `queue`: `tree` watches nothing more; a watch no other tree uses is removed.
    func unwatch(_ watches: some Sequence<Int32>, for tree: InotifyTree) {
        for watch in watches {
            routes[watch]?[ObjectIdentifier(tree)] = nil
            if routes[watch]?.isEmpty == true {
                routes[watch] = nil
                inotify_rm_watch(descriptor, watch)
            }
        }
    }

    /// Reads every queued event (the descriptor is non-blocking), hands each to the trees that
    /// watch its folder, and restarts the debounce timer of each tree that saw a change.
    private func drain() {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var changed: [ObjectIdentifier: InotifyTree] = [:]
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            var offset = 0
            buffer.withUnsafeBytes { bytes in
                // struct inotify_event { int wd; uint32_t mask, cookie, len; char name[len]; }
                while offset + 16 <= count {
                    let watch = bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self)
                    let mask = bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
                    let length = Int(bytes.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
                    let nameBytes = bytes[(offset + 16)..<min(count, offset + 16 + length)].prefix { $0 != 0 }
                    offset += 16 + length
                    let name = String(decoding: nameBytes, as: UTF8.self)
                    if mask & UInt32(IN_Q_OVERFLOW) != 0 {
                        // Lost events may concern any tree: each rescans, once.
                        let trees = Dictionary(routes.values.flatMap(\.values).map { (ObjectIdentifier($0.tree), $0.tree) }) { first, _ in first }
                        for (id, tree) in trees where tree.overflowed() { changed[id] = tree }
                        continue
                    }
                    for route in (routes[watch] ?? [:]).values
                    where route.tree.handle(watch: watch, folder: route.folder, mask: mask, name: name) {
                        changed[ObjectIdentifier(route.tree)] = route.tree
                    }
                    if mask & UInt32(IN_IGNORED) != 0 { routes[watch] = nil }  // the kernel dropped it
                }
            }
        }
        for tree in changed.values { tree.restartTimer() }
    }
}

/// One watched folder tree: its watches (on a hub's descriptor), the changes pending and the
/// debounce timer. Every mutable field is touched only on the hub's queue.
private final class InotifyTree: @unchecked Sendable {
    private static let mask = UInt32(IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB | IN_MOVED_FROM | IN_MOVED_TO
                                     | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK)
    private static let ignoredNames: Set<String> = [".git"]

    private let hub: InotifyHub
    private let root: String
    private let debounce: Duration
    private let recursive: Bool
    private let continuation: AsyncStream<FileChanges>.Continuation
    private var watches: Set<Int32> = []
    private var pending: Set<String> = []
    private var lostEvents = false
    private var problems: [String] = []
    private var timer: DispatchWorkItem?
    private var stopped = false

    init(hub: InotifyHub, root: String, debounce: Duration, recursive: Bool, continuation: AsyncStream<FileChanges>.Continuation) {
        self.hub = hub
        self.root = URL(fileURLWithPath: root).standardizedFileURL.path
        self.debounce = debounce
        self.recursive = recursive
        self.continuation = continuation
    }

    /// Adds the watches; events flow from then on.
    func start() throws {
        try hub.queue.sync { try addTree("", required: true) }
    }

    /// Removes this tree's watches, drops a pending batch and finishes the stream. Idempotent.
    func stop() {
        hub.queue.sync {
            guard !stopped else { return }
            stopped = true
            timer?.cancel()
            timer = nil
            hub.unwatch(watches, for: self)
            watches.removeAll()
            continuation.finish()
        }
    }

    /// Watches `relative` (a folder under the root) and every folder below it.
    private func addTree(_ relative: String, required: Bool = false) throws {
        let absolute = relative.isEmpty ? root : root + "/" + relative
        switch hub.watch(absolute, mask: Self.mask, for: self, as: relative) {
        case .success(let watch):
            watches.insert(watch)
        case .failure(let failure):
            let error = failure.errno
            // A folder that vanished or turned into a file before we got to it is not a problem.
            if !required, error == ENOENT || error == ENOTDIR { return }
            let hint = error == ENOSPC ? "; raise the limit: sysctl fs.inotify.max_user_watches=524288" : ""
            throw CallerError(.watchFailed, "cannot watch \(absolute)\(hint)", cause: String(cString: strerror(error)))
        }
        guard recursive, let names = try? FileManager.default.contentsOfDirectory(atPath: absolute) else { return }
        for name in names where !Self.ignoredNames.contains(name) {
            let child = relative.isEmpty ? name : relative + "/" + name
            var info = stat()
            guard lstat(root + "/" + child, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { continue }
            try addTree(child)
        }
    }

    /// The kernel's queue overflowed: events were lost, possibly folder creations, so watch
    /// whatever is there now. Returns true: anything may have changed.
    func overflowed() -> Bool {
        guard !stopped else { return false }
        lostEvents = true
        do { try addTree("", required: true) } catch { problems.append("\(error)") }
        return true
    }

    /// Records one event on `folder` (this tree's name for `watch`); returns whether it is a
    /// change worth reporting.
    func handle(watch: Int32, folder: String, mask: UInt32, name: String) -> Bool {
        guard !stopped else { return false }
        if mask & UInt32(IN_IGNORED) != 0 {
            watches.remove(watch)
            return false
        }
        guard !Self.ignoredNames.contains(name) else { return false }
        let path = name.isEmpty ? folder : (folder.isEmpty ? name : folder + "/" + name)
        if recursive, mask & UInt32(IN_ISDIR) != 0, mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0 {
            do { try addTree(path) } catch { problems.append("\(error)") }
        }
        if folder.isEmpty, name.isEmpty, mask & UInt32(IN_DELETE_SELF | IN_MOVE_SELF) != 0 {
            problems.append("the watched folder \(root) was removed or moved; nothing more will be seen")
        }
        pending.insert(path.isEmpty ? "." : path)
        return true
    }

    func restartTimer() {
        guard !stopped else { return }
        timer?.cancel()
        let item = DispatchWorkItem { [weak self] in self?.flush() }
        timer = item
        let components = debounce.components
        let nanoseconds = Int(components.seconds) * 1_000_000_000 + Int(components.attoseconds / 1_000_000_000)
        hub.queue.asyncAfter(deadline: .now() + .nanoseconds(nanoseconds), execute: item)
    }

    private func flush() {
        timer = nil
        continuation.yield(FileChanges(paths: pending.sorted(), overflowed: lostEvents, problems: problems))
        pending.removeAll()
        lostEvents = false
        problems.removeAll()
    }
}
#endif
