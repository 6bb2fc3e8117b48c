import Dispatch
import Foundation

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
    public static func withChanges<T>(under root: URL, debounce: Duration, recursive: Bool = true,
                                      _ body: (AsyncStream<FileChanges>) async throws -> T) async throws -> T {
        #if os(Linux)
        let (stream, continuation) = AsyncStream.makeStream(of: FileChanges.self, bufferingPolicy: .bufferingNewest(16))
        let watch = try InotifyWatch(root: root.path, debounce: debounce, recursive: recursive, continuation: continuation)
        defer { watch.stop() }
        try watch.start()
        return try await body(stream)
        #else
        throw CallerError(.watchFailed, "watching a folder needs Linux's inotify; on this system run the pipeline on the folder by hand")
        #endif
    }
}

#if os(Linux)
/// The inotify descriptor, its watches and the debounce timer. Every mutable field is touched
/// only on `queue`.
private final class InotifyWatch: @unchecked Sendable {
    private static let mask = UInt32(IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB | IN_MOVED_FROM | IN_MOVED_TO
                                     | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK)
    private static let ignoredNames: Set<String> = [".git"]

    private let root: String
    private let descriptor: Int32
    private let debounce: Duration
    private let recursive: Bool
    private let continuation: AsyncStream<FileChanges>.Continuation
    private let queue = DispatchQueue(label: "sutradhar.watch")
    private var source: (any DispatchSourceRead)?
    private var folders: [Int32: String] = [:]
    private var pending: Set<String> = []
    private var overflowed = false
    private var problems: [String] = []
    private var timer: DispatchWorkItem?
    private var stopped = false

    init(root: String, debounce: Duration, recursive: Bool, continuation: AsyncStream<FileChanges>.Continuation) throws {
        self.root = URL(fileURLWithPath: root).standardizedFileURL.path
        self.debounce = debounce
        self.recursive = recursive
        self.continuation = continuation
        descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard descriptor >= 0 else {
            throw CallerError(.watchFailed, "cannot start watching \(root): inotify is unavailable", cause: String(cString: strerror(errno)))
        }
    }

    /// Adds the watches, then starts reading events.
    func start() throws {
        try queue.sync { try addTree("", required: true) }
        let source = DispatchSource.makeReadSource(fileDescriptor: descriptor, queue: queue)
        source.setEventHandler { [weak self] in self?.drain() }
        source.setCancelHandler { [descriptor] in close(descriptor) }
        self.source = source
        source.resume()
    }

    /// Stops reading, drops a pending batch and finishes the stream. Idempotent.
    func stop() {
        queue.sync {
            guard !stopped else { return }
            stopped = true
            timer?.cancel()
            timer = nil
            if let source {
                source.cancel()  // its cancel handler closes the descriptor
                self.source = nil
            } else {
                close(descriptor)  // start() failed before the source owned it
            }
            continuation.finish()
        }
    }

    /// Watches `relative` (a folder under the root) and every folder below it.
    private func addTree(_ relative: String, required: Bool = false) throws {
        let absolute = relative.isEmpty ? root : root + "/" + relative
        let watch = inotify_add_watch(descriptor, absolute, Self.mask)
        guard watch >= 0 else {
            let error = errno
            // A folder that vanished or turned into a file before we got to it is not a problem.
            if !required, error == ENOENT || error == ENOTDIR { return }
            let hint = error == ENOSPC ? "; raise the limit: sysctl fs.inotify.max_user_watches=524288" : ""
            throw CallerError(.watchFailed, "cannot watch \(absolute)\(hint)", cause: String(cString: strerror(error)))
        }
        folders[watch] = relative
        guard recursive, let names = try? FileManager.default.contentsOfDirectory(atPath: absolute) else { return }
        for name in names where !Self.ignoredNames.contains(name) {
            let child = relative.isEmpty ? name : relative + "/" + name
            var info = stat()
            guard lstat(root + "/" + child, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { continue }
            try addTree(child)
        }
    }

    /// Reads every queued event (the descriptor is non-blocking) and restarts the debounce timer.
    private func drain() {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var changed = false
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
                    changed = handle(watch: watch, mask: mask, name: String(decoding: nameBytes, as: UTF8.self)) || changed
                }
            }
        }
        if changed { restartTimer() }
    }

    /// Records one event; returns whether it is a change worth a rerun.
    private func handle(watch: Int32, mask: UInt32, name: String) -> Bool {
        if mask & UInt32(IN_Q_OVERFLOW) != 0 {
            overflowed = true
            // Events were lost, possibly folder creations: watch whatever is there now.
            do { try addTree("", required: true) } catch { problems.append("\(error)") }
            return true
        }
        if mask & UInt32(IN_IGNORED) != 0 {
            folders[watch] = nil
            return false
        }
        guard let folder = folders[watch], !Self.ignoredNames.contains(name) else { return false }
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

    private func restartTimer() {
        timer?.cancel()
        let item = DispatchWorkItem { [weak self] in self?.flush() }
        timer = item
        let components = debounce.components
        let nanoseconds = Int(components.seconds) * 1_000_000_000 + Int(components.attoseconds / 1_000_000_000)
        queue.asyncAfter(deadline: .now() + .nanoseconds(nanoseconds), execute: item)
    }

    private func flush() {
        timer = nil
        continuation.yield(FileChanges(paths: pending.sorted(), overflowed: overflowed, problems: problems))
        pending.removeAll()
        overflowed = false
        problems.removeAll()
    }
}
#endif
