import PoolConformance
@testable import Spindle
import Synchronization
import Testing

/// The map engine behind every backend, driven by fake backends: one that completes each chunk at
/// once, and one whose chunks the test completes by hand.
@Suite(.timeLimit(.minutes(3)))
struct MapResultsTests {
    /// What the map engine asks of a backend: start a chunk, hand back its future.
    protocol FakeBackend: Sendable {
        func run(_ chunk: [Int], _ timeout: Duration?) -> Future<ChunkOutcome<Int>>
    }

    /// Completes every chunk at once, doubling each input, failing at `failing`; records what it was given.
    final class InstantBackend: FakeBackend {
        let failing: Int?
        private let log = Mutex<(sizes: [Int], timeouts: [Duration?])>(([], []))
        init(failing: Int? = nil) { self.failing = failing }

        var sizes: [Int] { log.withLock { $0.sizes } }
        var timeouts: [Duration?] { log.withLock { $0.timeouts } }

        func run(_ chunk: [Int], _ timeout: Duration?) -> Future<ChunkOutcome<Int>> {
            log.withLock {
                $0.sizes.append(chunk.count)
                $0.timeouts.append(timeout)
            }
            var outputs: [Int] = []
            var failure: (any Error)?
            for x in chunk {
                if x == failing {
                    failure = TestError(id: x)
                    break
                }
                outputs.append(2 * x)
            }
            return Future(completedWith: .success(ChunkOutcome(outputs: outputs, failure: failure, busyNanoseconds: 0)))
        }
    }

    /// Hands every chunk it is asked to run to the test, which completes it when it likes.
    final class ManualBackend: FakeBackend {
        struct Started: Sendable {
            let future: Future<ChunkOutcome<Int>>
            let inputs: [Int]

            /// Completes the chunk with every input doubled.
            func complete() {
                future.complete(
                    with: .success(ChunkOutcome(outputs: inputs.map { 2 * $0 }, failure: nil, busyNanoseconds: 0))
                )
            }
        }

        let started: AsyncStream<Started>
        private let continuation: AsyncStream<Started>.Continuation
        private let count = Atomic(0)

        init() { (started, continuation) = AsyncStream.makeStream() }

        var startedCount: Int { count.load(ordering: .acquiring) }

        func run(_ chunk: [Int], _ timeout: Duration?) -> Future<ChunkOutcome<Int>> {
            let future = Future<ChunkOutcome<Int>>()
            count.add(1, ordering: .acquiringAndReleasing)
            continuation.yield(Started(future: future, inputs: chunk))
            return future
        }
    }

    private func map(
        _ inputs: some Sequence<Int>,
        _ options: MapOptions = MapOptions(),
        workers: Int = 2,
        on backend: some FakeBackend
    ) -> MapResults<Int> {
        MapResults(inputs: inputs, options: options, workerCount: workers, runChunk: backend.run)
    }

    // MARK: Chunking

    @Test func nothingRunsUntilIteration() {
        let backend = InstantBackend()
        _ = map(0..<10, on: backend)
        #expect(backend.sizes.isEmpty)
    }

    @Test func automaticChunksGrowAsTheSizerLearns() async throws {
        let backend = InstantBackend()
        let outputs = try await map(0..<100_000, on: backend).collect()
        #expect(outputs == (0..<100_000).map { 2 * $0 })
        // Four single-item chunks run ahead before anything is learnt; then each chunk is up to 4x larger.
        #expect(Array(backend.sizes.prefix(11)) == [1, 1, 1, 1, 4, 16, 64, 256, 1_024, 4_096, 16_384])
        #expect(backend.sizes.max() == MapOptions.maximumAutomaticChunkSize)
        #expect(backend.sizes.reduce(0, +) == 100_000)
    }

    @Test func fixedChunks() async throws {
        let backend = InstantBackend()
        let outputs = try await map(0..<50, MapOptions(chunking: .fixed(7)), on: backend).collect()
        #expect(outputs == (0..<50).map { 2 * $0 })
        #expect(backend.sizes == [7, 7, 7, 7, 7, 7, 7, 1])
    }

    @Test(arguments: [MapOptions.Chunking.automatic, .fixed(10)])
    func timeoutMakesEveryItemItsOwnChunk(chunking: MapOptions.Chunking) async throws {
        let backend = InstantBackend()
        let options = MapOptions(chunking: chunking, timeout: .seconds(5))
        #expect(try await map(0..<20, options, on: backend).collect() == (0..<20).map { 2 * $0 })
        #expect(backend.sizes == Array(repeating: 1, count: 20))
        #expect(backend.timeouts == Array(repeating: .seconds(5), count: 20))
    }

    @Test(arguments: [
        MapOptions(chunking: .fixed(0)), MapOptions(chunking: .fixed(-3)),
        MapOptions(runAhead: 0), MapOptions(runAhead: -1),
    ])
    func invalidOptionsThrowAndRunNothing(options: MapOptions) async {
        let backend = InstantBackend()
        await expectSpindleError(.invalidArgument) { try await map(0..<10, options, on: backend).collect() }
        #expect(backend.sizes.isEmpty)
    }

    @Test func everyIterationReadsTheInputsAfresh() async throws {
        let backend = InstantBackend()
        let results = map(0..<1_000, on: backend)
        let first = try await results.collect()
        let second = try await results.collect()
        #expect(first == (0..<1_000).map { 2 * $0 })
        #expect(second == first)
    }

    // MARK: Errors

