import Foundation
import Synchronization

/// A wall clock that a test moves by hand, for code that takes a `now` closure: the test says
/// how much time passes instead of sleeping until the real clock has moved.
public final class ManualClock: Sendable {
    private let current: Mutex<Date>

    /// A clock that reads `start` until it is moved.
    public init(_ start: Date) { current = Mutex(start) }

    /// Reads the clock; pass it where the code under test takes `now`.
    public var now: @Sendable () -> Date { { self.current.withLock { $0 } } }

    /// Moves the clock `seconds` forward.
    public func advance(by seconds: TimeInterval) { current.withLock { $0 += seconds } }
}
