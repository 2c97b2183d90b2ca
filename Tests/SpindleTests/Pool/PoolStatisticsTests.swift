import PoolConformance
@testable import Spindle
import Synchronization
import Testing

/// A pool's own statistics, read while a worker is held and jobs queue behind it, then after the
/// work is done, and after shutdown. Each thread pool has its own name prefix, since tests run in
/// parallel in one process and the names show in the statistics.
@Suite(.timeLimit(.minutes(3)))
struct PoolStatisticsTests {
    // MARK: Both pools

    @Test func aHeldThreadShowsWhileTasksQueueBehindIt() async throws {
        let pool = try ThreadPool(workers: 1, name: "pshold")
        try await checkHeldWorker(of: pool, named: { $0 == "pshold-0" }) { await holdOnlyThread(of: pool) }
    }

    @Test func aHeldWorkerProcessShowsWhileTasksQueueBehindIt() async throws {
        let pool = try makeTestPool(workers: 1)
        let event = try ProcessEvent()
        let ready = try ProcessSemaphore(value: 0)
        let workerPID = Atomic<Int32>(0)
        try await checkHeldWorker(of: pool, named: { $0.hasPrefix("worker 0, pid ") }) {
            let blocker = pool.submit(AwaitEvent(event: event, ready: ready), 60)
            // Released by the job itself, in the worker, once it runs.
            try await ready.acquire(timeout: .seconds(120))
            return HeldWorker(
                release: { event.set() },
                finished: { workerPID.store(try await blocker.value, ordering: .relaxed) }
            )
        }
        let pid = workerPID.load(ordering: .relaxed)
        #expect(pool.statistics.workers.map(\.processID) == [pid], "the worker that ran the job")
        #expect(pool.statistics.workers.first?.name == "worker 0, pid \(pid)")
    }

    @Test func aMapCountsOneTaskPerChunk() async throws {
        let threads = try ThreadPool(workers: 2, name: "psmap")
        try await checkMapChunks(on: threads)
        let processes = try makeTestPool(workers: 2)
        try await checkMapChunks(on: processes)
    }

    @Test func statisticsReadOnOtherThreadsWhileThePoolWorksStayConsistent() async throws {
        let threads = try ThreadPool(workers: 2, name: "psread")
        try await checkReadsDuringWork(on: threads)
        let processes = try makeTestPool(workers: 2)
        try await checkReadsDuringWork(on: processes)
    }

    // MARK: ProcessPool

    @Test func aWorkerProcessThatDiedStaysListedBesideItsReplacement() async throws {
        let pool = try makeTestPool(workers: 1)
        let victim = await pool.submit(Die(at: 7, by: .exit3), 7).result
        #expect(spindleCode(victim.failure) == .workerDied)
        #expect(try await pool.submit(Square(), 3).value == 9, "run by the replacement")

        let statistics = pool.statistics
        expectAddsUp(statistics, tasks: 2)
        #expect(statistics.workers.map(\.hasExited) == [false, true], "the live worker first, then the dead one")
        #expect(statistics.workers.map(\.tasksStarted) == [1, 1])
        let (replacement, dead) = (statistics.workers[0], statistics.workers[1])
        #expect(replacement.processID != dead.processID)
        #expect(dead.runningFor == nil && dead.busy > .zero, "busy until it died running its job")
        await pool.shutdown()
        #expect(pool.statistics.workers.count == 1, "only as many exited workers as the pool has workers")
    }

    // MARK: ThreadPool

    @Test func queuedTasksAreNamedByJobClosureAndChunk() async throws {
        let pool = try ThreadPool(workers: 1, name: "psnames")
        let held = await holdOnlyThread(of: pool)

        let closure = pool.submit { 6 * 7 }
        #expect(pool.statistics.longestWaiting?.job == "closure returning Int")
        #expect(pool.statistics.longestWaiting?.items == 1)

        // A map submits its chunks when iteration starts, from the iterating task: no signal says
        // when, so the statistics are polled for them.
        let mapping = Task { try await pool.map(Square(), 0..<20, chunkSize: 5).collect() }
        #expect(await eventually { pool.statistics.tasksQueued == 5 })
        #expect(pool.statistics.longestWaiting?.job == "closure returning Int", "the closure was queued first")

        // A cancelled task stays in the queue until the worker drops it, but no longer waits.
        #expect(closure.cancel())
        let afterCancel = pool.statistics
        #expect(afterCancel.tasksQueued == 5)
        #expect(afterCancel.longestWaiting?.job == String(reflecting: Square.self))
        #expect(afterCancel.longestWaiting?.items == 5)

        held.release()
        try await held.finished()
        #expect(try await mapping.value == (0..<20).map { $0 * $0 })
        let done = pool.statistics
        #expect(done.tasksSubmitted == 6)
        #expect(done.tasksCompleted == 6)
        #expect(done.queueWait.count == 5, "the cancelled closure never started")
        #expect(done.workers.map(\.tasksStarted) == [5])
        await pool.shutdown()
    }
}

