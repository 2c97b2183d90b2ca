internal import CSpindle
internal import Glibc

/// A lock that threads of several processes share, and that survives the death of its holder.
///
/// It lives in shared memory and crosses a ``ProcessPool``'s messages as a handle to the same
/// memory, so it can be a job's property; on a ``ThreadPool`` the same value works unchanged.
///
/// ```swift
/// struct Deposit: Job {
///     var lock: ProcessLock
///     var balance: SharedArray<Int>
///     func run(_ amount: Int) async throws -> Int {
///         try await lock.withLock {
///             balance[0] += amount
///             return balance[0]
///         }
///     }
/// }
/// let deposit = Deposit(lock: try ProcessLock(), balance: try SharedArray(repeating: 0, count: 1))
/// let balances = pool.map(deposit, [10, 20, 30])
/// ```
///
/// ## When a holder dies
///
/// A process (or thread) that ends while holding the lock, by a crash, a `SIGKILL` or the OOM
/// killer, cannot leave the others waiting for ever. The next one to take the lock gets
/// ``SpindleError/Code/ownerDied`` instead: by then the lock has been made consistent again and
/// released, so the error means "what the lock protects may be half-changed: check or repair it".
/// Exactly one taker gets that error for each death; everyone else, and whoever takes the lock
/// after the error, proceeds normally. (This is glibc's robust mutex, `PTHREAD_MUTEX_ROBUST`: the
/// kernel walks a dying thread's list of robust locks and marks each one it held.)
///
/// ```swift
/// do {
///     try lock.withLock { balance[0] += 1 }
/// } catch let error as SpindleError where error.code == .ownerDied {
///     try lock.withLock { balance[0] = recount() }  // a holder died mid-change: repair, go on
/// }
/// ```
///
/// ## Threads
///
/// The lock belongs to the thread that took it: it is released by the same thread, and taking it
/// again on the thread that holds it is a programming error that traps (the lock is not recursive).
/// That is why async code takes it only through the async `withLock(_:)`, whose body is synchronous:
/// a task that held the lock across an `await` could resume on another thread.
///
/// ## Cost
///
/// Uncontended, a lock and unlock costs about 1.5 times a `Synchronization.Mutex`'s (23 ns against
/// 16 ns on the development machine; `LockBenchmark` in `spindle bench` measures it). The
/// difference is glibc's: it handles a robust mutex on its slow path (`__pthread_mutex_lock_full`),
/// which records the lock in the thread's robust list around the atomic swap, and unlocks it
/// through `__pthread_mutex_unlock_full`, which takes it out again.
public struct ProcessLock: Sendable {
    let segment: SharedSegment

    /// The pthread mutex, at the start of the segment's payload.
    private var mutex: UnsafeMutablePointer<pthread_mutex_t> {
        segment.bytes.assumingMemoryBound(to: pthread_mutex_t.self)
    }

    /// Makes a new, unlocked lock in shared memory of its own.
    ///
    /// - Throws: ``SpindleError/Code/systemError`` when shared memory cannot be had.
    public init() throws {
        segment = try SharedSegment(kind: .lock, byteCount: MemoryLayout<pthread_mutex_t>.stride)
        try initializeRobustSharedMutex(mutex)
    }

    init(segment: SharedSegment) throws(SpindleError) {
        guard segment.byteCount >= MemoryLayout<pthread_mutex_t>.stride else {
            throw SpindleError(.encodingFailed, "a shared lock's segment is too small to hold one")
        }
        self.segment = segment
    }

    /// Takes the lock, waiting as long as it takes.
    ///
    /// - Throws: ``SpindleError/Code/ownerDied`` when the previous holder died holding it; the lock
    ///   is then *not* held (it was repaired and released), and the next call proceeds normally.
    ///
    /// The corresponding C function is `pthread_mutex_lock`.
    @available(*, noasync, message: "use withLock(_:) async: a task may resume on another thread")
    public func lock() throws {
        try check(pthread_mutex_lock(mutex), "lock")
    }

