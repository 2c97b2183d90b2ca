import Glibc
import PoolConformance
@testable import Spindle
import Testing

/// A process pool's large arrays of numbers, which travel in shared memory beside their messages.
@Suite struct LargeArrayPoolTests {
    /// Arrays of 512 KiB, over the spill threshold, each different.
    private func arrays(_ count: Int) -> [[Double]] {
        (0..<count).map { array in (0..<(64 << 10)).map { Double($0 * 100 + array) } }
    }

    /// The inodes of the spill segments process `pid` has open.
    private func spillSegments(of pid: Int32) -> Set<UInt64> { openSegmentInodes(of: pid, kind: .spill) }

    @Test func largeArraysTravelInSharedMemoryBothWays() async throws {
        let pool = try makeTestPool(workers: 1)
        let worker = try await pool.submit(WorkerPID(), 0).value
        // More at once than the pool keeps segments for: the rest travel in their messages.
        let inputs = arrays(3 * SpillArea.maximumSegments)
        let futures = inputs.map { pool.submit(EchoDoubles(), $0) }
        for (input, future) in zip(inputs, futures) { #expect(try await future.value == input) }
        let kept = try #require(pool.core.spillArea).segmentCount
        #expect((1...SpillArea.maximumSegments).contains(kept), "the inputs went beside their messages")
        let workersOwn = spillSegments(of: worker).subtracting(spillSegments(of: getpid()))
        #expect(!workersOwn.isEmpty, "the worker put its results beside their messages")
        #expect(try await pool.submit(SumDoubles(), inputs[5]).value == inputs[5].reduce(0, +))
        await pool.shutdown()
    }

    @Test func aPoolThatRelaysItsResultsKeepsArraysInTheMessages() async throws {
        let pool = try makeTestPool(workers: 1) { $0.spillsLargeArrays = false }
        let worker = try await pool.submit(WorkerPID(), 0).value
        let inputs = arrays(3)
        for input in inputs { #expect(try await pool.submit(EchoDoubles(), input).value == input) }
        #expect(pool.core.spillArea == nil)
        #expect(spillSegments(of: worker).isEmpty, "the worker spilled nothing")
        await pool.shutdown()
    }

    /// A task that can no longer be sent gives its segment back at once, while its caller still
    /// holds the future.
    @Test func cancelledAndFailedTasksGiveTheirSegmentsBack() async throws {
        let pool = try makeTestPool(workers: 1)
        let spill = try #require(pool.core.spillArea)
        let gate = FileGate()
        let blocker = pool.submit(WaitForFile(), gate.path)
        // Queued behind the blocker, in the worker's line or in the pool's.
        let queued = arrays(SpillArea.maximumSegments).map { pool.submit(EchoDoubles(), $0) }
        #expect(spill.leasedCount == SpillArea.maximumSegments)
        for future in queued { _ = future.cancel() }
        gate.open()
        #expect(try await blocker.value)
        // The worker answers each cancelled task it holds with a skip; then nothing is lent.
        #expect(try await pool.submit(Square(), 3).value == 9)
        #expect(spill.leasedCount == 0, "cancelled tasks hold no segment")
        for future in queued { await #expect(throws: SpindleError.self) { try await future.value } }

        // A task whose worker dies, with an hour's timeout: the pool keeps it until then, but
        // not its segment.
        var culprit = arrays(1)[0]
        culprit[0] = .infinity
        let crashed = pool.submit(EchoDoublesUnlessInfinite(), culprit, timeout: .seconds(3_600))
        await #expect(throws: SpindleError.self) { try await crashed.value }
        #expect(spill.leasedCount == 0, "a failed task holds no segment")
        await pool.shutdown()
        #expect(spill.segmentCount == 0, "a stopped pool keeps no segment")
    }

    /// Segments over the kept size go once the message is done with, also from an idle worker.
    @Test func largeSegmentsAreNotKept() async throws {
        let pool = try makeTestPool(workers: 1)
        let worker = try await pool.submit(WorkerPID(), 0).value
        let huge = [Double](repeating: 1.5, count: SpillArea.keptBytes / 8 + 1)
        #expect(try await pool.submit(SumDoubles(), huge).value == 1.5 * Double(huge.count))
        #expect(try await pool.submit(EchoDoubles(), huge).value.count == huge.count)
        #expect(try #require(pool.core.spillArea).segmentCount == 0, "the pool's own is freed at once")
        // The worker's result segment is free once the pool has read it; the idle worker trims it
        // within about 100 ms. Nothing tells the parent when, so it looks for a while.
        let deadline = ContinuousClock.now + .seconds(20)
        while !spillSegments(of: worker).isEmpty && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(spillSegments(of: worker).isEmpty, "the idle worker kept a large segment")
        await pool.shutdown()
    }

    @Test func aChunkRetriedAfterACrashSendsItsLargeInputsAgain() async throws {
        let pool = try makeTestPool(workers: 1)
        var inputs = arrays(5)
        inputs[3][0] = .infinity  // the culprit
        var outputs: [[Double]] = []
        let error = await #expect(throws: SpindleError.self) {
            for try await output in pool.map(EchoDoublesUnlessInfinite(), inputs, chunkSize: 5) {
                outputs.append(output)
            }
        }
        #expect(outputs == Array(inputs[..<3]), "the items before the culprit, retried on a fresh worker")
        #expect(error?.termination == .signalled(SIGSEGV))
        let fresh = arrays(2).map { $0.map { -$0 } }
        #expect(try await pool.map(EchoDoubles(), fresh).collect() == fresh, "the pool goes on")
        await pool.shutdown()
    }
}