// MARK: Checks

/// A job that holds a pool's only worker until released.
struct HeldWorker {
    /// Lets the job return.
    let release: @Sendable () -> Void
    /// Awaits the job's end and checks its outcome.
    let finished: () async throws -> Void
}

/// Blocks the only thread of `pool` with a closure until released; returns once the closure runs.
private func holdOnlyThread(of pool: ThreadPool) async -> HeldWorker {
    let started = Latch()
    let release = OneShotSignal<Bool>()
    let blocker = pool.submit {
        started.open()
        // Ten minutes, longer than any test may take: ThreadSanitizer beside the whole suite once
        // kept a test from releasing its worker for more than the one minute this used to be.
        return release.wait(untilMonotonicNanoseconds: monotonicNanoseconds() + 600_000_000_000) ?? false
    }
    await started.wait()
    return HeldWorker(
        release: { release.fire(true) },
        finished: {
            let released = try await blocker.value
            #expect(released, "the closure was released, not timed out")
        }
    )
}

/// Runs one job on the only worker of `pool`, holds the worker with the job `hold` starts (and
/// returns once that job runs), queues three `Square` jobs behind it, and checks the statistics
/// while they wait, after they ran, and after shutdown. Shuts the pool down.
private func checkHeldWorker<P: Pool>(
    of pool: P,
    named isWorkerName: (String) -> Bool,
    hold: () async throws -> HeldWorker
) async throws {
    #expect(pool.workerCount == 1)
    // A job run to the end first: a worker process has then answered its handshake, so the pool
    // counts the next job as started when it sends it, before the job can release `hold`.
    #expect(try await pool.submit(Square(), 9).value == 81)
    let held = try await hold()
    let waiting = (0..<3).map { pool.submit(Square(), $0) }
    let heldFrom = monotonicNanoseconds()

    let first = pool.statistics
    #expect(first.workerCount == 1)
    #expect(first.tasksSubmitted == 5)
    #expect(first.tasksQueued == 3)
    #expect(first.tasksRunning == 1)
    #expect(first.tasksCompleted == 1)
    #expect(first.queueWait.count == 2, "the first job and the held one have started")
    let longest = try #require(first.longestWaiting)
    #expect(longest.job == String(reflecting: Square.self))
    #expect(longest.items == 1)
    let worker = try #require(first.workers.first)
    #expect(first.workers.count == 1)
    #expect(isWorkerName(worker.name), "\(worker.name)")
    #expect(worker.tasksStarted == 2)
    #expect(!worker.hasExited)
    let runningFor = try #require(worker.runningFor, "the held worker is busy")

    // Read again, the waits and the busy time have grown: the figures are live.
    let second = pool.statistics
    #expect(try #require(second.longestWaiting).waited > longest.waited)
    #expect(try #require(second.workers.first?.runningFor) > runningFor)
    #expect(try #require(second.workers.first).busy > worker.busy)
    #expect(second.lifetime > first.lifetime)
    #expect(second.tasksQueued == 3)

    let heldUntil = monotonicNanoseconds()
    held.release()
    try await held.finished()
    for (x, future) in waiting.enumerated() { #expect(try await future.value == x * x) }

    let done = pool.statistics
    expectAddsUp(done, tasks: 5)
    // The squares were queued before `heldFrom` and could only start once the held job ended,
    // after `heldUntil`; the worker ran the held job all that time.
    let heldFor = Duration.nanoseconds(Int64(heldUntil - heldFrom))
    #expect(done.queueWait.max >= heldFor, "\(done.queueWait)")
    let doneWorker = try #require(done.workers.first)
    #expect(doneWorker.tasksStarted == 5)
    #expect(doneWorker.busy >= heldFor)
    #expect(doneWorker.busyShare > 0 && doneWorker.busyShare <= 1)

    await pool.shutdown()
    let stopped = pool.statistics
    expectAddsUp(stopped, tasks: 5)
    #expect(!stopped.workers.isEmpty)
    #expect(stopped.workers.allSatisfy { $0.hasExited && $0.runningFor == nil })
    #expect(pool.statistics.lifetime == stopped.lifetime, "a pool that has stopped no longer ages")
    #expect(stopped.description.contains("longest waiting: none queued"), "\(stopped)")
}

/// Checks that a finished pool's figures add up for `tasks` tasks, all started and ended.
private func expectAddsUp(_ statistics: PoolStatistics, tasks: Int, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(statistics.tasksSubmitted == tasks, sourceLocation: sourceLocation)
    #expect(statistics.tasksQueued == 0, sourceLocation: sourceLocation)
    #expect(statistics.tasksRunning == 0, sourceLocation: sourceLocation)
    #expect(statistics.tasksCompleted == tasks, sourceLocation: sourceLocation)
    #expect(statistics.longestWaiting == nil, sourceLocation: sourceLocation)
    expectOrdered(statistics.queueWait, count: tasks, sourceLocation: sourceLocation)
    #expect(statistics.workers.map(\.tasksStarted).reduce(0, +) == tasks, sourceLocation: sourceLocation)
}

/// Checks that `wait` holds `count` durations and that its percentiles climb.
private func expectOrdered(_ wait: TimeDistribution, count: Int, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(wait.count == count, sourceLocation: sourceLocation)
    #expect(
        wait.p50 <= wait.p90 && wait.p90 <= wait.p99 && wait.p99 <= wait.max,
        "\(wait)",
        sourceLocation: sourceLocation
    )
}

