import NIOHTTP1

extension DockerClient {
    /// Checks at once whether the daemon still answers, for a caller whose stream just ended
    /// (a container's `wait` or `logs`): a closed stream may mean the container went, or the
    /// daemon did, and only the second makes every later call pointless.
    ///
    /// A plain `connect(2)` to the socket first: a dead daemon refuses it (or its socket is gone)
    /// within microseconds, where AsyncHTTPClient would retry the connection until its connect
    /// timeout. If that connects, `GET /_ping` must answer within `timeout`, which catches a daemon
    /// that accepts but no longer answers.
    /// - Returns: nil if the daemon answered, else the ``DockerError`` (`.unreachable`) saying why
    ///   not; it never throws, and a cancelled caller gets nil (nothing was learnt).
    public func unreachableError(within timeout: Duration = .seconds(2)) async -> DockerError? {
        let call = Call(.GET, "/_ping", versioned: false)
        if let failure = connectionFailure(toUnixSocketAt: host.socketPath) {
            return DockerError(.unreachable, "the Docker daemon at \(host) went away: connecting to its socket fails (\(failure)); "
                + "restart it (scripts/setup.sh starts the rootless one)", endpoint: call.endpoint, underlying: failure)
        }
        do {
            _ = try await send(call, what: "ping the Docker daemon at \(host)", timeout: timeout)
            return nil
        } catch let error as DockerError where error.code == .cancelled {
            return nil
        } catch let error as DockerError where error.code == .timeout || error.code == .unreachable || error.code == .badResponse {
            return DockerError(.unreachable, "the Docker daemon at \(host) accepts connections but does not answer a ping "
                + "within \(timeout.inWords); restart it (scripts/setup.sh starts the rootless one)", endpoint: call.endpoint, underlying: error)
        } catch {
            // It answered, if with an error status: it is there.
            return nil
        }
    }
}
