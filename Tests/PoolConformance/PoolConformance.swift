public import Spindle
import Synchronization
public import Testing

/// The behaviour every ``Pool`` backend must show, as checks any backend's tests can run.
///
/// ```swift
/// @Test(arguments: PoolConformance<ThreadPool>.Check.allCases)
/// func conformance(_ check: PoolConformance<ThreadPool>.Check) async throws {
///     try await PoolConformance { try ThreadPool(workers: $0) }.run(check)
/// }
/// ```
///
/// Each check makes its own pool (through `makePool`, given a worker count) and shuts it down,
/// even when an expectation fails.
public struct PoolConformance<P: Pool>: Sendable {
    /// One behaviour to check.
    public enum Check: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case orderedMap, unorderedMap, emptyInput, oneItem, millionItems
        case hugeChunks, tinyChunks, invalidChunkSize
        case errorAtFirst, errorAtMiddle, errorAtLast, errorUnordered
        case cancelBeforeRun, cancelDuringRun, earlyStopCancelsRest, consumerCancellationStopsMap
        case lazyInputRunsAheadBoundedly
        case gracefulShutdown, immediateShutdown, submitAfterShutdown, shutdownTwice
        case submitFromRunningJob, manyConcurrentCallers, submitTimeout, queuedTimeout, mapTimeout
        case asCompletedAndWait

