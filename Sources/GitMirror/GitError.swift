import CLibGit2

/// A failure of a mirror, resolve, checkout or snapshot operation.
///
/// The message says what failed and what to do about it, and names the ref and the source when they
/// matter; libgit2's own explanation, when there is one, is kept in `cause` rather than a bare
/// libgit2 error number.
public struct GitError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is, so callers can react without parsing the message.
    public enum Code: String, Sendable {
        /// The branch, tag or commit does not exist in the source.
        case unknownRef
        /// The source repository cannot be reached or read (missing path, bad URL, no credentials).
        case unreachableSource
        /// The local mirror is broken and could not be repaired by re-creating it.
        case corruptMirror
        /// Writing a commit's tree into a directory failed.
        case checkoutFailed
        /// Recording a local folder as a commit failed.
        case snapshotFailed
        /// A file system operation outside libgit2 failed.
        case io
        /// libgit2 failed in a way none of the other codes describe.
        case libgit2
    }

    /// What kind of failure this is.
    public let code: Code
    /// What failed and what to do about it.
    public let message: String
    /// The repository URL or path involved, if any.
    public let source: String?
    /// The ref (branch, tag or commit) involved, if any.
    public let ref: String?
    /// The underlying explanation (libgit2's message or the system error), if any.
    public let cause: String?

    /// Creates an error; `message` should say what failed and what to do.
    public init(code: Code, message: String, source: String? = nil, ref: String? = nil, cause: String? = nil) {
        self.code = code
        self.message = message
        self.source = source
        self.ref = ref
        self.cause = cause
    }

    /// The message, followed by the underlying cause when there is one.
    public var description: String {
        guard let cause, !cause.isEmpty else { return message }
        return "\(message) (cause: \(cause))"
    }
}

/// A failed libgit2 call, captured on the thread that made it (libgit2 keeps its last error per
/// thread). Internal: it is always turned into a `GitError` with context before leaving the module.
struct LibGit2Failure: Error {
    /// The negative return code (`GIT_ENOTFOUND`, `GIT_EAMBIGUOUS`, …).
    let code: Int32
    /// libgit2's error class (`GIT_ERROR_NET`, `GIT_ERROR_ODB`, …), or 0 when none was set.
    let errorClass: Int32
    /// What we were doing, e.g. "open mirror".
    let operation: String
    /// libgit2's explanation.
    let detail: String

    var isNotFound: Bool { code == GIT_ENOTFOUND.rawValue }
    var isAmbiguous: Bool { code == GIT_EAMBIGUOUS.rawValue }

    /// Our operation and libgit2's explanation, for `GitError.cause`.
    var summary: String { "\(operation): \(detail)" }
}

/// The mirror on disk is unusable; the caller removes and re-creates it once.
struct CorruptMirror: Error {
    let reason: String
}
