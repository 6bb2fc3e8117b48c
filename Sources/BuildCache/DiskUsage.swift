import Foundation

/// What files take on disk, as `du` counts it: allocated blocks (lstat(2) `st_blocks` × 512),
/// each inode once (nix's store and git's objects hard-link), symbolic links not followed.
public enum DiskUsage {
    /// The bytes allocated under `path` (a file, a folder, or a symbolic link to either, which
    /// is followed at the top only: an out-link counts as the store path it roots). 0 if absent.
    public static func bytes(at path: String) -> Int64 {
        var seen = Set<InodeID>()
        var top = stat()
        guard stat(path, &top) == 0 else { return 0 }
        return walk(path, info: top, seen: &seen)
    }

    private struct InodeID: Hashable {
        let device: UInt64
        let inode: UInt64
    }

    private static func walk(_ path: String, info: stat, seen: inout Set<InodeID>) -> Int64 {
        let id = InodeID(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
        guard seen.insert(id).inserted else { return 0 }
        var total = Int64(info.st_blocks) * 512
        guard (info.st_mode & S_IFMT) == S_IFDIR, let directory = opendir(path) else { return total }
        defer { closedir(directory) }
        while let item = readdir(directory) {
            let name = withUnsafeBytes(of: item.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            let child = path + "/" + name
            var childInfo = stat()
            guard lstat(child, &childInfo) == 0 else { continue }  // removed meanwhile
            total += walk(child, info: childInfo, seen: &seen)
        }
        return total
    }
}
