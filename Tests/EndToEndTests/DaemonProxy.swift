import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A second Docker endpoint that a test can kill: a unix-socket proxy in front of the real
/// rootless daemon's socket. Killing the shared daemon would break every other test; killing
/// this proxy looks the same to a client (open connections end, new ones are refused) while the
/// daemon behind it lives on.
///
/// Plain sockets and one thread per direction: the proxy must not share the client's event
/// loops or cooperative pool, so that it keeps forwarding however busy the test process is.
final class DaemonProxy: Sendable {
    /// The proxy's socket; pass `unix://` + this as `--docker-host`.
    let socketPath: String
    private let upstreamPath: String
    private let listener: Int32
    /// Descriptors of live connections (both sides), so ``kill()`` can end them.
    private let live = Mutex<Set<Int32>>([])
    private let killed = Atomic<Bool>(false)

    /// Listens on `socketPath` and forwards each connection to `upstreamPath`.
    init(socketPath: String, upstreamPath: String) throws {
        self.socketPath = socketPath
        self.upstreamPath = upstreamPath
        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard listener >= 0 else { throw ProxyError("socket: \(String(cString: strerror(errno)))") }
        var address = try Self.address(socketPath)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(listener, 64) == 0 else {
            close(listener)
            throw ProxyError("bind/listen \(socketPath): \(String(cString: strerror(errno)))")
        }
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    /// The daemon "dies": the listener stops accepting (its socket file stays, so new
    /// connections are refused, as with a daemon that crashed) and every open connection ends.
    func kill() {
        guard !killed.exchange(true, ordering: .sequentiallyConsistent) else { return }
        shutdown(listener, Int32(SHUT_RDWR))  // wakes the accept loop, which closes it
        live.withLock { descriptors in
            for descriptor in descriptors { shutdown(descriptor, Int32(SHUT_RDWR)) }
        }
    }

    private func acceptLoop() {
        defer { close(listener) }
        while !killed.load(ordering: .sequentiallyConsistent) {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            // Close-on-exec, so that no child the test process spawns keeps a connection open.
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            guard let upstream = try? connectUpstream() else {
                close(client)
                continue
            }
            let admitted = live.withLock { descriptors -> Bool in
                guard !killed.load(ordering: .sequentiallyConsistent) else { return false }
                descriptors.formUnion([client, upstream])
                return true
            }
            guard admitted else {
                close(client)
                close(upstream)
                return
            }
            let remaining = Atomic<Int>(2)
            for (from, to) in [(client, upstream), (upstream, client)] {
                Thread { [self] in
                    pump(from: from, to: to)
                    // Either direction ending ends the connection; the last one out closes it.
                    shutdown(client, Int32(SHUT_RDWR))
                    shutdown(upstream, Int32(SHUT_RDWR))
                    if remaining.subtract(1, ordering: .sequentiallyConsistent).newValue == 0 {
                        live.withLock { descriptors in
                            descriptors.subtract([client, upstream])
                            close(client)
                            close(upstream)
                        }
                    }
                }.start()
            }
        }
    }

    private func pump(from source: Int32, to destination: Int32) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return }
            var sent = 0
            while sent < count {
                let written = buffer.withUnsafeBytes { send(destination, $0.baseAddress! + sent, count - sent, Int32(MSG_NOSIGNAL)) }
                if written < 0, errno == EINTR { continue }
                guard written > 0 else { return }
                sent += written
            }
        }
    }

    private func connectUpstream() throws -> Int32 {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw ProxyError("socket: \(String(cString: strerror(errno)))") }
        var address = try Self.address(upstreamPath)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            close(descriptor)
            throw ProxyError("connect \(upstreamPath): \(String(cString: strerror(errno)))")
        }
        return descriptor
    }

    private static func address(_ path: String) throws -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw ProxyError("socket path too long: \(path)") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }
}

struct ProxyError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
