import Foundation
import Glibc

/// What the history's database file was when it last passed `PRAGMA quick_check`, so that a
/// `runs` command need not read the whole file again when nothing has touched it since: the
/// file's device, inode, size and modification time (nanoseconds), one line in
/// `history.sqlite.checked` beside it.
///
/// The history's own writes keep the stamp: a write made while the stamp matched the file
/// records the file as it is after the write (a commit that checkpoints the log rewrites the
/// database file, once in several runs). Anything else that writes the file — another program,
/// a copy over it, an older Sutradhar — changes its time or size and leaves the stamp stale, so
/// the next `runs` command checks it again. A file damaged with its size and time kept (a
/// failing disk) is not noticed until `doctor`, which always checks, or a read that SQLite
/// finds corrupt. Losing the stamp file costs one check, so it is written without fsync.
struct IntegrityStamp: Sendable {
    /// The database file.
    let database: URL
    /// `history.sqlite.checked`.
    var stampFile: URL { URL(fileURLWithPath: database.path + ".checked") }

    init(database: URL) {
        self.database = database
    }

    /// A file's identity and last change, as `stat(2)` gives them.
    struct FileIdentity: Equatable {
        let device: UInt64
        let inode: UInt64
        let size: Int64
        let modifiedSeconds: Int
        let modifiedNanoseconds: Int

        /// The file at `path`, or nil if it cannot be stat'ed.
        init?(path: String) {
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
            size = Int64(info.st_size)
            modifiedSeconds = info.st_mtim.tv_sec
            modifiedNanoseconds = info.st_mtim.tv_nsec
        }

        /// Parses `line` as `line` writes it.
        init?(line: String) {
            let fields = line.split(separator: " ")
            guard fields.count == 5, let device = UInt64(fields[0]), let inode = UInt64(fields[1]), let size = Int64(fields[2]),
                  let seconds = Int(fields[3]), let nanoseconds = Int(fields[4].trimmingCharacters(in: .whitespacesAndNewlines)) else { return nil }
            self.device = device
            self.inode = inode
            self.size = size
            modifiedSeconds = seconds
            modifiedNanoseconds = nanoseconds
        }

        var line: String { "\(device) \(inode) \(size) \(modifiedSeconds) \(modifiedNanoseconds)\n" }
    }

    /// The file as the stamp recorded it, if there is a stamp.
    var recorded: FileIdentity? {
        FileManager.default.contents(atPath: stampFile.path).flatMap { FileIdentity(line: String(decoding: $0, as: UTF8.self)) }
    }

    /// Whether the database file is exactly as the stamp recorded it.
    var isCurrent: Bool {
        guard let recorded else { return false }
        return FileIdentity(path: database.path) == recorded
    }

    /// Records `file` as checked (replacing the stamp file whole, so a reader never sees half).
    /// Written with open/write/rename and no fsync: `FileManager.createFile` fsyncs, which on a
    /// busy disk cost a `runs` command more than the check it saves.
    func record(_ file: FileIdentity) {
        let temporary = stampFile.path + ".\(getpid())"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { return }
        let line = Array(file.line.utf8)
        let written = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
        if written != line.count || rename(temporary, stampFile.path) != 0 { unlink(temporary) }
    }

    /// Runs `write`, one of the history's own writes; if the stamp matched the file before it
    /// and the write changed the file (a checkpoint), records the file as it is after it.
    func vouching<T>(_ write: () throws -> T) rethrows -> T {
        let before = FileIdentity(path: database.path)
        let wasCurrent = before != nil && before == recorded
        let result = try write()
        if wasCurrent, let after = FileIdentity(path: database.path), after != before { record(after) }
        return result
    }
}
