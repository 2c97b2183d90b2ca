import Glibc
import PoolConformance
import Synchronization
import Testing

@testable import Spindle

/// The process-shared semaphore within one process: counting, bounding concurrency, timeouts, and
/// async waits.
@Suite(.timeLimit(.minutes(5)))
struct ProcessSemaphoreTests {
    @Test func itCountsPermits() throws {
        let semaphore = try ProcessSemaphore(value: 2)
        #expect(semaphore.tryAcquire())
        #expect(semaphore.tryAcquire())
        #expect(!semaphore.tryAcquire())
        #expect(semaphore.value == 0)
        semaphore.release(3)
        #expect(semaphore.value == 3)
    }

    @Test(arguments: [-1, Int(Int32.max) + 1])
    func anImpossibleCountIsRefused(_ value: Int) {
        let error = #expect(throws: SpindleError.self) { try ProcessSemaphore(value: value) }
        #expect(error?.code == .invalidArgument)
    }

    @Test func itBoundsHowManyHoldAtOnce() async throws {
        let semaphore = try ProcessSemaphore(value: 3)
        let gauge = Gauge()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<6 {
                group.addTask {
                    await onPlainThread {
                        for _ in 0..<300 {
                            semaphore.acquire()
                            let now = gauge.inside.wrappingAdd(1, ordering: .sequentiallyConsistent).newValue
                            gauge.most.max(now, ordering: .relaxed)
                            sched_yield()
                            gauge.inside.wrappingSubtract(1, ordering: .sequentiallyConsistent)
                            semaphore.release()
                        }
                    }
                }
            }
        }
        #expect(gauge.most.load(ordering: .relaxed) <= 3)
        #expect(semaphore.value == 3, "every permit came back")
    }

    @Test func aWaitWithoutPermitsTimesOut() async throws {
        let semaphore = try ProcessSemaphore(value: 0)
        let sync = await onPlainThread { Result { try semaphore.acquire(timeout: .milliseconds(50)) } }
        #expect(spindleCode(sync.failure) == .timedOut)
        await expectSpindleError(.timedOut) { try await semaphore.acquire(timeout: .milliseconds(50)) }
    }

    @Test func aReleaseWakesAsyncWaiters() async throws {
        let semaphore = try ProcessSemaphore(value: 0)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 { group.addTask { try await semaphore.acquire(timeout: .seconds(120)) } }
            // All four asleep first, or the release would only test the fast path.
            #expect(await eventually { semaphore.sleeperCount == 4 }, "the waiters went to sleep")
            semaphore.release(4)
            try await group.waitForAll()
        }
        #expect(semaphore.value == 0)
    }

    @Test func aBlockedWaiterWakesOnARelease() async throws {
        let semaphore = try ProcessSemaphore(value: 0)
        let waiter = Task { await onPlainThread { Result { try semaphore.acquire(timeout: .seconds(120)) } } }
        #expect(await eventually { semaphore.sleeperCount > 0 }, "the waiter went to sleep")
        semaphore.release()
        await #expect(throws: Never.self) { try await waiter.value.get() }
    }

    @Test func anAsyncWaitEndsWhenItsTaskIsCancelled() async throws {
        let semaphore = try ProcessSemaphore(value: 0)
        let waiter = Task { try await semaphore.acquire() }
        waiter.cancel()
        let outcome = await asyncResult { try await waiter.value }
        #expect(spindleCode(outcome.failure) == .cancelled)
        #expect(semaphore.value == 0)
    }
}

/// How many threads hold a permit now, and the most that ever did at once.
private final class Gauge: Sendable {
    let inside = Atomic(0)
    let most = Atomic(0)
}
