import Glibc
import PoolConformance
@testable import Spindle
import Synchronization
import Testing

/// What the conformance suite cannot check for every backend: thread names, executor preference,
/// blocking jobs, dropping a pool, closures. Every pool gets its own thread-name prefix, since tests
/// run in parallel in one process and some count threads by name.
@Suite(.timeLimit(.minutes(3)))
struct ThreadPoolTests {
    /// Returns the name of the thread it runs on.
    struct ThreadName: Job {
        func run(_ input: Int) async throws -> String { currentThreadName() }
    }

    // MARK: Creating

    @Test(arguments: [0, -1, 4_097, 5_000])
    func invalidWorkerCountThrows(workers: Int) async {
        await expectSpindleError(.invalidArgument) { try ThreadPool(workers: workers, name: "tpinvalid") }
    }

    @Test func workerCountIsAsAskedOrTheAvailableCPUs() async throws {
        let pool = try ThreadPool(workers: 3, name: "tpcount")
        #expect(pool.workerCount == 3)
        await pool.shutdown()
        let defaultPool = try ThreadPool(name: "tpdefault")
        #expect(defaultPool.workerCount == AvailableCPUs.count)
        await defaultPool.shutdown()
    }

    @Test func workerThreadsAreNamed() async throws {
        let prefix = "tpname"
        let workers = 4
        let pool = try ThreadPool(workers: workers, name: prefix)
        // Holding every worker at a barrier proves each has started, and so has named itself.
        let barrier = BlockingBarrier(parties: workers)
        let futures = (0..<workers).map { _ in pool.submit { (barrier.arriveAndWait(), currentThreadName()) } }
        var namesSeenByJobs: Set<String> = []
        for future in futures {
            let (passed, name) = try await future.value
            #expect(passed)
            namesSeenByJobs.insert(name)
        }
        let expected = (0..<workers).map { "\(prefix)-\($0)" }
        #expect(namesSeenByJobs == Set(expected))
        #expect(processThreadNames().filter { $0.hasPrefix("\(prefix)-") }.sorted() == expected)
        await pool.shutdown()
    }

    @Test func longNamesAreCutToFifteenBytesKeepingTheIndex() async throws {
        // "tplongnamexyzw-0" is 16 bytes; Linux keeps 15, so the prefix gives way, not the index.
        let pool = try ThreadPool(workers: 1, name: "tplongnamexyzw")
        #expect(try await pool.submit(ThreadName(), 0).value == "tplongnamexyz-0")
        await pool.shutdown()
    }

    // MARK: Where code runs

    @Test func jobsRunOnThePoolAndResumeThereAfterSuspending() async throws {
        let pool = try ThreadPool(workers: 2, name: "tpresume")
        let names = try await pool.submit { () async throws -> [String] in
            var names = [currentThreadName()]
            await Task.yield()
            names.append(currentThreadName())
            try await Task.sleep(for: .milliseconds(1))
            names.append(currentThreadName())
            return names
        }.value
        #expect(names.count == 3)
        #expect(names.allSatisfy { $0.hasPrefix("tpresume-") }, "\(names)")
        #expect(try await pool.submit(ThreadName(), 0).value.hasPrefix("tpresume-"))
        await pool.shutdown()
    }

    @Test func taskExecutorPreferenceRunsOnThePool() async throws {
        let pool = try ThreadPool(workers: 2, name: "tpexec")
        let names = await Task(executorPreference: pool) { () async -> [String] in
            let first = currentThreadName()
            try? await Task.sleep(for: .milliseconds(1))
            return [first, currentThreadName()]
        }.value
        #expect(names.allSatisfy { $0.hasPrefix("tpexec-") }, "\(names)")
        await pool.shutdown()
    }

    @Test func withTaskExecutorPreferenceRunsOnThePool() async throws {
        let pool = try ThreadPool(workers: 2, name: "tpwith")
        let names = await withTaskExecutorPreference(pool) { () async -> [String] in
            let first = currentThreadName()
            try? await Task.sleep(for: .milliseconds(1))
            return [first, currentThreadName()]
        }
        #expect(names.allSatisfy { $0.hasPrefix("tpwith-") }, "\(names)")
        await pool.shutdown()
    }

    @Test func preferringAStoppedPoolRunsElsewhere() async throws {
        let pool = try ThreadPool(workers: 1, name: "tpgone")
        await pool.shutdown()
        let name = await Task(executorPreference: pool) { currentThreadName() }.value
        #expect(!name.hasPrefix("tpgone-"))
    }

    // MARK: Closures

