/// The checks around one acquisition and release of a checked mutex: ``CheckedLock``'s, and
/// Spindle's own internal locks' when the checks were on as they were made.
enum LockChecking {
    /// Before taking `lock` at `site`: asks the lock-order graph (so that a deadlock this very
    /// acquisition would cause is reported before it happens); returns the calling thread's record.
    static func willTake(_ lock: LockIdentity, at site: CallSite) -> ThreadLocks {
        HazardChecks.startWatchdogOnce()
        let thread = ThreadLocks.current
        for report in LockOrderGraph.shared.willTake(lock, at: site, holding: thread.held, thread: thread) {
            HazardChecks.report(report)
        }
        return thread
    }

    /// Takes the mutex behind `lock` with `tryLock`, or else with `lock`, registering the wait
    /// with the watchdog; returns how long it waited (nil when it was free: no clock is read then).
    static func take(
        _ identity: LockIdentity,
        thread: ThreadLocks,
        at site: CallSite,
        tryLock: () -> Bool,
        lock: () -> Void
    ) -> UInt64? {
        guard !tryLock() else { return nil }
        let start = monotonicNanoseconds()
        DeadlockWatchdog.shared.beginWait(thread: thread.threadID, for: identity, at: site)
        lock()
        DeadlockWatchdog.shared.endWait(thread: thread.threadID)
        return monotonicNanoseconds() - start
    }

    /// After taking `lock`: records the holder.
    static func didTake(_ lock: LockIdentity, thread: ThreadLocks, at site: CallSite) {
        lock.acquisitions.add(1, ordering: .relaxed)
        lock.owner.store(thread.threadID, ordering: .relaxed)
        lock.ownerSite = site
        thread.push(HeldLock(lock: lock, site: site))
    }

    /// Takes an internal lock with the checks: the graph, the mutex (`tryLock`, else `lock`, with
    /// the wait registered), the holder.
    static func lock(
        _ identity: LockIdentity,
        fileID: String,
        line: Int,
        tryLock: () -> Bool,
        lock: () -> Void
    ) {
        let site = CallSite(fileID: fileID, line: line)
        let thread = willTake(identity, at: site)
        _ = take(identity, thread: thread, at: site, tryLock: tryLock, lock: lock)
        didTake(identity, thread: thread, at: site)
    }

    /// Before releasing `lock`.
    static func willRelease(_ lock: LockIdentity) {
        ThreadLocks.current.pop(lock)
        lock.ownerSite = nil
        lock.owner.store(0, ordering: .relaxed)
    }

    // MARK: Spindle's own locks

    /// The identity of an internal lock made at `site`, when checks are on; nil otherwise (the
    /// lock then never costs more than the flag test). Every lock made at one site is of one
    /// class, as lockdep has it: a future's lock is one node of the graph, however many futures.
    static func internalIdentity(fileID: String, line: Int) -> LockIdentity? {
        guard HazardChecks.isEnabled else { return nil }
        let site = CallSite(fileID: fileID, line: line)
        let lockClass = siteClasses.withLock { classes in
            if let known = classes[site] { return known }
            let made = LockClass("lock made at \(site)")
            classes[site] = made
            return made
        }
        return LockIdentity(name: nil, lockClass: lockClass, site: site)
    }

    private static let siteClasses = Locked<[CallSite: LockClass]>([:], checked: false)
}
