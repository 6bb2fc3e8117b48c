#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Makes a nix process die with the process that started it, even when that process is killed
/// with SIGKILL.
///
/// nix runs in a session of its own (so that stopping it never signals Sutradhar), which also
/// means nothing stops it when Sutradhar dies: it would build on and leave a GC root behind.
///
/// Why a pipe and not `PR_SET_PDEATHSIG`: the kernel sends the parent-death signal when the
/// *thread* that forked the child exits, not when the process does. swift-subprocess spawns
/// from whichever thread of the cooperative pool (or its own background threads) runs the call,
/// and those threads come and go, so a parent-death signal could kill a healthy build. A pipe
/// has no such tie: its write end is held by this process only (close-on-exec, and
/// swift-subprocess closes every descriptor above 2 in its children), so its reader sees EOF
/// exactly when this process has closed it or is gone — however it died.
///
/// The reader is a watchdog started by a `/bin/sh` wrapper in nix's own session and process
/// group, just before the wrapper `exec`s nix (so nix keeps the wrapper's PID, and its exit
/// status is nix's own). The watchdog gets the read end as its standard input; on EOF, if nix
/// still runs, it sends SIGTERM to nix's process group (nix then stops its builders and, with a
/// daemon, the daemon drops the build), waits up to the grace period, then SIGKILLs the group.
/// After a normal exit this process closes the write end only once nix has been reaped, and the
/// watchdog, finding no process with nix's PID, exits quietly (that PID cannot have been reused
/// meanwhile: it is still the ID of the watchdog's own process group).
/// The watchdog is double-forked, so nix never has a child it did not start.
struct ParentWatchdog {
    /// The end the wrapper reads (nix's wrapper gets it as standard input).
    let readEnd: Int32
    /// The end only this process holds; closing it, or dying, tells the watchdog.
    private let writeEnd: Int32

    /// Makes the pipe, both ends close-on-exec.
    /// - Throws: ``NixError`` `.unexpectedOutput` if no pipe can be made (out of descriptors).
    init() throws {
        var ends: [Int32] = [-1, -1]
        // pipe2(O_CLOEXEC) is not exported by Glibc's Swift module. The gap before FD_CLOEXEC
        // is set does not matter: swift-subprocess closes every descriptor above 2 in the
        // children it starts, so none of them can hold the write end past its exec.
        guard pipe(&ends) == 0, fcntl(ends[0], F_SETFD, FD_CLOEXEC) == 0, fcntl(ends[1], F_SETFD, FD_CLOEXEC) == 0 else {
            if ends[0] >= 0 { close(ends[0]) }
            if ends[1] >= 0 { close(ends[1]) }
            throw NixError(
                code: .unexpectedOutput,
                message: "could not make a pipe to watch nix (\(String(cString: strerror(errno)))); "
                    + "this process may be out of file descriptors: raise 'ulimit -n'."
            )
        }
        readEnd = ends[0]
        writeEnd = ends[1]
    }

    /// Closes both ends: call it once nix has been reaped (a `defer` right after `init`), so
    /// the watchdog wakes, finds nix gone and exits.
    func closeBothEnds() {
        _ = close(readEnd)
        _ = close(writeEnd)
    }

    /// The command that runs `command` (an executable path, then its arguments) under the
    /// watchdog: `/bin/sh -c SCRIPT sutradhar-nix-watchdog GRACE COMMAND…`.
    static func wrapping(_ command: [String], grace: Duration) -> (executable: String, arguments: [String]) {
        // Tenths of a second, at least one, so the loop below can count them.
        let tenths = max(1, grace.components.seconds * 10 + grace.components.attoseconds / 100_000_000_000_000_000)
        return ("/bin/sh", ["-c", script, "sutradhar-nix-watchdog", String(tenths)] + command)
    }

    /// `$1` is the grace period in tenths of a second, the rest the command. Standard input is
    /// the pipe; it is moved to descriptor 3 first because an asynchronous list's standard input
    /// is /dev/null in a shell without job control. `$$` is the wrapper's PID, which nix keeps
    /// across `exec`, and also the process group's ID (the wrapper leads a new session).
    /// The watchdog ignores SIGTERM (it signals its own group) and is ended by the final SIGKILL.
    static let script = """
        grace=$1; shift
        exec 3<&0 </dev/null
        ( (
          trap '' TERM INT HUP
          read -r _ <&3
          kill -0 $$ 2>/dev/null || exit 0
          kill -TERM -$$ 2>/dev/null
          i=0
          while [ "$i" -lt "$grace" ] && kill -0 $$ 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
          kill -KILL -$$ 2>/dev/null
        ) >/dev/null 2>&1 & )
        exec "$@" 3<&-
        """
}