    /// Takes the lock, waiting at most `timeout`.
    ///
    /// - Throws: ``SpindleError/Code/timedOut`` when the lock stayed taken for `timeout`;
    ///   ``SpindleError/Code/ownerDied`` as ``lock()`` does.
    ///
    /// The corresponding C function is `pthread_mutex_clocklock` on `CLOCK_MONOTONIC`.
    @available(*, noasync, message: "use withLock(timeout:_:) async: a task may resume on another thread")
    public func lock(timeout: Duration) throws {
        let end = monotonicNanoseconds() &+ timeout.clampedNanoseconds
        let err = spindle_mutex_clocklock_monotonic(mutex, Int64(clamping: end))
        if err == ETIMEDOUT { throw SpindleError.waitTimedOut("taking a process lock", timeout) }
        try check(err, "lock")
    }

    /// Takes the lock if it is free, without waiting; returns whether it did. On the thread that
    /// holds it, it traps as ``lock()`` does (a robust mutex reports its holder, not "busy").
    ///
    /// - Throws: ``SpindleError/Code/ownerDied`` as ``lock()`` does.
    ///
    /// The corresponding C function is `pthread_mutex_trylock`.
    @available(*, noasync, message: "use withLock(_:) async: a task may resume on another thread")
    public func tryLock() throws -> Bool {
        try lockIfFree()
    }

    /// Releases the lock, which the calling thread must hold (it traps otherwise).
    ///
    /// The corresponding C function is `pthread_mutex_unlock`.
    @available(*, noasync, message: "use withLock(_:) async: a task may resume on another thread")
    public func unlock() {
        unlockHeld()
    }

    /// Runs `body` holding the lock, and returns what it returns.
    ///
    /// - Throws: ``SpindleError/Code/ownerDied`` without running `body` when the previous holder
    ///   died holding the lock (see the type's discussion); whatever `body` throws.
    @available(*, noasync, message: "use the async withLock(_:), which waits off the cooperative pool")
    public func withLock<R>(_ body: () throws -> R) throws -> R {
        try lock()
        defer { unlock() }
        return try body()
    }

    /// Runs `body` holding the lock, waiting at most `timeout` for it.
    ///
    /// - Throws: ``SpindleError/Code/timedOut`` when the lock stayed taken for `timeout`;
    ///   ``SpindleError/Code/ownerDied`` as the synchronous `withLock(_:)` does; whatever `body` throws.
    @available(*, noasync, message: "use the async withLock(timeout:_:), which waits off the cooperative pool")
    public func withLock<R>(timeout: Duration, _ body: () throws -> R) throws -> R {
        try lock(timeout: timeout)
        defer { unlock() }
        return try body()
    }

    /// Runs `body` holding the lock without blocking Swift's cooperative pool while it waits.
    ///
    /// A free lock is taken at once. A taken one is waited for on a thread of its own, which tells
    /// the task when the lock came free; the task then tries again on its own thread, so `body`
    /// runs on the thread that took the lock and releases it there. Async takers are not served in
    /// order: under constant contention a synchronous taker can overtake them.
    ///
    /// - Throws: ``SpindleError/Code/ownerDied`` as the synchronous `withLock(_:)` does;
    ///   ``SpindleError/Code/cancelled`` when the task is cancelled while waiting; whatever `body`
    ///   throws.
    public func withLock<R>(_ body: () throws -> R) async throws -> R {
        try await withLock(deadline: WaitDeadline(nil), body)
    }

    /// Runs `body` holding the lock, waiting at most `timeout` for it, without blocking Swift's
    /// cooperative pool while it waits.
    ///
    /// - Throws: ``SpindleError/Code/timedOut`` when the lock stayed taken for `timeout`; the
    ///   errors of the async `withLock(_:)`.
    public func withLock<R>(timeout: Duration, _ body: () throws -> R) async throws -> R {
        try await withLock(deadline: WaitDeadline(timeout), timeout: timeout, body)
    }

    private func withLock<R>(
        deadline: WaitDeadline,
        timeout: Duration? = nil,
        _ body: () throws -> R
    ) async throws -> R {
        while true {
            // No suspension point between taking the lock and releasing it: the whole stretch
            // runs on one thread, which is what a robust mutex requires.
            if try lockIfFree() {
                defer { unlockHeld() }
                return try body()
            }
            if deadline.hasPassed { throw SpindleError.waitTimedOut("taking a process lock", timeout) }
            try await waitOffPool { cancelled throws(SpindleError) in
                try self.waitUntilFree(deadline, timeout: timeout, cancelled)
            }
        }
    }

