import PoolConformance
import Spindle
import Testing

/// A task relayed to a ``ProcessPool`` still encoded, as an MPI server runs its driver's tasks: it
/// answers through its own callbacks, with frames.
@Suite(.timeLimit(.minutes(3)))
struct RelayedPoolTaskTests {
    /// The first task in a worker's line is marked running (and says so) while its worker still
    /// starts up. Cancelled "only if not started" then, it has not started: it must answer
    /// `skipped`, and its worker's later skip must not look like a protocol error.
    @Test func aTaskCancelledBeforeItsStartingWorkerBeginsItAnswersSkipped() async throws {
        let gate = FileGate()
        let pool = try makeTestPool(workers: 1) {
            $0.initializer = AwaitFileFirst(path: gate.path)
            $0.handshakeTimeout = .seconds(600)
        }
        let (frames, sink) = AsyncStream<[UInt8]>.makeStream()
        let task = try RelayedPoolTask(
            frame: try TypedPoolTask(job: Square(), encodedJob: nil, inputs: [6], timeout: nil) { .success($0) }.frame,
            items: 1,
            timeout: nil,
            place: "test",
            started: { sink.yield($0) },
            answer: { sink.yield($0) }
        )
        var received = frames.makeAsyncIterator()
        pool.relay(task)
        let started = try #require(await received.next())
        #expect(try kind(of: started) == .started, "first in its worker's line, so announced as running")

        pool.cancelIfNotStarted(task)
        let answer = try #require(await received.next())
        #expect(try kind(of: answer) == .skipped)
        #expect(task.isDone)

        // Once started, the worker skips the task without a protocol error: the same worker runs on.
        gate.open()
        #expect(try await pool.submit(Square(), 3).value == 9)
        #expect(pool.statistics.workers.count == 1, "no worker was replaced: \(pool.statistics.workers)")
        await pool.shutdown()
        sink.finish()
    }

    private func kind(of frame: [UInt8]) throws -> MessageKind {
        try frame.withUnsafeBytes { bytes in
            try Frame.parseHeader(UnsafeRawBufferPointer(rebasing: bytes[..<Frame.headerSize])).kind
        }
    }
}
