import Glibc
import PoolConformance
@testable import Spindle
import Synchronization
import Testing

/// A pool of no known kind: it forwards to a thread pool, so a pipeline can only use the public
/// `Pool` interface with it.
struct ForwardingPool: Pool {
    let inner: ThreadPool
    var workerCount: Int { inner.workerCount }
    var statistics: PoolStatistics { inner.statistics }
    func submit<J: Job>(_ job: J, _ input: J.Input, timeout: Duration?) -> Future<J.Output> {
        inner.submit(job, input, timeout: timeout)
    }
    func map<J: Job, Inputs: Sequence>(_ job: J, _ inputs: Inputs, options: MapOptions) -> MapResults<J.Output>
    where Inputs.Element == J.Input {
        inner.map(job, inputs, options: options)
    }
    func shutdown(_ mode: ShutdownMode) async { await inner.shutdown(mode) }
}

/// A source that counts how many items were read from it, to show when a pipeline stops reading.
struct CountingSource: Sequence, Sendable {
    let count: Int
    let reads = Reads()

    final class Reads: Sendable {
        private let value = Atomic(0)
        var current: Int { value.load(ordering: .relaxed) }
        func add() { value.add(1, ordering: .relaxed) }
    }

    struct Iterator: IteratorProtocol {
        var position = 0
        let count: Int
        let reads: Reads
        mutating func next() -> Int? {
            guard position < count else { return nil }
            reads.add()
            defer { position += 1 }
            return position
        }
    }

    func makeIterator() -> Iterator { Iterator(count: count, reads: reads) }

    /// Checks that nobody reads the source any more: the count stands still for 20 ms. (An
    /// absence has no signal to wait for.) Returns how many items were read.
    @discardableResult
    func expectNoLongerRead(sourceLocation: SourceLocation = #_sourceLocation) async throws -> Int {
        let read = reads.current
        try await Task.sleep(for: .milliseconds(20))
        #expect(reads.current == read, "the source is still being read", sourceLocation: sourceLocation)
        return read
    }
}

/// A deterministic scramble of `x` into 0..<`range`, for uneven but repeatable stage timings.
func scramble(_ x: Int, _ range: Int) -> Int { (x &* 2_654_435_761 >> 7) % range }

