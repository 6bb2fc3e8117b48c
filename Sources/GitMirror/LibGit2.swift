import CLibGit2
import Foundation
import Synchronization

/// Initialises libgit2 exactly once per process (Swift runs a global's initialiser once, atomically).
///
/// Owner validation is switched off: it exists so that git does not run commands named in a config
/// file planted by another user (fsmonitor, pagers, hooks). libgit2 runs none of those, and we only
/// read ignore rules from enclosing repositories and our own mirrors, which may belong to another
/// user when a cache is shared.
private let libgit2Initialised: Void = {
    git_libgit2_init()
    _ = sutradhar_git_set_owner_validation(0)
}()

/// Makes sure libgit2 is initialised before the first call on this thread.
func ensureLibGit2() { libgit2Initialised }

/// Set from Swift's cancellation handler, polled by libgit2 callbacks and lock waits on the git thread.
final class CancellationFlag: Sendable {
    private let cancelled = Atomic(false)

    func cancel() { cancelled.store(true, ordering: .relaxed) }
    var isCancelled: Bool { cancelled.load(ordering: .relaxed) }

    /// Throws `CancellationError` once the task that started the work has been cancelled.
    func check() throws {
        if isCancelled { throw CancellationError() }
    }
}

/// Runs blocking libgit2 work on a thread of its own, off Swift's cooperative pool.
///
/// One thread per call keeps every libgit2 object and `git_error_last()` on the thread that made it.
/// Cancelling the calling task sets the flag; the work polls it and stops at the next callback.
func onGitThread<T: Sendable>(_ work: @escaping @Sendable (CancellationFlag) throws -> T) async throws -> T {
    let flag = CancellationFlag()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let thread = Thread {
                ensureLibGit2()
                continuation.resume(with: Result { try work(flag) })
            }
            thread.name = "sutradhar-git"
            thread.start()
        }
    } onCancel: {
        flag.cancel()
    }
}

/// Throws a `LibGit2Failure` when `result` is negative, with libgit2's message read on this thread.
func check(_ result: Int32, _ operation: @autoclosure () -> String) throws {
    guard result < 0 else { return }
    var detail = "no detail from libgit2"
    var errorClass: Int32 = 0
    if let last = git_error_last() {
        errorClass = last.pointee.klass
        if let text = last.pointee.message {
            detail = String(cString: text).trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }
    throw LibGit2Failure(code: result, errorClass: errorClass, operation: operation(), detail: detail)
}

/// Creates a libgit2 handle, hands it to `body` and frees it on every way out.
func withGit<Handle, Result>(
    _ operation: @autoclosure () -> String,
    create: (UnsafeMutablePointer<Handle?>) -> Int32,
    free: (Handle) -> Void,
    _ body: (Handle) throws -> Result
) throws -> Result {
    var handle: Handle?
    try check(create(&handle), operation())
    guard let handle else {
        throw LibGit2Failure(code: -1, errorClass: 0, operation: operation(), detail: "libgit2 returned no object")
    }
    defer { free(handle) }
    return try body(handle)
}

/// Opens the bare repository at `path` for the duration of `body`.
func withBareRepository<T>(at path: String, _ body: (OpaquePointer) throws -> T) throws -> T {
    try withGit("open repository \(path)", create: { git_repository_open_bare($0, path) }, free: git_repository_free, body)
}

/// Looks up the object `id` (of any type) for the duration of `body`.
func withObject<T>(_ repo: OpaquePointer, _ id: git_oid, _ body: (OpaquePointer) throws -> T) throws -> T {
    var id = id
    return try withGit("read object \(id.hex)", create: { git_object_lookup($0, repo, &id, GIT_OBJECT_ANY) },
                       free: git_object_free, body)
}

extension git_oid {
    /// The 40 hexadecimal digits of this id.
    var hex: String {
        var copy = self
        var buffer = [CChar](repeating: 0, count: Int(GIT_OID_HEXSZ) + 1)
        git_oid_tostr(&buffer, buffer.count, &copy)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Parses 40 hexadecimal digits.
    init?(hex: String) {
        var id = git_oid()
        guard hex.utf8.count == Int(GIT_OID_HEXSZ), git_oid_fromstr(&id, hex) == 0 else { return nil }
        self = id
    }

    static func == (lhs: git_oid, rhs: git_oid) -> Bool {
        var lhs = lhs, rhs = rhs
        return git_oid_equal(&lhs, &rhs) != 0
    }
}

/// The SHA-1 of `text` in hex, computed by libgit2 (as a blob id) so this module needs no crypto package.
func sha1Hex(of text: String) -> String {
    ensureLibGit2()
    var id = git_oid()
    let bytes = Array(text.utf8)
    _ = bytes.withUnsafeBytes { git_odb_hash(&id, $0.baseAddress, $0.count, GIT_OBJECT_BLOB) }
    return id.hex
}

/// Whether `text` could be a full or abbreviated commit id (4 to 40 hex digits).
func looksLikeCommitID(_ text: String) -> Bool {
    (Int(GIT_OID_MINPREFIXLEN)...Int(GIT_OID_HEXSZ)).contains(text.count)
        && text.allSatisfy { $0.isHexDigit }
}

/// Reads a `git_strarray`'s strings and frees its contents.
func consume(_ array: inout git_strarray) -> [String] {
    defer { git_strarray_dispose(&array) }
    return (0..<array.count).compactMap { array.strings[$0].map { String(cString: $0) } }
}
