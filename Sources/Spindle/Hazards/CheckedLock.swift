internal import Glibc

/// A lock around a value, like `Synchronization.Mutex`, that can check itself for hazards.
///
/// With ``HazardChecks`` off (the default) it is a plain mutex: one relaxed atomic load more per
/// acquisition. With them on, every acquisition joins the program's lock-order graph, which
/// reports locks taken in orders that can deadlock the first time it sees them, and a thread that
/// has to wait is registered with a watchdog, which reports threads that really are deadlocked.
///
/// ```swift
/// let from = CheckedLock(100, name: "from"), to = CheckedLock(0, name: "to")
/// from.withLock { balance in
///     balance -= 10
///     to.withLock { $0 += 10 }        // records the order from → to, with this line
/// }
/// ```
///
/// With checks on it also keeps wait and hold times per thread (``statistics``), and the watchdog
/// reports a thread starved of the lock. A fair lock (`fair: true`) serves threads in the order
/// they asked, which ends such starvation.
///
/// It is a pthread mutex underneath, so ThreadSanitizer sees it (it cannot see `Mutex` on Linux).
public final class CheckedLock<Value>: @unchecked Sendable {
    // @unchecked Sendable: the value is only reached through the mutex.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    /// In fair mode, the lock that is taken instead of `mutex`.
    private let fair: FairMutex?
    @usableFromInline var value: Value
    let identity: LockIdentity

    /// A lock around `value`.
    ///
    /// - Parameters:
    ///   - name: how reports name the lock; by default the place where it was made.
    ///   - lockClass: a class that many locks share, so that the lock-order graph counts them as one.
    ///   - fair: hand the lock over in the order threads asked for it, so that a thread that
    ///     releases it and at once retakes it cannot starve the others. It costs a wake-up of the
    ///     next waiter on every contended release, and about 55 ns more uncontended (a condition
    ///     variable's mutex, twice).
    public init(
        _ value: sending Value,
        name: String? = nil,
        class lockClass: LockClass? = nil,
        fair: Bool = false,
        fileID: String = #fileID,
        line: Int = #line
    ) {
        self.value = value
        mutex = .allocate(capacity: 1)
        initializeMutex(mutex)
        self.fair = fair ? FairMutex() : nil
        identity = LockIdentity(
            name: name,
            lockClass: lockClass,
            site: CallSite(fileID: fileID, line: line),
            handsOverInTurn: fair
        )
    }

    deinit {
        if identity.watched.load(ordering: .relaxed) { StarvationWatch.shared.forget(identity.id) }
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// The lock's name, as reports give it.
    public var name: String { identity.name }

    /// How the lock was waited for and held, overall and per thread, in the acquisitions made
    /// while checks were on.
    public var statistics: LockStatistics {
        identity.record.withLock { $0.statistics(lock: identity.name) }
    }

    /// Runs `body` with the lock held and the value to change.
    ///
    /// `fileID` and `line` are where the lock is taken, for reports; leave them to their defaults.
    // Inlinable, so that the body is specialised and inlined in the caller as `Mutex.withLock`'s is:
    // with checks off, what remains is a flag test and the mutex calls.
    @inlinable
    public func withLock<Result, E: Error>(
        fileID: String = #fileID,
        line: Int = #line,
        _ body: (inout sending Value) throws(E) -> sending Result
    ) throws(E) -> Result {
        let checked = lock(fileID: fileID, line: line)
        defer { unlock(checked: checked) }
        return try body(&value)
    }

    /// Takes the lock, with the checks if they are on; returns whether they were.
    @usableFromInline
    func lock(fileID: String, line: Int) -> Bool {
        // The plain path first and alone: with checks off, a plain lock is a flag test, a nil test
        // and the mutex call (a branch more measurably costs a nanosecond or two here).
        if _fastPath(!HazardChecks.isEnabled && fair == nil) {
            let err = pthread_mutex_lock(mutex)
            precondition(err == 0, "pthread_mutex_lock failed: \(err)")
            return false
        }
        if HazardChecks.isEnabled {
            lockChecked(at: CallSite(fileID: fileID, line: line))
            return true
        }
        lockRaw()
        return false
    }

    /// Releases the lock; `checked` is what ``lock(fileID:line:)`` returned.
    @usableFromInline
    func unlock(checked: Bool) {
        if _fastPath(!checked && fair == nil) {
            let err = pthread_mutex_unlock(mutex)
            precondition(err == 0, "pthread_mutex_unlock failed: \(err)")
            return
        }
        if checked { unlockChecked() }
        unlockRaw()
    }

    private func lockRaw() {
        if let fair { return fair.lock() }
        let err = pthread_mutex_lock(mutex)
        precondition(err == 0, "pthread_mutex_lock failed: \(err)")
    }

    private func tryLockRaw() -> Bool {
        if let fair { return fair.tryLock() }
        return pthread_mutex_trylock(mutex) == 0
    }

    private func unlockRaw() {
        if let fair { return fair.unlock() }
        let err = pthread_mutex_unlock(mutex)
        precondition(err == 0, "pthread_mutex_unlock failed: \(err)")
    }

    // MARK: Checked path

    /// Takes the lock with the checks (``LockChecking``), keeping its wait and, at release, its
    /// hold in the statistics.
    @inline(never)
    private func lockChecked(at site: CallSite) {
        let thread = LockChecking.willTake(identity, at: site)
        var runQueueBefore: UInt64?
        let takenBefore = identity.acquisitions.load(ordering: .relaxed)
        let waited = LockChecking.take(
            identity,
            thread: thread,
            at: site,
            tryLock: tryLockRaw,
            lock: {
                runQueueBefore = TaskSchedStat.callingThread()?.waitNanoseconds
                lockRaw()
            }
        )
        // What the wait was for the lock: less the time this thread, woken, waited for a CPU (on
        // a busy machine that can be most of it, and it is CPU starvation, not the lock's).
        var lockWait = waited ?? 0
        if let waited, let before = runQueueBefore, let after = TaskSchedStat.callingThread()?.waitNanoseconds {
            lockWait = waited - min(waited, after &- before)
        }
        let takenMeanwhile = identity.acquisitions.load(ordering: .relaxed) - takenBefore
        identity.record.withLock {
            $0.recordWait(lockWait, thread: thread, contended: waited != nil, takenMeanwhile: takenMeanwhile)
        }
        identity.watchForStarvation()
        identity.heldSince.store(monotonicNanoseconds(), ordering: .relaxed)
        LockChecking.didTake(identity, thread: thread, at: site)
    }

    @inline(never)
    private func unlockChecked() {
        let held = monotonicNanoseconds() &- identity.heldSince.load(ordering: .relaxed)
        identity.record.withLock { $0.holds.record(held) }
        LockChecking.willRelease(identity)
    }
}
