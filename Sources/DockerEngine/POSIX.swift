#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An `errno` value from a failed system call.
struct Errno: Error, CustomStringConvertible {
    let code: Int32
    var description: String { String(cString: strerror(code)) }
}

/// `read(2)`, retried on EINTR: the byte count (0 at the end of the file) or the errno.
func readRetryingInterrupts(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Result<Int, Errno> {
    while true {
        let got = read(fd, buffer, count)
        if got >= 0 { return .success(got) }
        if errno != EINTR { return .failure(Errno(code: errno)) }
    }
}

/// `close(2)`, named apart from the methods called `close` that use it.
func closeDescriptor(_ fd: Int32) {
    _ = close(fd)
}

/// Connects to the unix socket at `path` and closes the connection at once; nil if that worked,
/// else why not (ENOENT, ECONNREFUSED, EACCES, …).
///
/// AsyncHTTPClient's pool retries a failed connection until the request's deadline and then
/// reports only the deadline, so a missing or dead daemon would look like a slow one. This
/// check fails in microseconds and keeps the real reason.
func connectionFailure(toUnixSocketAt path: String) -> Errno? {
    #if canImport(Darwin)
    let fd = socket(AF_UNIX, SOCK_STREAM, 0)
    #else
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    #endif
    guard fd >= 0 else { return Errno(code: errno) }
    defer { closeDescriptor(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let pathBytes = Array(path.utf8)
    guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return Errno(code: ENAMETOOLONG) }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: pathBytes)
        raw[pathBytes.count] = 0
    }
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    return connected == 0 ? nil : Errno(code: errno)
}