/// Maps 100 items in chunks of 10 on `pool`: ten tasks. Shuts the pool down.
private func checkMapChunks<P: Pool>(on pool: P) async throws {
    let outputs = try await pool.map(Square(), 0..<100, chunkSize: 10).collect()
    #expect(outputs == (0..<100).map { $0 * $0 })
    expectAddsUp(pool.statistics, tasks: 10)
    await pool.shutdown()
}

/// Reads the statistics in a loop on a plain thread while `pool` runs a thousand tasks, and checks
/// that every reading is consistent and that none goes back. Shuts the pool down.
private func checkReadsDuringWork<P: Pool>(on pool: P) async throws {
    let stop = Atomic(false)
    let reading = Latch()
    let reader = Task {
        await onPlainThread { () -> (readings: Int, problems: [String]) in
            var readings = 0
            var problems: [String] = []
            var last = pool.statistics
            reading.open()
            while !stop.load(ordering: .acquiring) {
                let now = pool.statistics
                readings += 1
                if problems.count < 10, let problem = inconsistency(from: last, to: now) { problems.append(problem) }
                last = now
            }
            return (readings, problems)
        }
    }
    await reading.wait()
    let tasks = 1_000
    let futures = (0..<tasks).map { pool.submit(Square(), $0) }
    for (x, future) in futures.enumerated() { #expect(try await future.value == x * x) }
    stop.store(true, ordering: .releasing)
    let (readings, problems) = await reader.value
    #expect(readings > 0)
    #expect(problems.isEmpty, "\(problems)")
    expectAddsUp(pool.statistics, tasks: tasks)
    await pool.shutdown()
}

/// What is wrong with `now`, read after `before`: a count that went back, figures that do not add
/// up, or percentiles out of order; `nil` when nothing is.
private func inconsistency(from before: PoolStatistics, to now: PoolStatistics) -> String? {
    let wait = now.queueWait
    if now.tasksSubmitted < before.tasksSubmitted || now.tasksCompleted < before.tasksCompleted
        || wait.count < before.queueWait.count || now.lifetime < before.lifetime
    {
        return "went back:\n\(before)\nthen\n\(now)"
    }
    if now.tasksQueued < 0 || now.tasksRunning < 0
        || now.tasksQueued + now.tasksRunning + now.tasksCompleted != now.tasksSubmitted
        || wait.count > now.tasksSubmitted
    {
        return "does not add up: \(now)"
    }
    if !(wait.p50 <= wait.p90 && wait.p90 <= wait.p99 && wait.p99 <= wait.max) { return "percentiles: \(wait)" }
    return nil
}
