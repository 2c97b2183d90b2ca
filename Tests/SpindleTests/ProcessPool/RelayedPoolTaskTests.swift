import PoolConformance
import Spindle
import Testing

/// A task relayed to a ``ProcessPool`` still encoded, as an MPI server runs its driver's tasks: it
/// answers through its own callbacks, with frames.
///
/// The pool's one worker is held in its initializer, so that the tasks stay in its line, not
/// begun, for as long as a test needs.
@Suite(.timeLimit(.minutes(3)))
struct RelayedPoolTaskTests {
    /// The first task in a worker's line counts as running, and says so, even while its worker
    /// starts up: a cancel "only if not started" leaves it to run, as an immediate shutdown leaves
    /// a running job. The one behind it is skipped. Neither answer looks like a protocol error to
    /// the worker that later skips the second.
    @Test func aCancelIfNotStartedSkipsOnlyWhatIsNotFirstInLine() async throws {
        let (pool, gate) = try heldPool()
        let first = try RelayedTask(6)
        let second = try RelayedTask(7)
        pool.relay(first.task)
        pool.relay(second.task)
        #expect(try await first.nextKind() == .started, "first in its worker's line, so announced as running")

        pool.cancelIfNotStarted(first.task)
        #expect(!first.task.isDone, "left to run")
        pool.cancelIfNotStarted(second.task)
        #expect(try await second.nextKind() == .skipped)

        gate.open()
        #expect(try await first.nextKind() == .result, "run once its worker started")
        #expect(try await pool.submit(Square(), 3).value == 9)
        #expect(pool.statistics.workers.count == 1, "no worker was replaced: \(pool.statistics.workers)")
        await pool.shutdown()
    }

    /// A full cancel (a driver's, or a server's at the end of the MPI job) answers at once, even
    /// for the first task in the line of a worker still starting up, which will skip it.
    @Test func aCancelAnswersAtOnceForTheFirstTaskOfAStartingWorker() async throws {
        let (pool, gate) = try heldPool()
        let first = try RelayedTask(6)
        pool.relay(first.task)
        #expect(try await first.nextKind() == .started)

        pool.cancel(first.task)
        #expect(try await first.nextKind() == .result, "a failure: cancelled")
        #expect(first.task.isDone)

        gate.open()
        #expect(try await pool.submit(Square(), 3).value == 9)
        #expect(pool.statistics.workers.count == 1, "no worker was replaced: \(pool.statistics.workers)")
        await pool.shutdown()
    }

    /// A one-worker pool whose worker starts only once the gate opens.
    private func heldPool() throws -> (ProcessPool, FileGate) {
        let gate = FileGate()
        let pool = try makeTestPool(workers: 1) {
            $0.initializer = AwaitFileFirst(path: gate.path)
            $0.handshakeTimeout = .seconds(600)
        }
        return (pool, gate)
    }
}

/// A relayed `Square` task and the frames it hands back, in order.
private struct RelayedTask {
    let task: RelayedPoolTask
    private let frames: AsyncStream<[UInt8]>

    init(_ input: Int) throws {
        let (frames, sink) = AsyncStream<[UInt8]>.makeStream()
        self.frames = frames
        task = try RelayedPoolTask(
            frame: try TypedPoolTask(job: Square(), encodedJob: nil, inputs: [input], timeout: nil) { .success($0) }
                .frame,
            items: 1,
            timeout: nil,
            place: "test",
            started: { sink.yield($0) },
            answer: {
                sink.yield($0)
                sink.finish()
            }
        )
    }

    /// The kind of the next frame handed back.
    func nextKind() async throws -> MessageKind? {
        var iterator = frames.makeAsyncIterator()
        guard let frame = await iterator.next() else { return nil }
        return try frame.withUnsafeBytes { bytes in
            try Frame.parseHeader(UnsafeRawBufferPointer(rebasing: bytes[..<Frame.headerSize])).kind
        }
    }
}
