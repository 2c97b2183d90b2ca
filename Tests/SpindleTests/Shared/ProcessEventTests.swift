import PoolConformance
import Testing

@testable import Spindle

/// The process-shared event within one process: set, clear, waits that wake, time out and are
/// cancelled, and a set that is cleared before its waiters run.
@Suite(.timeLimit(.minutes(5)))
struct ProcessEventTests {
    @Test func setAndClearMoveTheFlag() throws {
        let event = try ProcessEvent()
        #expect(!event.isSet)
        event.set()
        event.set()
        #expect(event.isSet)
        event.wait()  // returns at once
        event.clear()
        #expect(!event.isSet)
    }

    @Test func aSetWakesEveryWaiter() async throws {
        let event = try ProcessEvent()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<3 {
                group.addTask {
                    try await onPlainThread { Result { try event.wait(timeout: .seconds(120)) } }.get()
                }
            }
            for _ in 0..<3 { group.addTask { try await event.wait(timeout: .seconds(120)) } }
            #expect(await eventually { event.sleeperCount >= 6 }, "the plain threads and async waiters went to sleep")
            event.set()
            try await group.waitForAll()
        }
    }

    @Test func aWaiterSeesASetThatWasClearedBeforeItWoke() async throws {
        let event = try ProcessEvent()
        let waiter = Task { await onPlainThread { Result { try event.wait(timeout: .seconds(120)) } } }
        #expect(await eventually { event.sleeperCount > 0 }, "the waiter went to sleep")
        event.set()
        event.clear()
        await #expect(throws: Never.self) { try await waiter.value.get() }
        #expect(!event.isSet)
    }

    @Test func aWaitOnAClearFlagTimesOut() async throws {
        let event = try ProcessEvent()
        let sync = await onPlainThread { Result { try event.wait(timeout: .milliseconds(50)) } }
        #expect(spindleCode(sync.failure) == .timedOut)
        await expectSpindleError(.timedOut) { try await event.wait(timeout: .milliseconds(50)) }
    }

    @Test func anAsyncWaitEndsWhenItsTaskIsCancelled() async throws {
        let event = try ProcessEvent()
        let waiter = Task { try await event.wait() }
        waiter.cancel()
        let outcome = await asyncResult { try await waiter.value }
        #expect(spindleCode(outcome.failure) == .cancelled)
    }
}