        public var testDescription: String { rawValue }
    }

    let makePool: @Sendable (Int) throws -> P
    let submitFromJob: (@Sendable (P) async throws -> Int)?

    /// - Parameters:
    ///   - makePool: makes a fresh pool with the given number of workers.
    ///   - submitFromJob: for backends whose jobs can reach their own pool (threads): submits a job
    ///     whose body submits `Square()` on 6 to the same pool and returns its value (36). When
    ///     `nil`, that check is skipped, since a worker process cannot reach its parent's pool.
    public init(
        makePool: @escaping @Sendable (Int) throws -> P,
        submitFromJob: (@Sendable (P) async throws -> Int)? = nil
    ) {
        self.makePool = makePool
        self.submitFromJob = submitFromJob
    }

    /// Runs one check on a fresh pool.
    public func run(_ check: Check) async throws {
        let pool = try makePool(check.workers)
        do {
            try await run(check, on: pool)
        } catch {
            await pool.shutdown(.immediate)
            throw error
        }
        await pool.shutdown(.immediate)
    }

    private func run(_ check: Check, on pool: P) async throws {
        switch check {
        case .orderedMap:
            let outputs = try await pool.map(Square(offset: 1), 0..<1_000).collect()
            #expect(outputs == (0..<1_000).map { $0 * $0 + 1 })
        case .unorderedMap:
            let outputs = try await pool.map(Square(), 0..<1_000, order: .completion).collect()
            #expect(outputs.sorted() == (0..<1_000).map { $0 * $0 })
        case .emptyInput:
            #expect(try await pool.map(Square(), [Int]()).collect().isEmpty)
            #expect(try await pool.map(Square(), [Int](), order: .completion).collect().isEmpty)
        case .oneItem:
            #expect(try await pool.map(Square(), [7]).collect() == [49])
            #expect(try await pool.submit(Square(offset: 1), 7).value == 50)
        case .millionItems:
            var count = 0
            var sum = 0
            for try await y in pool.map(FailAt(failing: -1), 0..<1_000_000) {
                #expect(y == count, "out of order at \(count)")
                count += 1
                sum &+= y
            }
            #expect(count == 1_000_000)
            #expect(sum == 999_999 * 1_000_000 / 2)
        case .hugeChunks:
            let outputs = try await pool.map(Square(), 0..<10_000, chunkSize: 1_000_000).collect()
            #expect(outputs == (0..<10_000).map { $0 * $0 })
        case .tinyChunks:
            let outputs = try await pool.map(Square(), 0..<2_000, chunkSize: 1).collect()
            #expect(outputs == (0..<2_000).map { $0 * $0 })
        case .invalidChunkSize:
            await expectSpindleError(.invalidArgument) { try await pool.map(Square(), 0..<10, chunkSize: 0).collect() }
            await expectSpindleError(.invalidArgument) { try await pool.map(Square(), 0..<10, runAhead: 0).collect() }
        case .errorAtFirst:
            try await expectFailure(on: pool, count: 1_000, failing: 0)
        case .errorAtMiddle:
            try await expectFailure(on: pool, count: 1_000, failing: 500)
        case .errorAtLast:
            try await expectFailure(on: pool, count: 1_000, failing: 999)
        case .errorUnordered:
            var seen = Set<Int>()
            let error = await #expect(throws: (any Error).self) {
                for try await y in pool.map(FailAt(failing: 300), 0..<1_000, order: .completion) { seen.insert(y) }
            }
            #expect(error.map { String(describing: $0) }?.contains("at input 300") == true)
            #expect(seen.isSubset(of: Set(0..<1_000)) && seen.count < 1_000)
        case .cancelBeforeRun:
            // Occupy every worker, so that the next job must queue.
            let blockers = (0..<pool.workerCount).map { _ in pool.submit(Hold(), 600) }
            for blocker in blockers { try await waitUntilRunning(blocker) }
            let queued = pool.submit(Square(), 3)
            #expect(queued.cancel(), "a job that has not started must be cancellable")
            #expect(queued.state == .cancelled)
            await expectSpindleError(.cancelled) { try await queued.value }
            for blocker in blockers { blocker.cancel() }
            for blocker in blockers { await #expect(throws: (any Error).self) { try await blocker.value } }
            #expect(try await pool.submit(Square(), 4).value == 16, "the pool must still work")
        case .cancelDuringRun:
            let running = pool.submit(Hold(), 600)
            try await waitUntilRunning(running)
            #expect(!running.cancel(), "cancel() of a running job answers false, as in Python")
            await #expect(throws: (any Error).self) { try await running.value }
            #expect(try await pool.submit(Square(), 5).value == 25, "the pool must still work")
        case .earlyStopCancelsRest:
            // After the first output, every other item would hold a worker for ten minutes. Leaving
            // the loop must cancel them (queued ones never start, running ones are stopped), so that
            // the graceful shutdown below returns long before a single one of them could have
            // finished.
            let inputs = [0] + Array(repeating: 600, count: 50)
            for try await _ in pool.map(Hold(), inputs, chunkSize: 1) { break }
            let start = ContinuousClock.now
            await pool.shutdown(.graceful)
            // The margin is wide: ThreadSanitizer beside the whole suite once made this take 85 s.
            #expect(ContinuousClock.now - start < .seconds(240), "the abandoned items kept running")
        case .consumerCancellationStopsMap:
            let consumer = Task {
                var outputs = 0
                for try await _ in pool.map(Hold(), Array(repeating: 600, count: 50), chunkSize: 1) { outputs += 1 }
                return outputs
            }
            consumer.cancel()
            await #expect(throws: (any Error).self, "a cancelled consumer's map ends with an error") {
                try await consumer.value
            }
            let start = ContinuousClock.now
            await pool.shutdown(.graceful)
            // An item left running would hold its worker for 600 s; see `earlyStopCancelsRest`.
            #expect(ContinuousClock.now - start < .seconds(240), "the cancelled map's items kept running")
        case .lazyInputRunsAheadBoundedly:
            // Forced chunks of 10 and 4 chunks of run-ahead: at most the 4 chunks in flight plus the
            // one being handed out can have been read ahead of the consumer.
            let counter = CountingSequence(count: 20_000)
            var consumed = 0
            var furthestAhead = 0
            for try await y in pool.map(FailAt(failing: -1), counter, chunkSize: 10, runAhead: 4) {
                #expect(y == consumed)
                consumed += 1
                furthestAhead = max(furthestAhead, counter.produced - consumed)
            }
            #expect(consumed == 20_000)
            #expect(furthestAhead <= 50)
            // Automatic chunks: at most run-ahead chunks of the largest automatic size.
            let automatic = CountingSequence(count: 200_000)
            consumed = 0
            furthestAhead = 0
            for try await _ in pool.map(FailAt(failing: -1), automatic, runAhead: 4) {
                consumed += 1
                furthestAhead = max(furthestAhead, automatic.produced - consumed)
            }
            #expect(consumed == 200_000)
            #expect(furthestAhead <= 5 * MapOptions.maximumAutomaticChunkSize)
        case .gracefulShutdown:
            let futures = (0..<(pool.workerCount * 5)).map { _ in pool.submit(Nap(), 5) }
            await pool.shutdown(.graceful)
            for future in futures { #expect(future.state == .succeeded) }
        case .immediateShutdown:
            // Block every worker until released, so that what is queued behind them stays queued
            // however slowly this test runs.
            let gate = FileGate()
            let running = (0..<pool.workerCount).map { _ in pool.submit(WaitForFile(), gate.path) }
            for future in running { try await waitUntilRunning(future) }
            var queued = (0..<10).map { pool.submit(Square(), $0) }
            let shutdown = Task { await pool.shutdown(.immediate) }
            // Release the workers only once the shutdown has begun, which shows in submissions
            // failing; those that still got in are queued behind the workers like the others.
            while true {
                let probe = pool.submit(Square(), 0)
                if case .failure(let error as SpindleError)? = probe.currentResult, error.code == .poolShutDown {
                    break
                }
                queued.append(probe)
                try await Task.sleep(for: .milliseconds(1))
            }
            // Queued work is cancelled at once, while the workers are still held: not when a
            // worker reaches it.
            _ = await Future.wait(queued, until: .allCompleted, timeout: .seconds(10))
            for future in queued { #expect(future.state == .cancelled, "queued jobs are cancelled at once") }
            for future in running { #expect(future.state == .running, "running jobs are left alone") }
            gate.open()
            await shutdown.value
            for future in running { #expect(try await future.value, "running jobs finish") }
        case .submitAfterShutdown:
            await pool.shutdown()
            await expectSpindleError(.poolShutDown) { try await pool.submit(Square(), 1).value }
            await expectSpindleError(.poolShutDown) { try await pool.map(Square(), 0..<10).collect() }
        case .shutdownTwice:
            #expect(try await pool.submit(Square(), 2).value == 4)
            await pool.shutdown()
            await pool.shutdown(.immediate)
            await pool.shutdown()
            await expectSpindleError(.poolShutDown) { try await pool.submit(Square(), 1).value }
        case .submitFromRunningJob:
            guard let submitFromJob else { return }
            #expect(try await submitFromJob(pool) == 36)
        case .manyConcurrentCallers:
            try await withThrowingTaskGroup(of: Void.self) { group in
                for caller in 0..<16 {
                    group.addTask {
                        let outputs = try await pool.map(Square(offset: caller), 0..<500).collect()
                        #expect(outputs == (0..<500).map { $0 * $0 + caller })
                        #expect(try await pool.submit(Square(), caller).value == caller * caller)
                    }
                }
                try await group.waitForAll()
            }
        case .submitTimeout:
            let late = pool.submit(Hold(), 60, timeout: .milliseconds(50))
            await expectSpindleError(.timedOut) { try await late.value }
            #expect(try await pool.submit(Square(), 6, timeout: .seconds(60)).value == 36)
        case .queuedTimeout:
            // Both workers are busy for 800 ms: the quick job waits that long in the queue, which
            // its 300 ms timeout must not count — a timeout is for running, not for waiting.
            let busy = (0..<check.workers).map { _ in pool.submit(Busy(), 800) }
            let quick = pool.submit(Square(), 7, timeout: .milliseconds(300))
            #expect(try await quick.value == 49)
            for future in busy { _ = try await future.value }
        case .mapTimeout:
            // Items that take no time are well inside a 2 s timeout however loaded the machine is;
            // the third would take a minute.
            var outputs: [Int] = []
            await expectSpindleError(.timedOut) {
                for try await y in pool.map(Nap(), [0, 0, 60_000, 0], timeout: .seconds(2)) { outputs.append(y) }
            }
            #expect(outputs == [0, 0])
        case .asCompletedAndWait:
            let futures = [pool.submit(Nap(), 1), pool.submit(FailAt(failing: 2), 2), pool.submit(Nap(), 3)]
            var completed = 0
            for try await future in Future.asCompleted(futures, timeout: .seconds(60)) {
                #expect(future.isDone)
                completed += 1
            }
            #expect(completed == 3)
            let (done, pending) = await Future.wait(futures, until: .allCompleted)
            #expect(done.count == 3 && pending.isEmpty)
            let slow = pool.submit(Nap(), 60_000)
            let (_, stillPending) = await Future.wait([slow], until: .firstCompleted, timeout: .milliseconds(20))
            #expect(stillPending.count == 1)
            let failure = pool.submit(FailAt(failing: 1), 1)
            let (failed, _) = await Future.wait([slow, failure], until: .firstFailure)
            #expect(failed.count == 1 && failed[0] === failure)
            slow.cancel()
        }
    }

    private func expectFailure(on pool: P, count: Int, failing: Int) async throws {
        var outputs: [Int] = []
        let error = await #expect(throws: (any Error).self) {
            for try await y in pool.map(FailAt(failing: failing), 0..<count) { outputs.append(y) }
        }
        #expect(outputs == Array(0..<failing), "every output before the failure, in order, and none after")
        #expect(error.map { String(describing: $0) }?.contains("at input \(failing)") == true)
    }
}

extension PoolConformance.Check {
    /// Workers each check's pool gets: two, as many as this machine has cores.
    var workers: Int { 2 }
}

/// Expects `body` to throw a ``SpindleError`` with `code`.
public func expectSpindleError<T>(
    _ code: SpindleError.Code,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> T
) async {
    let error = await #expect(throws: SpindleError.self, sourceLocation: sourceLocation) { _ = try await body() }
    if let error { #expect(error.code == code, "\(error)", sourceLocation: sourceLocation) }
}

/// Waits until `future` is running: its state is the signal (a pool has no other to offer across
/// processes), so this polls it, giving up after 120 seconds (a hang guard).
public func waitUntilRunning<T>(_ future: Future<T>, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let deadline = ContinuousClock.now + .seconds(120)
    while future.state == .pending {
        guard ContinuousClock.now < deadline else {
            Issue.record("the job never started", sourceLocation: sourceLocation)
            return
        }
        try await Task.sleep(for: .milliseconds(1))
    }
}

/// 0, 1, 2, … up to `count`, counting how many elements were read, to see how far a map reads ahead.
public final class CountingSequence: Sequence, Sendable {
    let count: Int
    private let producedCount = Atomic(0)

    public init(count: Int) { self.count = count }

    /// How many elements have been read so far.
    public var produced: Int { producedCount.load(ordering: .relaxed) }

    public func makeIterator() -> AnyIterator<Int> {
        var next = 0
        return AnyIterator { [self] in
            guard next < count else { return nil }
            defer { next += 1 }
            producedCount.add(1, ordering: .relaxed)
            return next
        }
    }
}
