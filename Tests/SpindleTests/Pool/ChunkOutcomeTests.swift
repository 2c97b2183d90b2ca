@testable import Spindle
import Synchronization
import Testing

@Suite struct ChunkOutcomeTests {
    @Test func runsEveryInputInOrder() async {
        let outcome = await ChunkOutcome.run([1, 2, 3]) { $0 * 10 }
        #expect(outcome.outputs == [10, 20, 30])
        #expect(outcome.failure == nil)
    }

    @Test func emptyChunk() async {
        let outcome = await ChunkOutcome<Int>.run([Int]()) { $0 }
        #expect(outcome.outputs.isEmpty)
        #expect(outcome.failure == nil)
    }

    @Test func stopsAtTheFirstError() async {
        let ran = Mutex<[Int]>([])
        let outcome = await ChunkOutcome.run([1, 2, 3, 4]) { x in
            ran.withLock { $0.append(x) }
            if x == 3 { throw TestError(id: x) }
            return x
        }
        #expect(outcome.outputs == [1, 2])
        #expect(outcome.failure as? TestError == TestError(id: 3))
        #expect(ran.withLock { $0 } == [1, 2, 3], "items after the failure never run")
    }

    @Test func cancelledTaskRunsNothing() async {
        let ran = Atomic(0)
        let outcome = await Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await ChunkOutcome.run([1, 2, 3]) { x in
                ran.add(1, ordering: .relaxed)
                return x
            }
        }.value
        #expect(outcome.outputs.isEmpty)
        #expect(spindleCode(outcome.failure) == .cancelled)
        #expect(ran.load(ordering: .relaxed) == 0)
    }

    @Test func cancellationDuringAChunkStopsBeforeTheNextItem() async {
        let outcome = await Task {
            await ChunkOutcome.run([1, 2, 3, 4]) { x in
                if x == 2 { withUnsafeCurrentTask { $0?.cancel() } }
                return x
            }
        }.value
        #expect(outcome.outputs == [1, 2], "the item that saw cancellation still finishes")
        #expect(spindleCode(outcome.failure) == .cancelled)
    }
}
