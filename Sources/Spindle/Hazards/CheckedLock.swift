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
/// It is a pthread mutex underneath, so ThreadSanitizer sees it (it cannot see `Mutex` on Linux).
public final class CheckedLock<Value>: @unchecked Sendable {
    // @unchecked Sendable: the value is only reached through the mutex.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    @usableFromInline var value: Value
    let identity: LockIdentity

    /// A lock around `value`.
    ///
    /// - Parameters:
    ///   - name: how reports name the lock; by default the place where it was made.
    ///   - lockClass: a class that many locks share, so that the lock-order graph counts them as one.
    public init(
        _ value: sending Value,
        name: String? = nil,
        class lockClass: LockClass? = nil,
        fileID: String = #fileID,
        line: Int = #line
    ) {
        self.value = value
        mutex = .allocate(capacity: 1)
        initializeMutex(mutex)
        identity = LockIdentity(name: name, lockClass: lockClass, site: CallSite(fileID: fileID, line: line))
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// The lock's name, as reports give it.
    public var name: String { identity.name }

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
        if HazardChecks.isEnabled {
            lockChecked(at: CallSite(fileID: fileID, line: line))
            return true
        }
        let err = pthread_mutex_lock(mutex)
        precondition(err == 0, "pthread_mutex_lock failed: \(err)")
        return false
    }

    /// Releases the lock; `checked` is what ``lock(fileID:line:)`` returned.
    @usableFromInline
    func unlock(checked: Bool) {
        if checked { unlockChecked() }
        let err = pthread_mutex_unlock(mutex)
        precondition(err == 0, "pthread_mutex_unlock failed: \(err)")
    }

    // MARK: Checked path

    /// Takes the lock with the checks: the lock-order graph first (so that a deadlock this very
    /// acquisition would cause is reported before it happens), then the mutex, registering the
    /// wait with the watchdog if it must wait.
    @inline(never)
    private func lockChecked(at site: CallSite) {
        let thread = ThreadLocks.current
        for report in LockOrderGraph.shared.willTake(identity, at: site, holding: thread.held, thread: thread) {
            HazardChecks.report(report)
        }
        if pthread_mutex_trylock(mutex) != 0 {
            DeadlockWatchdog.shared.beginWait(thread: thread.threadID, for: identity, at: site)
            let err = pthread_mutex_lock(mutex)
            DeadlockWatchdog.shared.endWait(thread: thread.threadID)
            precondition(err == 0, "pthread_mutex_lock failed: \(err)")
        }
        identity.owner.store(thread.threadID, ordering: .relaxed)
        identity.ownerSite = site
        thread.push(HeldLock(lock: identity, site: site))
    }

    @inline(never)
    private func unlockChecked() {
        ThreadLocks.current.pop(identity)
        identity.ownerSite = nil
        identity.owner.store(0, ordering: .relaxed)
    }
}
