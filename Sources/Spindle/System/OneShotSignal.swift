/// A value handed from one thread to a thread that blocks until it arrives (or a deadline passes).
package final class OneShotSignal<T: Sendable>: @unchecked Sendable {
    // @unchecked Sendable because `value` is only touched with `lock` held.
    private let lock = ConditionLock()
    private var value: T?

    package init() {}

    package func fire(_ newValue: T) {
        lock.withLock {
            if value == nil { value = newValue }
        }
        lock.broadcast()
    }

    /// Blocks until ``fire(_:)`` was called or `deadline` passed; `nil` means the deadline passed.
    package func wait(untilMonotonicNanoseconds deadline: UInt64?) -> T? {
        lock.lock()
        defer { lock.unlock() }
        while value == nil {
            if let deadline {
                if !lock.wait(untilMonotonicNanoseconds: deadline) && value == nil { return nil }
            } else {
                lock.wait()
            }
        }
        return value
    }
}
