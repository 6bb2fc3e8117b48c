/// A setting of the run (or a tool) that would avoid a failure: the `remedy` beside `code` in
/// the events and in doctor's report. Library messages name the setting in neutral words
/// ("unless rootful daemons are allowed for this run"); each front end words its own advice from
/// this value (the CLI names its flag, a dashboard its switch), so no front end's flags leak into
/// another's output.
public enum Remedy: String, Sendable, Codable, CaseIterable {
    /// Accept a daemon that is not rootless (`RunOptions.allowRootful`).
    case allowRootful = "allow-rootful"
    /// Let stages that ask for `network: bridge` have it (`RunOptions.allowNetwork`).
    case allowNetwork = "allow-network"
    /// Name the Docker daemon's socket (`RunOptions.dockerHost`).
    case chooseDockerHost = "choose-docker-host"
    /// Choose another, writable cache root (`RunOptions.cacheRoot`).
    case chooseCacheRoot = "choose-cache-root"
    /// Free space in the cache (`CacheTools` garbage collection to a size limit).
    case freeCacheSpace = "free-cache-space"
}