    /// `tryLock`, callable from the async path, where the public one is `noasync`.
    private func lockIfFree() throws(SpindleError) -> Bool {
        let err = pthread_mutex_trylock(mutex)
        if err == EBUSY { return false }
        try check(err, "trylock")
        return true
    }

    private func unlockHeld() {
        let err = pthread_mutex_unlock(mutex)
        precondition(err == 0, "ProcessLock unlocked by a thread that does not hold it (errno \(err))")
    }

    /// Blocks until the lock was free at least once: takes it on this helper thread and releases it
    /// at once, in slices so that a cancelled task stops waiting.
    ///
    /// - Throws: ``SpindleError/Code/ownerDied`` when this thread took it from a dead holder (it
    ///   repaired and released it, so the awaiting task must report that death), `timedOut`, `cancelled`.
    private func waitUntilFree(
        _ deadline: WaitDeadline,
        timeout: Duration?,
        _ cancelled: CancellationFlag
    ) throws(SpindleError) {
        while true {
            if cancelled.isCancelled { throw .waitCancelled("a process lock") }
            let sleep = deadline.nextSleep
            if sleep == 0 { throw .waitTimedOut("taking a process lock", timeout) }
            let err = spindle_mutex_clocklock_monotonic(mutex, Int64(clamping: monotonicNanoseconds() &+ sleep))
            if err == ETIMEDOUT { continue }
            try check(err, "clocklock")
            unlockHeld()
            return
        }
    }

    /// Turns a pthread result into the lock held, or an error; on `EOWNERDEAD` makes the lock
    /// consistent and releases it first.
    private func check(_ err: Int32, _ call: String) throws(SpindleError) {
        switch err {
        case 0:
            return
        case EOWNERDEAD:
            // We hold the lock, marked inconsistent. Marking it consistent and releasing it lets the
            // next taker in as usual; this taker hears about the death. The alternative, releasing
            // it without `pthread_mutex_consistent`, would make the lock unusable for ever
            // (ENOTRECOVERABLE), as glibc intends for owners that cannot repair the state.
            let repaired = pthread_mutex_consistent(mutex)
            precondition(repaired == 0, "pthread_mutex_consistent failed: \(repaired)")
            unlockHeld()
            throw SpindleError(
                .ownerDied,
                "the previous holder of a process lock died holding it; the lock was released, and what it protects may be half-changed"
            )
        case ENOTRECOVERABLE:
            // Only if a process died between EOWNERDEAD and pthread_mutex_consistent, which the
            // kernel then reports as a second death, so this is not expected; say so if it happens.
            throw SpindleError(.ownerDied, "a process lock is unusable: a holder died and it was not repaired")
        case EDEADLK:
            // The lock word names this thread as the holder. Either it really holds the lock, a
            // programming error, or a holder died without the kernel marking it and its thread id
            // was reused; the owner's id in the message tells the two apart when debugging.
            let owner = mutex.pointee.__data.__lock & 0x3FFF_FFFF  // FUTEX_TID_MASK
            preconditionFailure(
                "ProcessLock taken again by the thread that holds it (thread \(spindle_gettid()), lock word owner \(owner)): it is not recursive"
            )
        default:
            throw SpindleError.system("pthread_mutex_\(call) of a process lock", err)
        }
    }
}

extension ProcessLock: Codable {
    /// Writes a handle to the lock's shared memory, which only a Spindle pool's messages can carry.
    ///
    /// - Throws: `EncodingError.invalidValue` for any other encoder: a lock is memory, not data.
    public func encode(to encoder: any Encoder) throws {
        try segment.encodeHandle(of: Self.self, to: encoder)
    }

    /// Reads a handle written by ``encode(to:)``: the same lock, in the receiving process.
    ///
    /// - Throws: `DecodingError.dataCorrupted` outside a Spindle pool's message, or for a handle
    ///   that names no lock.
    public init(from decoder: any Decoder) throws {
        let (segment, _) = try SharedSegment.decodeHandle(kind: .lock, of: Self.self, from: decoder)
        try self.init(segment: segment)
    }
}
