internal import Glibc

/// A pthread mutex paired with a condition variable, for threads that must sleep until work arrives.
///
/// `Synchronization.Mutex` has no condition variable, and a worker thread that blocks in the kernel is
/// exactly what a dedicated-thread pool needs, so this wraps the two pthread objects. Both live in
/// heap memory that never moves, as pthread requires.
///
/// ```swift
/// let lock = ConditionLock()
/// lock.lock(); while !ready { lock.wait() }; lock.unlock()
/// ```
///
/// Made while ``HazardChecks`` are on, it is checked as `Locked` is (unless `checked: false`).
package final class ConditionLock: @unchecked Sendable {
    // @unchecked Sendable because the pthread objects are themselves the synchronisation.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private let identity: LockIdentity?

    package init(checked: Bool = true, fileID: String = #fileID, line: Int = #line) {
        identity = checked ? LockChecking.internalIdentity(fileID: fileID, line: line) : nil
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        initializeMutex(mutex)
        var conditionAttributes = pthread_condattr_t()
        pthread_condattr_init(&conditionAttributes)
        // Timed waits measure against CLOCK_MONOTONIC so that a wall-clock jump cannot stretch them.
        pthread_condattr_setclock(&conditionAttributes, CLOCK_MONOTONIC)
        let err = pthread_cond_init(condition, &conditionAttributes)
        precondition(err == 0, "pthread_cond_init failed: \(err)")
        pthread_condattr_destroy(&conditionAttributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    package func lock(fileID: String = #fileID, line: Int = #line) {
        if let identity, HazardChecks.isEnabled {
            LockChecking.lock(
                identity,
                fileID: fileID,
                line: line,
                tryLock: { pthread_mutex_trylock(mutex) == 0 },
                lock: lockRaw
            )
            return
        }
        lockRaw()
    }

    package func unlock() {
        // Whether or not checks are on now: forgetting a hold that was never recorded is harmless.
        if let identity { LockChecking.willRelease(identity) }
        let err = pthread_mutex_unlock(mutex)
        precondition(err == 0, "pthread_mutex_unlock failed: \(err)")
    }

    private func lockRaw() {
        let err = pthread_mutex_lock(mutex)
        precondition(err == 0, "pthread_mutex_lock failed: \(err)")
    }

    /// Runs `body` with the mutex held.
    package func withLock<T, E: Error>(fileID: String = #fileID, line: Int = #line, _ body: () throws(E) -> T) throws(E)
        -> T
    {
        lock(fileID: fileID, line: line)
        defer { unlock() }
        return try body()
    }

    /// Around a wait, which lets go of the mutex and takes it back: the checks see the thread
    /// not holding it meanwhile.
    private func waiting<T>(_ body: () -> T) -> T {
        guard let identity, HazardChecks.isEnabled else { return body() }
        let site = identity.ownerSite ?? CallSite(fileID: "?", line: 0)
        LockChecking.willRelease(identity)
        defer { LockChecking.didTake(identity, thread: ThreadLocks.current, at: site) }
        return body()
    }

    /// Atomically releases the mutex and sleeps until signalled; the mutex is held again on return.
    ///
    /// Spurious wake-ups happen: call it in a loop that re-checks the condition.
    package func wait() {
        let err = waiting { pthread_cond_wait(condition, mutex) }
        precondition(err == 0, "pthread_cond_wait failed: \(err)")
    }

    /// Like ``wait()`` but gives up at `deadline` (a `CLOCK_MONOTONIC` instant in nanoseconds).
    ///
    /// - Returns: `false` when the deadline passed.
    package func wait(untilMonotonicNanoseconds deadline: UInt64) -> Bool {
        var time = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        let err = waiting { pthread_cond_timedwait(condition, mutex, &time) }
        precondition(err == 0 || err == ETIMEDOUT, "pthread_cond_timedwait failed: \(err)")
        return err == 0
    }

    /// Wakes one waiting thread.
    package func signal() { pthread_cond_signal(condition) }

    /// Wakes every waiting thread.
    package func broadcast() { pthread_cond_broadcast(condition) }
}