    @Test func errorIsThrownAtItsPositionAndEndsTheSequence() async throws {
        let backend = InstantBackend(failing: 500)
        var iterator = map(0..<1_000, on: backend).makeAsyncIterator()
        var outputs: [Int] = []
        do {
            while let y = try await iterator.next() { outputs.append(y) }
            Issue.record("expected the job's error")
        } catch let error as TestError {
            #expect(error == TestError(id: 500))
        }
        #expect(outputs == (0..<500).map { 2 * $0 })
        #expect(try await iterator.next() == nil, "the sequence ends after its error")
    }

    @Test func failedChunkFutureIsThrown() async {
        let results = MapResults<Int>(inputs: 0..<10, options: MapOptions(), workerCount: 2) { _, _ in
            Future(completedWith: .failure(SpindleError.shutDown()))
        }
        await expectSpindleError(.poolShutDown) { try await results.collect() }
    }

    // MARK: Run-ahead and order, with chunks completed by hand

    @Test(arguments: [(workers: 1, runAhead: nil, expected: 4), (3, nil, 6), (8, 2, 2)] as [(Int, Int?, Int)])
    func runAheadBoundsTheChunksInFlight(workers: Int, runAhead: Int?, expected: Int) async throws {
        let backend = ManualBackend()
        let consumer = Task {
            // One call of next(): it starts chunks, then waits for the oldest.
            var iterator = map(
                0..<100,
                MapOptions(chunking: .fixed(1), runAhead: runAhead),
                workers: workers,
                on: backend
            )
            .makeAsyncIterator()
            return try await iterator.next()
        }
        var started = backend.started.makeAsyncIterator()
        var chunks: [ManualBackend.Started] = []
        for _ in 0..<expected { chunks.append(await started.next()!) }
        chunks[0].complete()
        #expect(try await consumer.value == 0)
        #expect(backend.startedCount == expected)
        #expect(chunks.map(\.inputs) == (0..<expected).map { [$0] }, "chunks start in input order")
    }

    @Test func consumingAChunkStartsTheNext() async throws {
        let backend = ManualBackend()
        let consumer = Task {
            try await map(0..<4, MapOptions(chunking: .fixed(1), runAhead: 2), on: backend).collect()
        }
        var started = backend.started.makeAsyncIterator()
        let first = await started.next()!
        let second = await started.next()!
        first.complete()
        let third = await started.next()!
        #expect(third.inputs == [2])
        second.complete()
        let fourth = await started.next()!
        fourth.complete()
        third.complete()
        #expect(try await consumer.value == [0, 2, 4, 6])
        #expect(backend.startedCount == 4)
    }

    @Test(arguments: [MapOptions.Order.input, .completion])
    func outputsFollowTheOrderOption(order: MapOptions.Order) async throws {
        let backend = ManualBackend()
        let consumer = Task {
            try await map(0..<3, MapOptions(order: order, chunking: .fixed(1), runAhead: 3), on: backend).collect()
        }
        var started = backend.started.makeAsyncIterator()
        var chunks: [ManualBackend.Started] = []
        for _ in 0..<3 { chunks.append(await started.next()!) }
        for index in [2, 0, 1] { chunks[index].complete() }
        let outputs = try await consumer.value
        #expect(outputs == (order == .input ? [0, 2, 4] : [4, 0, 2]))
    }

    @Test func leavingTheLoopEarlyCancelsTheChunksInFlight() async throws {
        let backend = ManualBackend()
        let consumer = Task {
            var outputs: [Int] = []
            for try await y in map(0..<10, MapOptions(chunking: .fixed(1), runAhead: 3), on: backend) {
                outputs.append(y)
                break
            }
            return outputs
        }
        var started = backend.started.makeAsyncIterator()
        var chunks: [ManualBackend.Started] = []
        for _ in 0..<3 { chunks.append(await started.next()!) }
        chunks[0].complete()
        #expect(try await consumer.value == [0])
        #expect(chunks[1].future.state == .cancelled)
        #expect(chunks[2].future.state == .cancelled)
        #expect(backend.startedCount == 3)
    }

    /// Cancelled while the map starts its chunks (between its check of the task and its wait for
    /// the first chunk), the consumer must get the cancellation, never a map that ends early as if
    /// it were complete: an MPI job under ThreadSanitizer once saw the map return 0 outputs.
    @Test(arguments: [MapOptions.Order.input, .completion])
    func aConsumerCancelledWhileChunksStartGetsTheCancellation(order: MapOptions.Order) async {
        let backend = ManualBackend()
        // Reading the inputs happens on the consumer's task, as the chunks start: the first read
        // cancels that task.
        let inputs = (0..<10).lazy.map { x -> Int in
            if x == 0 { withUnsafeCurrentTask { $0?.cancel() } }
            return x
        }
        let consumer = Task {
            await asyncResult {
                try await map(inputs, MapOptions(order: order, chunking: .fixed(1), runAhead: 2), on: backend).collect()
            }
        }
        let result = await consumer.value
        #expect(spindleCode(result.failure) == .cancelled, "\(result)")
    }

    @Test(arguments: [MapOptions.Order.input, .completion])
    func cancellingTheConsumerCancelsTheChunksInFlight(order: MapOptions.Order) async {
        let backend = ManualBackend()
        let consumer = Task {
            await asyncResult {
                try await map(0..<10, MapOptions(order: order, chunking: .fixed(1), runAhead: 2), on: backend).collect()
            }
        }
        var started = backend.started.makeAsyncIterator()
        let chunks = [await started.next()!, await started.next()!]
        consumer.cancel()
        #expect(spindleCode(await consumer.value.failure) == .cancelled)
        #expect(chunks.allSatisfy { $0.future.state == .cancelled })
    }
}
