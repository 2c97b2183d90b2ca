import Glibc
import PoolConformance
import Testing

@testable import Spindle

/// The process-shared lock, semaphore, event and barrier across a process pool's workers: they
/// travel as handles to the same memory, exclude and wake across processes, and a worker SIGKILLed
/// while it holds the lock, or while the others wait for it at a barrier, leaves an error behind
/// rather than a hang.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ProcessSyncPoolTests {
    @Test func aLockExcludesAcrossWorkersAndTheParent() async throws {
        let lock = try ProcessLock()
        let counters = try SharedArray<Int>(repeating: 0, count: 4)
        let job = LockedIncrements(lock: lock, counters: counters)
        try await withSyncPool(workers: 2) { pool in
            let futures = (0..<4).map { _ in pool.submit(job, 300) }
            _ = try await job.run(300)  // the parent takes part
            for future in futures { #expect(try await future.value == 300) }
        }
        #expect(counters[0] == 1_500, "no update lost")
        #expect(counters[1] == 0, "no two holders at once")
    }

    @Test func aWorkerKilledHoldingTheLockReportsOwnerDiedAndTheOthersGoOn() async throws {
        let lock = try ProcessLock()
        let counters = try SharedArray<Int>(repeating: 0, count: 4)
        let held = try ProcessEvent()
        let die = try ProcessEvent()
        let ready = try ProcessSemaphore(value: 0)
        try await withSyncPool(workers: 3) { pool in
            let victim = pool.submit(HoldLockThenDie(lock: lock, held: held, die: die), 0)
            try await held.wait(timeout: .seconds(120))
            // The victim's worker is busy, so the takers go to the two idle ones.
            let takers = (0..<2).map {
                pool.submit(TakeLockAfterDeath(lock: lock, counters: counters, ready: ready), $0)
            }
            try await ready.acquire(timeout: .seconds(120))
            try await ready.acquire(timeout: .seconds(120))
            die.set()
            let death = await asyncResult { try await victim.value }
            #expect((death.failure as? SpindleError)?.termination == .signalled(SIGKILL))
            var told = 0
            for taker in takers where try await taker.value { told += 1 }
            #expect(told == 1, "exactly one taker hears of the death")
        }
        #expect(counters[0] == 2, "both takers went on to use the lock")
        #expect(try await lock.withLock(timeout: .seconds(10)) { 7 } == 7, "the lock works as usual")
    }

    @Test func aBarrierWhosePartyIsKilledBetweenWaitsBreaks() async throws {
        let barrier = try ProcessBarrier(parties: 3)
        try await withSyncPool(workers: 2) { pool in
            let victim = pool.submit(BarrierThenDie(barrier: barrier), 1)
            let survivor = pool.submit(BarrierRounds(barrier: barrier), 2)
            let place = try await barrier.wait(timeout: .seconds(120))
            #expect((0..<3).contains(place), "the first generation meets")
            let start = ContinuousClock.now
            await expectSpindleError(.brokenBarrier) { try await barrier.wait(timeout: .seconds(240)) }
            #expect(ContinuousClock.now - start < .seconds(120), "broken when the death was seen, not at the timeout")
            #expect((await asyncResult { try await victim.value }.failure as? SpindleError)?.code == .workerDied)
            let survivorError = await asyncResult { try await survivor.value }.failure
            #expect(
                "\(String(describing: survivorError))".contains("brokenBarrier"),
                "\(String(describing: survivorError))"
            )
        }
    }

    @Test func aBarrierWhosePartyIsKilledWhileWaitingBreaks() async throws {
        let barrier = try ProcessBarrier(parties: 3)
        try await withSyncPool(workers: 1) { pool in
            let pid = try await pool.submit(WorkerPID(), 0).value
            let victim = pool.submit(BarrierRounds(barrier: barrier), 1)
            // The barrier's own count is the signal that the victim is waiting in it.
            #expect(await eventually { barrier.waitingCount == 1 })
            kill(pid, SIGKILL)
            let start = ContinuousClock.now
            await expectSpindleError(.brokenBarrier) { try await barrier.wait(timeout: .seconds(240)) }
            #expect(ContinuousClock.now - start < .seconds(120), "broken when the death was seen, not at the timeout")
            #expect((await asyncResult { try await victim.value }.failure as? SpindleError)?.code == .workerDied)
        }
    }

    @Test func aBarrierMeetsAcrossProcessesGenerationAfterGeneration() async throws {
        let barrier = try ProcessBarrier(parties: 3)
        try await withSyncPool(workers: 2) { pool in
            let workers = (0..<2).map { _ in pool.submit(BarrierRounds(barrier: barrier), 20) }
            let mine = try await BarrierRounds(barrier: barrier).run(20)
            let theirs = [try await workers[0].value, try await workers[1].value]
            for round in 0..<20 {
                #expect(Set([mine[round], theirs[0][round], theirs[1][round]]) == [0, 1, 2])
            }
        }
    }

    @Test func aSemaphoreAndAnEventWorkAcrossProcesses() async throws {
        let permits = try ProcessSemaphore(value: 0)
        let event = try ProcessEvent()
        let ready = try ProcessSemaphore(value: 0)
        try await withSyncPool(workers: 2) { pool in
            #expect(try await pool.submit(ReleasePermits(semaphore: permits), 3).value == 3)
            for _ in 0..<3 { try await permits.acquire(timeout: .seconds(120)) }
            #expect(permits.value == 0)
            let waiters = (0..<2).map { pool.submit(AwaitEvent(event: event, ready: ready), 60 + $0) }
            try await ready.acquire(timeout: .seconds(120))
            try await ready.acquire(timeout: .seconds(120))
            event.set()
            for waiter in waiters { #expect(try await waiter.value > 0) }
        }
    }
}

/// Runs `body` with a test pool of `workers` workers, and shuts the pool down however `body` ends.
private func withSyncPool(workers: Int, _ body: (ProcessPool) async throws -> Void) async throws {
    let pool = try makeTestPool(workers: workers)
    let outcome = await asyncResult { try await body(pool) }
    await pool.shutdown()
    try outcome.get()
}
