import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The lines of a file, read in 1 MiB pieces: memory stays flat however large the file (a run
/// that logged 100 MB has an events file twice that), and lines are found with `memchr`.
enum FileLines {
    /// A line longer than this is cut here (the rest up to its newline is dropped): a file
    /// someone wrote by hand cannot make a reader hold it whole.
    static let maximumLineBytes = 1 << 20

    /// Calls `body` with each non-empty line of `file` (without its newline; the last line need
    /// not end in one). Returns false when the file cannot be opened.
    @discardableResult
    static func forEach(in file: URL, _ body: (UnsafeRawBufferPointer) throws -> Void) rethrows -> Bool {
        guard let handle = FileHandle(forReadingAtPath: file.path) else { return false }
        defer { try? handle.close() }
        var carried: [UInt8] = []  // the start of a line the previous piece cut
        var skippingLongLine = false
        while let piece = try? handle.read(upToCount: 1 << 20), !piece.isEmpty {
            try piece.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
                guard let base = bytes.baseAddress else { return }
                var start = base
                let end = base + bytes.count
                while start < end, let found = memchr(start, Int32(UInt8(ascii: "\n")), end - start) {
                    let newline = UnsafeRawPointer(found)
                    let piece = UnsafeRawBufferPointer(start: start, count: newline - start)
                    if skippingLongLine {
                        skippingLongLine = false
                    } else if carried.isEmpty {
                        if !piece.isEmpty { try body(piece) }
                    } else {
                        carried.append(contentsOf: piece.prefix(maximumLineBytes - carried.count))
                        try carried.withUnsafeBytes { try body($0) }
                        carried.removeAll(keepingCapacity: true)
                    }
                    start = newline + 1
                }
                guard start < end, !skippingLongLine else { return }
                carried.append(contentsOf: UnsafeRawBufferPointer(start: start, count: end - start).prefix(maximumLineBytes - carried.count))
                if carried.count >= maximumLineBytes {
                    try carried.withUnsafeBytes { try body($0) }
                    carried.removeAll(keepingCapacity: true)
                    skippingLongLine = true
                }
            }
        }
        if !carried.isEmpty { try carried.withUnsafeBytes { try body($0) } }
        return true
    }
}
