import SutradharKit

/// The CLI's words for a `Remedy`: the flag (or command) that applies the setting. Library
/// messages name the setting neutrally ("unless rootful daemons are allowed for this run"), since
/// other front ends have no flags; the CLI appends this where it prints them for a person. JSON
/// output carries the `remedy` field instead and stays as the library wrote it.
enum RemedyAdvice {
    /// The advice for `remedy`; `cacheRoot`, when known, completes the garbage-collection command.
    static func text(for remedy: Remedy, cacheRoot: String? = nil) -> String {
        switch remedy {
        case .allowRootful: "pass --allow-rootful to accept a rootful daemon knowingly"
        case .allowNetwork: "pass --allow-network"
        case .chooseDockerHost: "name the daemon's socket with --docker-host"
        case .chooseCacheRoot: "choose another cache with --cache-dir or SUTRADHAR_CACHE"
        case .freeCacheSpace:
            "e.g. sutradhar cache gc --max-size SIZE" + (cacheRoot.map { " --cache-dir " + ($0.contains(" ") ? "'\($0)'" : $0) } ?? "")
        }
    }

    /// `message (advice)`, or `message` alone when there is no remedy or this build does not know it.
    static func advised(_ message: String, remedy: String?, cacheRoot: String? = nil) -> String {
        guard let remedy = remedy.flatMap(Remedy.init(rawValue:)) else { return message }
        return "\(message) (\(text(for: remedy, cacheRoot: cacheRoot)))"
    }
}
