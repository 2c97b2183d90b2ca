public import Spindle
import Glibc

// Jobs that use the process-shared lock, semaphore, event and barrier, for their tests: the same
// job must synchronise with its peers whether they run on threads or in other worker processes.

/// Adds 1 to counter 0, its input times, each under the lock, with a yield between the read and the
/// write so that a lock that does not exclude loses updates; counts in counter 1 how many holders
/// overlapped. Returns its input.
public struct LockedIncrements: Job {
    public var lock: ProcessLock
    public var counters: SharedArray<Int>
    public init(lock: ProcessLock, counters: SharedArray<Int>) {
        self.lock = lock
        self.counters = counters
    }
    public func run(_ times: Int) async throws -> Int {
        for _ in 0..<times { try await lock.withLock { incrementHeld() } }
        return times
    }

    /// One increment, as the job makes it with the lock held; for callers that take the lock their
    /// own way (plain threads, the synchronous API).
    public func incrementHeld() {
        counters[2] += 1
        if counters[2] > 1 { counters[1] += 1 }
        let value = counters[0]
        sched_yield()
        counters[0] = value + 1
        counters[2] -= 1
    }
}

/// Takes the lock, sets `held`, waits (at most a minute) for `die`, then SIGKILLs its own worker
/// while still holding the lock.
public struct HoldLockThenDie: Job {
    public var lock: ProcessLock
    public var held: ProcessEvent
    public var die: ProcessEvent
    public init(lock: ProcessLock, held: ProcessEvent, die: ProcessEvent) {
        self.lock = lock
        self.held = held
        self.die = die
    }
    public func run(_: Int) async throws -> Int {
        try await lock.withLock {
            held.set()
            try? die.wait(timeout: .seconds(60))
            kill(getpid(), SIGKILL)
            pause()
        }
        return 0
    }
}

/// Releases `ready`, then takes the lock and adds 1 to counter 0 under it; if the first take reports
/// a dead owner, takes it again and does the same. Returns whether it was told of the death.
public struct TakeLockAfterDeath: Job {
    public var lock: ProcessLock
    public var counters: SharedArray<Int>
    public var ready: ProcessSemaphore
    public init(lock: ProcessLock, counters: SharedArray<Int>, ready: ProcessSemaphore) {
        self.lock = lock
        self.counters = counters
        self.ready = ready
    }
    public func run(_: Int) async throws -> Bool {
        ready.release()
        do {
            try await lock.withLock(timeout: .seconds(60)) { counters[0] += 1 }
            return false
        } catch let error as SpindleError where error.code == .ownerDied {
            try await lock.withLock(timeout: .seconds(60)) { counters[0] += 1 }
            return true
        }
    }
}

/// Waits at the barrier its input times (at most a minute each); returns its place in each generation.
public struct BarrierRounds: Job {
    public var barrier: ProcessBarrier
    public init(barrier: ProcessBarrier) { self.barrier = barrier }
    public func run(_ rounds: Int) async throws -> [Int] {
        var places: [Int] = []
        for _ in 0..<rounds { places.append(try await barrier.wait(timeout: .seconds(60))) }
        return places
    }
}

/// Waits at the barrier its input times, then SIGKILLs its own worker: a party that never comes back.
public struct BarrierThenDie: Job {
    public var barrier: ProcessBarrier
    public init(barrier: ProcessBarrier) { self.barrier = barrier }
    public func run(_ rounds: Int) async throws -> Int {
        for _ in 0..<rounds { try await barrier.wait(timeout: .seconds(60)) }
        kill(getpid(), SIGKILL)
        pause()
        return 0
    }
}

/// Releases the semaphore its input times.
public struct ReleasePermits: Job {
    public var semaphore: ProcessSemaphore
    public init(semaphore: ProcessSemaphore) { self.semaphore = semaphore }
    public func run(_ permits: Int) async throws -> Int {
        for _ in 0..<permits { semaphore.release() }
        return permits
    }
}

/// Releases `ready`, then waits for the event (at most its input in seconds); returns the pid of the
/// worker that saw it set.
public struct AwaitEvent: Job {
    public var event: ProcessEvent
    public var ready: ProcessSemaphore
    public init(event: ProcessEvent, ready: ProcessSemaphore) {
        self.event = event
        self.ready = ready
    }
    public func run(_ seconds: Int) async throws -> Int32 {
        ready.release()
        try await event.wait(timeout: .seconds(seconds))
        return getpid()
    }
}