    @Test func closureSubmitAndMap() async throws {
        let pool = try ThreadPool(workers: 2, name: "tpclosure")
        #expect(try await pool.submit { 6 * 7 }.value == 42)
        #expect(try await pool.map(0..<1_000) { $0 * 3 }.collect() == (0..<1_000).map { $0 * 3 })
        let unordered = try await pool.map(0..<1_000, order: .completion) { $0 + 1 }.collect()
        #expect(unordered.sorted() == Array(1...1_000))
        let chunked = try await pool.map(Array(0..<100), chunkSize: 7) { "\($0)" }.collect()
        #expect(chunked == (0..<100).map { "\($0)" })
        let options = MapOptions(chunking: .fixed(3), runAhead: 1)
        #expect(try await pool.map([1, 2, 3, 4], options: options) { x in 0 - x }.collect() == [-1, -2, -3, -4])
        #expect(try await pool.map([Int]()) { $0 }.collect().isEmpty)
        await pool.shutdown()
    }

    @Test func hugeTimeoutDoesNotTrap() async throws {
        let pool = try ThreadPool(workers: 1, name: "tphuge")
        #expect(try await pool.submit(timeout: .seconds(Int64.max)) { 5 }.value == 5)
        await pool.shutdown()
    }

    /// Regression: a negative timeout shorter than a second used to trap in
    /// `Duration.clampedNanoseconds` (via `OneShotTimer`) instead of timing out at once.
    @Test func negativeTimeoutDoesNotCrash() async {
        await #expect(processExitsWith: .success) {
            let pool = try ThreadPool(workers: 1, name: "tpnegative")
            _ = await pool.submit(timeout: .milliseconds(-1)) { 5 }.result  // 5 or timedOut, either will do
            await pool.shutdown()
        }
    }

    // MARK: Blocking and errors

    @Test func blockingJobsRunConcurrently() async throws {
        let workers = 8
        let pool = try ThreadPool(workers: workers, name: "tpblock")
        // Each job blocks its thread (no suspension), then waits for all the others at a barrier:
        // they can only all pass if all eight run at once.
        let barrier = BlockingBarrier(parties: workers)
        let futures = (0..<workers).map { _ in
            pool.submit { barrier.arriveAndWait() }
        }
        for future in futures { #expect(try await future.value, "the eight blocking jobs must run at once") }
        await pool.shutdown()
    }

    @Test func jobErrorsReachTheCallerUnchanged() async throws {
        let pool = try ThreadPool(workers: 2, name: "tperror")

        let closure = pool.submit { () throws -> Int in throw TestError(id: 1) }
        await expectTestError(TestError(id: 1)) { try await closure.value }
        #expect(closure.state == .failed)

        let job = pool.submit(ThrowTestError(), 2)
        await expectTestError(TestError(id: 2)) { try await job.value }

        var outputs: [Int] = []
        await expectTestError(TestError(id: 3)) {
            for try await y in pool.map(
                1...5,
                chunkSize: 2,
                { x in
                    if x == 3 { throw TestError(id: x) }
                    return x
                }
            ) { outputs.append(y) }
        }
        #expect(outputs == [1, 2])

        await expectTestError(TestError(id: 5)) { try await pool.map(ThrowTestError(), [5, 6]).collect() }
        await pool.shutdown()
    }

    /// Expects `body` to throw exactly `expected`: a job's own error must reach the caller unchanged.
    private func expectTestError<T>(
        _ expected: TestError,
        sourceLocation: SourceLocation = #_sourceLocation,
        _ body: () async throws -> T
    ) async {
        let error = await #expect(throws: TestError.self, sourceLocation: sourceLocation) { _ = try await body() }
        #expect(error == nil || error == expected, sourceLocation: sourceLocation)
    }

    // MARK: Lazy input

    /// 10 million items through an identity closure, with a run-ahead of 4 chunks: the inputs read
    /// ahead of the consumer never exceed 4 chunks of the largest automatic size.
    /// On a thread of its own: ten million ready results keep the loop from ever suspending.
    @Test func tenMillionItemsAreReadLazily() async throws {
        try await onOwnThread { try await readTenMillionItemsLazily() }
    }

    private func readTenMillionItemsLazily() async throws {
        let count = bigMapItems(10_000_000)
        let runAhead = 4
        let pool = try ThreadPool(workers: 2, name: "tplazy")
        let inputs = CountingSequence(count: count)
        var consumed = 0
        var furthestAhead = 0
        var inOrder = true
        for try await y in pool.map(inputs, runAhead: runAhead, { $0 }) {
            inOrder = inOrder && y == consumed
            consumed += 1
            furthestAhead = max(furthestAhead, inputs.produced - consumed)
        }
        #expect(consumed == count)
        #expect(inOrder)
        #expect(inputs.produced == count)
        #expect(furthestAhead <= runAhead * MapOptions.maximumAutomaticChunkSize)
        await pool.shutdown()
    }

    // MARK: Shutting down

    @Test(arguments: [ShutdownMode.graceful, .immediate])
    func shutdownFromInsideAJobDoesNotDeadlock(mode: ShutdownMode) async throws {
        let prefix = mode == .graceful ? "tpinside-g" : "tpinside-i"
        let pool = try ThreadPool(workers: 2, name: prefix)
        let job = pool.submit { () async -> Int in
            await pool.shutdown(mode)
            return 7
        }
        // A deadlocked job ignores cancellation, so a time limit alone could not end this test:
        // give up on the job after a generous wait instead (a passing run never waits that long).
        let (_, stuck) = await Future.wait([job], timeout: .seconds(30))
        guard stuck.isEmpty else {
            Issue.record("shutdown() called from a job on the pool deadlocked")
            return
        }
        #expect(try await job.value == 7, "the job that shut its own pool down finishes")
        await expectSpindleError(.poolShutDown) { try await pool.submit { 1 }.value }
        await pool.shutdown()
        #expect(await eventually { threadCount(prefix: prefix) == 0 })
    }

    @Test func droppedPoolLetsItsThreadsExit() async throws {
        let prefix = "tpdrop"
        try await useAndDropPool(prefix: prefix, workers: 3)
        #expect(await eventually { threadCount(prefix: prefix) == 0 }, "\(threadCount(prefix: prefix)) threads left")
    }

    private func useAndDropPool(prefix: String, workers: Int) async throws {
        let pool = try ThreadPool(workers: workers, name: prefix)
        let barrier = BlockingBarrier(parties: workers)
        let futures = (0..<workers).map { _ in pool.submit { barrier.arriveAndWait() } }
        for future in futures { #expect(try await future.value) }
        #expect(threadCount(prefix: prefix) == workers, "every worker is up and named")
    }

    @Test func droppedPoolFinishesItsWorkInFlight() async throws {
        let prefix = "tpdropbusy"
        let gate = Future<Void>()
        let job = try startJobAndDropPool(prefix: prefix, gate: gate)
        gate.complete(with: .success(()))
        #expect(try await job.value.hasPrefix("\(prefix)-"), "the job ends on the dropped pool's thread")
        #expect(await eventually { threadCount(prefix: prefix) == 0 }, "\(threadCount(prefix: prefix)) threads left")
    }

    private func startJobAndDropPool(prefix: String, gate: Future<Void>) throws -> Future<String> {
        let pool = try ThreadPool(workers: 2, name: prefix)
        return pool.submit {
            try await gate.value
            return currentThreadName()
        }
    }
}

@Suite(.timeLimit(.minutes(3)))
struct ThreadPoolChunkingTests {
    /// On a thread of its own: a million ready results keep the loop from ever suspending.
    @Test func aMillionItemsAreFarFewerTasks() async throws {
        let pool = try ThreadPool(workers: 2, name: "tpchunks")
        let count = try await onOwnThread {
            var count = 0
            for try await _ in pool.map(Square(), 0..<bigMapItems(1_000_000)) { count += 1 }
            return count
        }
        #expect(count == bigMapItems(1_000_000))
        let tasks = pool.core.tasksSubmitted
        // Chunks aim at ~2 ms of work, so their number depends on how fast items run (a debug build
        // under ThreadSanitizer runs them ~100× slower than release); 20,000 leaves room for that
        // and still means chunks of 50 items and more.
        #expect(tasks < 20_000, "a million trivial items took \(tasks) queue operations")
        await pool.shutdown()
    }

    @Test func aForcedChunkSizeIsExact() async throws {
        let pool = try ThreadPool(workers: 2, name: "tpchunkf")
        #expect(try await pool.map(Square(), 0..<1_000, chunkSize: 7).collect().count == 1_000)
        #expect(pool.core.tasksSubmitted == 143, "1,000 items in chunks of 7 are 143 tasks")
        #expect(try await pool.map(Square(), 0..<10, chunkSize: 1 << 40).collect() == (0..<10).map { $0 * $0 })
        await pool.shutdown()
    }

    @Test func threadNamesKeepTheirIndex() {
        #expect(WorkerThread.name(prefix: "spindle", index: 3) == "spindle-3")
        #expect(WorkerThread.name(prefix: "averyverylongprefix", index: 12) == "averyverylon-12")
        #expect(WorkerThread.name(prefix: "pool", index: 4095).utf8.count <= 15)
    }
}