@Suite(.timeLimit(.minutes(5)))
struct PipelineTests {
    @Test func aStageRunsOnEveryKindOfPool() async throws {
        let threads = try ThreadPool(workers: 2)
        let processes = try makeTestPool()
        let other = ForwardingPool(inner: try ThreadPool(workers: 2))
        let pipeline = Pipeline(0..<2_000)
            .stage(on: threads, name: "plus one") { $0 + 1 }
            .stage(Square(), on: processes, name: "square in processes")
            .stage(Square(offset: 1), on: other, name: "square elsewhere")
            .stage(FailAt(failing: -1), on: threads, name: "job on threads")
        let outputs = try await pipeline.collect()
        #expect(
            outputs
                == (0..<2_000).map { x in
                    let y = (x + 1) * (x + 1)
                    return y * y + 1
                }
        )
        let report = try #require(pipeline.report)
        #expect(report.outcome == .finished)
        #expect(report.stages.map(\.name) == ["plus one", "square in processes", "square elsewhere", "job on threads"])
        #expect(report.stages.map(\.pool.kind) == [.threads, .processes, .other("ForwardingPool"), .threads])
        #expect(report.stages.allSatisfy { $0.itemsIn == 2_000 && $0.itemsOut == 2_000 })
        #expect(report.itemsRead == 2_000 && report.itemsDelivered == 2_000)
        await processes.shutdown()
        await threads.shutdown()
        await other.shutdown()
    }

    @Test func outputsKeepTheSourceOrderWhateverTheStagesTake() async throws {
        let threads = try ThreadPool(workers: 4)
        let processes = try makeTestPool()
        let pipeline = Pipeline(0..<300)
            .stage(on: threads, name: "uneven sleep") { x in
                usleep(UInt32(scramble(x, 3_000)))
                return x
            }
            .stage(on: threads, name: "uneven suspension") { x in
                try await Task.sleep(for: .microseconds(scramble(x &+ 1, 2_000)))
                return x
            }
            .stage(Square(), on: processes)
        #expect(try await pipeline.collect() == (0..<300).map { $0 * $0 })
        await processes.shutdown()
        await threads.shutdown()
    }

    @Test func completionOrderDeliversEveryOutputOnce() async throws {
        let threads = try ThreadPool(workers: 4)
        let pipeline = Pipeline(0..<1_000, options: PipelineOptions(order: .completion))
            .stage(on: threads) { x in
                usleep(UInt32(scramble(x, 500)))
                return x
            }
            .stage(Square(), on: threads)
        let outputs = try await pipeline.collect()
        #expect(outputs.sorted() == (0..<1_000).map { $0 * $0 })
        await threads.shutdown()
    }

    @Test func stagesFilterAndFanOut() async throws {
        let threads = try ThreadPool(workers: 2)
        let processes = try makeTestPool()
        let pipeline = Pipeline(0..<1_000)
            .compactStage(KeepEven(), on: processes)
            .flatStage(Copies(), on: processes)
            .compactStage(on: threads) { $0.isMultiple(of: 3) ? nil : $0 }
            .flatStage(on: threads) { [$0, -$0] }
        let expected = (0..<1_000).filter { $0.isMultiple(of: 2) }
            .flatMap { Array(repeating: $0, count: $0 % 4) }
            .filter { !$0.isMultiple(of: 3) }
            .flatMap { [$0, -$0] }
        #expect(try await pipeline.collect() == expected)
        let report = try #require(pipeline.report)
        #expect(report.stages.map(\.itemsIn).prefix(2) == [1_000, 500])
        #expect(report.stages[0].itemsOut == 500)
        #expect(report.stages[3].itemsIn == expected.count / 2 && report.stages[3].itemsOut == expected.count)
        await processes.shutdown()
        await threads.shutdown()
    }

    @Test func theFirstFailureStopsEverythingAndNamesItsStageAndItem() async throws {
        let threads = try ThreadPool(workers: 2)
        let processes = try makeTestPool()
        for pool in [threads as any Pool, processes] {
            let source = CountingSource(count: 1_000_000)
            let pipeline = Pipeline(source)
                .stage(on: threads, name: "pass") { $0 }
                .stage(FailAt(failing: 137), on: pool, name: "check")
                .stage(Square(), on: threads)
            let error = await #expect(throws: PipelineError.self) {
                for try await _ in pipeline {}
            }
            #expect(error?.stage == "check")
            #expect(error?.stageNumber == 2)
            #expect(error?.item == 137)
            #expect(error?.input == "137")
            #expect(
                error?.underlying as? ConformanceFailure == ConformanceFailure(input: 137),
                "\(String(describing: error))"
            )
            #expect(error?.description.hasPrefix("stage `check` failed on item 137 of the source (137): ") == true)
            let report = try #require(pipeline.report)
            #expect(report.outcome == .failed)
            #expect(report.verdict.hasPrefix("Stopped by a failure"))
            // Nothing of the run is left running once the error is thrown, and it stopped reading.
            let progress = try #require(pipeline.progress)
            #expect(!progress.isRunning)
            #expect(progress.stages.allSatisfy { $0.chunksRunning == 0 })
            let read = try await source.expectNoLongerRead()
            #expect(read < 10_000, "read \(read) items")
        }
        #expect(try await processes.submit(Square(), 3).value == 9, "the pools carry on")
        await processes.shutdown()
        await threads.shutdown()
    }

    /// An early stage can fail very soon, while the machine is busy starting the others; they
    /// must stop all the same. (Before every stage was in place ahead of the first task, one run in
    /// a hundred or so hung here.) Under ThreadSanitizer a tenth of the rounds: every round
    /// starts and stops process work, which there costs much more.
    @Test func aFailureAtTheStartStillStopsEveryStage() async throws {
        let threads = try ThreadPool(workers: 4)
        let processes = try makeTestPool()
        for _ in 0..<bigMapItems(300) {
            let pipeline = Pipeline(0..<1_000)
                .stage(FailAt(failing: 100), on: threads, name: "check")
                .stage(on: threads, name: "pass") { $0 }
                .stage(Square(), on: processes, name: "square")
            let error = await #expect(throws: PipelineError.self) { try await pipeline.collect() }
            #expect(error?.item == 100)
        }
        await processes.shutdown()
        await threads.shutdown()
    }

    @Test func collectedFailuresNameTheirStageAndItemAndTheRestCarriesOn() async throws {
        let threads = try ThreadPool(workers: 2)
        let processes = try makeTestPool()
        let pipeline = Pipeline(0..<500, options: PipelineOptions(onFailure: .collect))
            .stage(FailAt(failing: 5), on: processes, name: "five")
            .stage(on: threads, name: "forty-twos") { x in
                if x % 100 == 42 { throw TestError(id: x) }
                return x
            }
            .stage(Die(at: 300, by: .segfault), on: processes, name: "crash")
        let outputs = try await pipeline.collect()
        let failing: Set = [5, 42, 142, 242, 342, 442, 300]
        #expect(outputs == (0..<500).filter { !failing.contains($0) })
        let report = try #require(pipeline.report)
        #expect(report.outcome == .finished)
        let failures = report.failures.sorted { $0.item < $1.item }
        #expect(failures.map(\.item) == failing.sorted())
        #expect(failures.first { $0.item == 5 }?.stage == "five")
        #expect(failures.first { $0.item == 5 }?.underlying as? ConformanceFailure == ConformanceFailure(input: 5))
        #expect(failures.filter { $0.stage == "forty-twos" }.map(\.item) == [42, 142, 242, 342, 442])
        let crash = try #require(failures.first { $0.item == 300 })
        #expect(crash.stage == "crash" && crash.stageNumber == 3)
        #expect(spindleCode(crash.underlying) == .workerDied, "\(crash)")
        #expect(report.stages.map(\.failures) == [1, 5, 1])
        #expect(report.description.contains("7 items failed and went no further"))
        await processes.shutdown()
        await threads.shutdown()
    }

    @Test func cancellingTheConsumingTaskStopsThePipeline() async throws {
        let threads = try ThreadPool(workers: 2)
        let source = CountingSource(count: Int.max)
        let firstResult = Latch()
        let pipeline = Pipeline(source)
            .stage(on: threads, name: "hold") { x in
                // Holds its thread until cancelled, except the very first item.
                if x > 0 { while !Task.isCancelled { usleep(500) } }
                return x
            }
        let consumer = Task {
            for try await _ in pipeline { firstResult.open() }
        }
        await firstResult.wait()
        consumer.cancel()
        let result = await consumer.result
        #expect(spindleCode(result.failure) == .cancelled)
        #expect(pipeline.report?.outcome == .cancelled)
        try await source.expectNoLongerRead()
        // The held jobs saw the cancellation, so the pool's threads are free to stop.
        await threads.shutdown()
    }

    @Test func leavingTheLoopEarlyStopsThePipeline() async throws {
        let threads = try ThreadPool(workers: 2)
        let source = CountingSource(count: Int.max)
        let pipeline = Pipeline(source).stage(on: threads) { $0 * 2 }
        var seen: [Int] = []
        for try await x in pipeline {
            seen.append(x)
            if seen.count == 10 { break }
        }
        #expect(seen == (0..<10).map { $0 * 2 })
        #expect(await eventually { pipeline.report?.outcome == .cancelled })
        #expect(await eventually { pipeline.progress?.stages.allSatisfy { $0.chunksRunning == 0 } == true })
        try await source.expectNoLongerRead()
        await threads.shutdown()
    }

    @Test func anAsyncSequenceCanBeTheSource() async throws {
        let threads = try ThreadPool(workers: 2)
        let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
        let pipeline = Pipeline(stream).stage(on: threads) { $0 + 1 }
        let producer = Task {
            for x in 0..<100 { continuation.yield(x) }
            continuation.finish()
        }
        #expect(try await pipeline.collect() == Array(1...100))
        await producer.value
        await threads.shutdown()
    }

    /// A source that throws stops the pipeline even when failures are collected: without its
    /// items, nothing is left to carry on with.
    @Test(arguments: [PipelineOptions.FailureHandling.stop, .collect])
    func aFailingAsyncSourceIsReportedAsTheSourceAndStopsThePipeline(_ onFailure: PipelineOptions.FailureHandling)
        async throws
    {
        struct Broken: Error {}
        let threads = try ThreadPool(workers: 1)
        let stream = AsyncThrowingStream<Int, any Error> { continuation in
            continuation.yield(1)
            continuation.finish(throwing: Broken())
        }
        let pipeline = Pipeline(stream, options: PipelineOptions(onFailure: onFailure)).stage(on: threads) { $0 }
        let error = await #expect(throws: PipelineError.self) { try await pipeline.collect() }
        #expect(error?.stage == "source" && error?.stageNumber == 0 && error?.item == 1)
        #expect(error?.underlying is Broken)
        await threads.shutdown()
    }

    @Test func aThreadPoolShutDownUnderAPipelineStopsIt() async throws {
        let threads = try ThreadPool(workers: 2)
        let pipeline = Pipeline(0..<1_000_000, options: PipelineOptions(onFailure: .collect))
            .stage(on: threads, name: "slow") { x in
                usleep(100)
                return x
            }
        var seen = 0
        let error = await #expect(throws: PipelineError.self) {
            for try await _ in pipeline {
                seen += 1
                if seen == 1 { await threads.shutdown(.immediate) }
            }
        }
        #expect(error?.stage == "slow")
        #expect(spindleCode(error?.underlying) == .poolShutDown, "\(String(describing: error))")
        // One failure stops it, even though failures are collected: every item after would fail too.
        #expect((pipeline.report?.failures.count ?? 0) == 0)
        #expect(seen < 1_000_000)
    }

    @Test func aProcessPoolsTaskTimeoutAppliesToEachItemAndNamesTheLateOne() async throws {
        let processes = try makeTestPool { $0.taskTimeout = .milliseconds(500) }
        let pipeline = Pipeline([0, 0, 0, 5_000, 0, 0], options: PipelineOptions(onFailure: .collect))
            .stage(Busy(), on: processes, name: "work")
        #expect(try await pipeline.collect() == [0, 0, 0, 0, 0])
        let failures = try #require(pipeline.report).failures
        #expect(failures.map(\.item) == [3])
        #expect(spindleCode(failures.first?.underlying) == .timedOut, "\(failures)")
        await processes.shutdown()
    }

    @Test func nonsenseArgumentsThrowBeforeAnythingRuns() async throws {
        let threads = try ThreadPool(workers: 1)
        let source = CountingSource(count: 10)
        let cases = [
            Pipeline(source, options: PipelineOptions(buffer: 0)).stage(on: threads) { $0 },
            Pipeline(source).stage(on: threads, concurrency: 0) { $0 },
            Pipeline(source).stage(on: threads, buffer: -1) { $0 },
        ]
        for pipeline in cases {
            let error = await #expect(throws: SpindleError.self) { try await pipeline.collect() }
            #expect(error?.code == .invalidArgument, "\(String(describing: error))")
        }
        #expect(source.reads.current == 0)
        await threads.shutdown()
    }

    @Test func progressIsReadableWhileRunning() async throws {
        let threads = try ThreadPool(workers: 2)
        let pipeline = Pipeline(0..<1_000, options: PipelineOptions(buffer: 8))
            .stage(on: threads, name: "first") { $0 }
            .stage(on: threads, name: "second") { $0 }
        #expect(pipeline.progress == nil && pipeline.report == nil)
        var iterator = pipeline.makeAsyncIterator()
        _ = try await iterator.next()
        let during = try #require(pipeline.progress)
        #expect(during.isRunning)
        #expect(during.stages.map(\.name) == ["first", "second"])
        #expect(during.stages.allSatisfy { $0.bufferCapacity == 8 && $0.waiting <= 8 })
        #expect(during.itemsRead >= 1 && during.itemsRead <= 1_000)
        #expect(during.description.contains("first"))
        while try await iterator.next() != nil {}
        let after = try #require(pipeline.progress)
        #expect(!after.isRunning)
        #expect(after.itemsRead == 1_000 && after.itemsDelivered == 1_000)
        #expect(after.stages.allSatisfy { $0.itemsIn == 1_000 && $0.itemsOut == 1_000 && $0.waiting == 0 })
        #expect(after.line.contains("first 1000 → second 1000"), "\(after.line)")
        await threads.shutdown()
    }

    @Test func aPipelineCanRunAgain() async throws {
        let threads = try ThreadPool(workers: 2)
        let pipeline = Pipeline(0..<100).stage(on: threads) { $0 * 3 }
        #expect(try await pipeline.collect() == (0..<100).map { $0 * 3 })
        #expect(try await pipeline.collect() == (0..<100).map { $0 * 3 })
        #expect(pipeline.report?.itemsDelivered == 100)
        await threads.shutdown()
    }
}
