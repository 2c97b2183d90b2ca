internal import CSpindle
import Synchronization

/// A 32-bit word in shared memory that threads of any process wait on and wake through futex(2):
/// the one building block of ``ProcessSemaphore``, ``ProcessEvent`` and ``ProcessBarrier``.
///
/// The word is an `Atomic<UInt32>` bound into a segment's memory, so every change to it is an
/// atomic operation that ThreadSanitizer sees; the futex calls only put a thread to sleep while the
/// word still holds a value, and wake sleepers, in every process that maps the page (the futexes
/// are not `FUTEX_PRIVATE`).
///
/// Why futex words and not glibc's process-shared condition variables: a condvar keeps its waiters'
/// bookkeeping in the shared memory, and a waiter killed in the middle of `pthread_cond_wait`
/// leaves it half-changed for everyone else. A futex word holds only the state itself, changed by
/// single atomic operations, so a process that dies at any instruction leaves it consistent.
struct FutexWord {
    let pointer: UnsafeMutablePointer<Atomic<UInt32>>

    /// The word at `address`, which must be 4-byte aligned and lie in memory that stays mapped.
    init(_ address: UnsafeMutableRawPointer) {
        precondition(Int(bitPattern: address) % 4 == 0, "a futex word must be 4-byte aligned")
        pointer = address.assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    /// The word's value now.
    func load() -> UInt32 { pointer.pointee.load(ordering: .sequentiallyConsistent) }

    /// Stores `value`.
    func store(_ value: UInt32) { pointer.pointee.store(value, ordering: .sequentiallyConsistent) }

    /// Replaces `expected` by `desired`; returns whether the word held `expected`.
    func compareExchange(_ expected: UInt32, _ desired: UInt32) -> Bool {
        pointer.pointee.compareExchange(
            expected: expected,
            desired: desired,
            ordering: .sequentiallyConsistent
        ).exchanged
    }

    /// Adds `delta` (wrapping) and returns the old value.
    @discardableResult
    func add(_ delta: UInt32) -> UInt32 {
        pointer.pointee.wrappingAdd(delta, ordering: .sequentiallyConsistent).oldValue
    }

    /// Subtracts `delta` (wrapping) and returns the old value.
    @discardableResult
    func subtract(_ delta: UInt32) -> UInt32 {
        pointer.pointee.wrappingSubtract(delta, ordering: .sequentiallyConsistent).oldValue
    }

    /// Sleeps while the word holds `expected`, for at most `nanoseconds`; may return early for no
    /// reason (a signal, a wake meant for another value), so callers check the word again.
    ///
    /// The corresponding C function is `futex` with `FUTEX_WAIT`.
    func wait(whileEqualTo expected: UInt32, nanoseconds: UInt64) {
        _ = spindle_futex_wait(
            UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: UInt32.self),
            expected,
            Int64(clamping: nanoseconds)
        )
    }

    /// Wakes up to `count` threads sleeping on the word, in any process.
    ///
    /// The corresponding C function is `futex` with `FUTEX_WAKE`.
    func wake(_ count: Int32 = .max) {
        _ = spindle_futex_wake(UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: UInt32.self), count)
    }
}

/// When a wait on a process-shared primitive gives up, and how long its next sleep may be.
///
/// Every wait sleeps in slices of at most ``slice``, so that it notices a cancelled task, and a
/// barrier notices a dead party, within that time, even when nobody wakes it.
struct WaitDeadline {
    /// The longest one sleep: 50 ms.
    static let slice: UInt64 = 50_000_000

    /// `CLOCK_MONOTONIC` nanoseconds at which the wait times out; `nil` for never.
    let end: UInt64?

    /// A deadline `timeout` from now, or none.
    init(_ timeout: Duration?) {
        end = timeout.map { monotonicNanoseconds() &+ $0.clampedNanoseconds }
    }

    /// Whether the deadline is past.
    var hasPassed: Bool {
        guard let end else { return false }
        return monotonicNanoseconds() >= end
    }

    /// How long the next sleep may last: a slice, or less when the deadline is nearer.
    var nextSleep: UInt64 {
        guard let end else { return Self.slice }
        let now = monotonicNanoseconds()
        return end > now ? min(Self.slice, end - now) : 0
    }
}

extension SpindleError {
    /// The error of a process-shared primitive's wait that ran out of time.
    static func waitTimedOut(_ what: String, _ timeout: Duration?) -> Self {
        .init(.timedOut, "\(what) did not happen within \(timeout.map { "\($0)" } ?? "the time allowed")")
    }

    /// The error of a process-shared primitive's async wait whose task was cancelled.
    static func waitCancelled(_ what: String) -> Self {
        .init(.cancelled, "the task was cancelled while waiting for \(what)")
    }
}
