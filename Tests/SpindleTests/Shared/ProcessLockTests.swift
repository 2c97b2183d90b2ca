import Foundation
import PoolConformance
import Synchronization
import Testing

@testable import Spindle

/// The process-shared lock within one process: exclusion between threads and tasks, try and timed
/// takes, async waits that leave the cooperative pool free, and a holder that ends while holding it.
@Suite(.timeLimit(.minutes(5)))
struct ProcessLockTests {
    @Test func threadsExcludeEachOther() async throws {
        let lock = try ProcessLock()
        let counters = try SharedArray<Int>(repeating: 0, count: 4)
        let increments = LockedIncrements(lock: lock, counters: counters)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    await onPlainThread {
                        for _ in 0..<2_000 { try? lock.withLock { increments.incrementHeld() } }
                    }
                }
            }
        }
        #expect(counters[0] == 8_000, "no update lost")
        #expect(counters[1] == 0, "no two holders at once")
    }

    @Test func asyncTakersOnAThreadPoolExcludeEachOther() async throws {
        let lock = try ProcessLock()
        let counters = try SharedArray<Int>(repeating: 0, count: 4)
        let pool = try ThreadPool(workers: 4)
        let job = LockedIncrements(lock: lock, counters: counters)
        let done = await asyncResult { try await pool.map(job, Array(repeating: 500, count: 8)).collect() }
        await pool.shutdown()
        #expect(try done.get() == Array(repeating: 500, count: 8))
        #expect(counters[0] == 4_000)
        #expect(counters[1] == 0)
    }

    @Test func tryAndTimedTakesFailWhileAnotherThreadHolds() async throws {
        let lock = try ProcessLock()
        let held = try ProcessEvent()
        let release = try ProcessEvent()
        try await hold(lock, onAnotherThreadUntil: release, held: held)
        let (tried, timed) = await onPlainThread { () -> (Bool?, SpindleError.Code?) in
            let tried = try? lock.tryLock()
            let timed = Result { try lock.lock(timeout: .milliseconds(50)) }
            return (tried, spindleCode(timed.failure))
        }
        #expect(tried == false)
        #expect(timed == .timedOut)
        await expectSpindleError(.timedOut) { try await lock.withLock(timeout: .milliseconds(50)) {} }
        release.set()
        // Free again: the holder's thread releases it as it leaves withLock.
        #expect(try await lock.withLock(timeout: .seconds(120)) { 42 } == 42)
        let again = await onPlainThread { () -> Bool in
            guard (try? lock.tryLock()) == true else { return false }
            lock.unlock()
            return true
        }
        #expect(again)
    }

    @Test func asyncWaitersLeaveTheCooperativePoolFree() async throws {
        // More waiters than the cooperative pool has threads: if they blocked its threads, the task
        // that lets the holder go could never run, and the holder would time out.
        let lock = try ProcessLock()
        let counters = try SharedArray<Int>(repeating: 0, count: 4)
        let held = try ProcessEvent()
        let letGo = try ProcessEvent()
        let holderTimedOut = Atomic(false)
        startPlainThread {
            try? lock.withLock {
                held.set()
                do { try letGo.wait(timeout: .seconds(120)) } catch { holderTimedOut.store(true, ordering: .relaxed) }
            }
        }
        try await held.wait(timeout: .seconds(120))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask { try await lock.withLock { counters[0] += 1 } }
            }
            group.addTask { letGo.set() }
            try await group.waitForAll()
        }
        let timedOut = holderTimedOut.load(ordering: .relaxed)
        #expect(!timedOut, "the waiters blocked the cooperative pool")
        #expect(counters[0] == 8)
    }

    @Test func anAsyncWaitEndsWhenItsTaskIsCancelled() async throws {
        let lock = try ProcessLock()
        let held = try ProcessEvent()
        let release = try ProcessEvent()
        try await hold(lock, onAnotherThreadUntil: release, held: held)
        let waiter = Task { try await lock.withLock { 1 } }
        waiter.cancel()
        let outcome = await asyncResult { try await waiter.value }
        #expect(spindleCode(outcome.failure) == .cancelled)
        release.set()
        #expect(try await lock.withLock(timeout: .seconds(120)) { 2 } == 2)
    }

    @Test func aThreadThatEndsHoldingTheLockReportsItsDeathOnce() async throws {
        // The kernel marks a robust lock when its holder thread ends, as it does when a process dies.
        let lock = try ProcessLock()
        await onPlainThread {
            _ = try? lock.tryLock()  // and end the thread holding it
        }
        let first = await onPlainThread { Result { try lock.withLock { 1 } } }
        #expect(spindleCode(first.failure) == .ownerDied)
        let second = await onPlainThread { Result { try lock.withLock { 2 } } }
        #expect(try second.get() == 2, "after the error, the lock works as usual")
        #expect(try await lock.withLock { 3 } == 3)
    }

    @Test func aLockIsMemoryNotData() throws {
        let lock = try ProcessLock()
        #expect(throws: EncodingError.self) { try JSONEncoder().encode([lock]) }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([ProcessLock].self, from: Data("[[0,3]]".utf8)) }
    }

    /// Takes `lock` on a plain thread and keeps it until `release` is set (a hang guard lets go
    /// after two minutes); returns once it holds it, which `held` signals.
    private func hold(_ lock: ProcessLock, onAnotherThreadUntil release: ProcessEvent, held: ProcessEvent) async throws
    {
        startPlainThread {
            try? lock.withLock {
                held.set()
                try? release.wait(timeout: .seconds(120))
            }
        }
        try await held.wait(timeout: .seconds(120))
    }
}
