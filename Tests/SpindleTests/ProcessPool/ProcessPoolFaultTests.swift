import Glibc
import PoolConformance
import Spindle
import Testing

/// What happens when jobs in worker processes crash, exit, run late, hog memory or break the wire:
/// only the job at fault fails, with an error that says why, and the pool carries on.
@Suite(.timeLimit(.minutes(5)))
struct ProcessPoolFaultTests {
    @Test(arguments: Death.allCases)
    func aDyingWorkerFailsOnlyItsJob(_ death: Death) async throws {
        let pool = try makeTestPool()
        let bystanders = (0..<20).map { pool.submit(Square(), $0) }
        let victim = pool.submit(Die(at: 7, by: death), 7)
        let error = await #expect(throws: SpindleError.self) { try await victim.value }
        #expect(error?.code == .workerDied)
        #expect(error?.message.contains("Die") == true, "the error names the job: \(String(describing: error))")
        if let expected = death.expectedTermination {
            #expect(error?.termination == expected)
        } else if case .signalled(let signal)? = error?.termination {
            #expect(signal == SIGTRAP || signal == SIGILL, "fatalError traps")
        } else {
            Issue.record("fatalError should end the worker by a signal: \(String(describing: error))")
        }
        for (input, bystander) in bystanders.enumerated() { #expect(try await bystander.value == input * input) }
        #expect(try await pool.submit(Square(), 9).value == 81, "the pool keeps going")
        await pool.shutdown()
    }

    @Test func aCrashInAChunkFailsOnlyTheCulprit() async throws {
        let pool = try makeTestPool()
        var outputs: [Int] = []
        let error = await #expect(throws: SpindleError.self) {
            for try await y in pool.map(Die(at: 500, by: .segfault), 0..<1_000, chunkSize: 1_000) { outputs.append(y) }
        }
        #expect(outputs == Array(0..<500), "every item before the culprit comes back, retried on a fresh worker")
        #expect(error?.termination == .signalled(SIGSEGV))
        let rest = try await pool.map(Die(at: -1, by: .segfault), 0..<1_000, chunkSize: 100).collect()
        #expect(rest == Array(0..<1_000))
        await pool.shutdown()
    }

    @Test func aLateJobIsKilledAndItsWorkerReplaced() async throws {
        let pool = try makeTestPool(workers: 1)
        let before = try await pool.submit(WorkerPID(), 0).value
        let start = ContinuousClock.now
        await expectSpindleError(.timedOut) { try await pool.submit(Busy(), 60_000, timeout: .milliseconds(200)).value }
        let elapsed = ContinuousClock.now - start
        // How soon past its timeout it fails (the issue promises ≤ 100 ms) is a speed, measured by
        // `spindle bench --only process-timeout`; here the bound only guards against a hang.
        #expect(elapsed >= .milliseconds(200) && elapsed < .seconds(60), "timed out after \(elapsed)")
        let after = try await pool.submit(WorkerPID(), 0).value
        #expect(after != before, "the late job's worker was killed and replaced")
        #expect(kill(before, 0) != 0, "the old worker is gone")
        await pool.shutdown()
    }

    @Test func aFinishedResultIsNotHeldBehindASlowTask() async throws {
        // One worker holds both tasks at once; the quick one's result must not wait for the slow one.
        let pool = try makeTestPool(workers: 1)
        let quick = pool.submit(Square(), 3)
        let slow = pool.submit(Busy(), 90_000)
        let (done, _) = await Future.wait([quick], until: .allCompleted, timeout: .seconds(30))
        #expect(done.count == 1, "the quick result waited for the slow task")
        #expect(try await quick.value == 9)
        slow.cancel()
        await pool.shutdown()
    }

    @Test func thePoolsDefaultTimeoutAppliesUnlessACallGivesItsOwn() async throws {
        let pool = try makeTestPool(workers: 1) { $0.taskTimeout = .milliseconds(100) }
        await expectSpindleError(.timedOut) { try await pool.submit(Busy(), 60_000).value }
        #expect(try await pool.submit(Busy(), 300, timeout: .seconds(60)).value == 300)
        await pool.shutdown()
    }

    @Test func cancellingARunningJobKillsItsWorker() async throws {
        let pool = try makeTestPool(workers: 1)
        let before = try await pool.submit(WorkerPID(), 0).value
        let started = FileGate()
        let running = pool.submit(AnnounceThenBlock(), started.path)
        while access(started.path, F_OK) != 0 { try await Task.sleep(for: .milliseconds(1)) }
        #expect(!running.cancel())
        await expectSpindleError(.cancelled) { try await running.value }
        #expect(try await pool.submit(WorkerPID(), 0).value != before)
        await pool.shutdown()
    }

    @Test func errorsComeBackAsThemselvesOrAsText() async throws {
        let pool = try makeTestPool()
        await #expect(throws: ConformanceFailure(input: 3)) { try await pool.submit(FailAt(failing: 3), 3).value }
        let error = await #expect(throws: SpindleError.self) { try await pool.submit(ThrowPlain(), "no disk").value }
        #expect(error?.code == .jobFailed)
        #expect(error?.message.contains("PlainError") == true)
        #expect(error?.message.contains("plain failure: no disk") == true)
        #expect(error?.message.contains("ThrowPlain") == true)
        await pool.shutdown()
    }

    @Test func valuesThatCannotBeEncodedFailTheirFutureOnly() async throws {
        let pool = try makeTestPool()
        await expectSpindleError(.encodingFailed) {
            try await pool.submit(TakeFragile(), Fragile(poisoned: true)).value
        }
        await expectSpindleError(.encodingFailed) { try await pool.submit(MakeFragile(), true).value }
        #expect(try await pool.submit(MakeFragile(), false).value == Fragile(poisoned: false))
        #expect(try await pool.submit(TakeFragile(), Fragile(poisoned: false)).value == false)
        await pool.shutdown()
    }

    @Test func aGarbledStreamIsAProtocolErrorAndTheWorkerIsReplaced() async throws {
        let pool = try makeTestPool(workers: 1)
        await expectSpindleError(.protocolError) { try await pool.submit(Garble(), 0).value }
        #expect(try await pool.submit(Square(), 4).value == 16)
        await pool.shutdown()
    }

    @Test func workersAreRecycledAfterTheirJobs() async throws {
        let pool = try makeTestPool(workers: 1) { $0.maxJobsPerWorker = 3 }
        var pids: [Int32] = []
        for _ in 0..<9 { pids.append(try await pool.submit(WorkerPID(), 0).value) }
        #expect(Set(pids).count == 3, "three workers ran three jobs each: \(pids)")
        await pool.shutdown()
    }

    @Test func theInitializerRunsInEveryWorker() async throws {
        let pool = try makeTestPool { $0.initializer = MarkWorker(text: "warm") }
        let marks = try await pool.map(ReadMark(), 0..<100, chunkSize: 1).collect()
        #expect(marks == Array(repeating: "warm", count: 100))
        await pool.shutdown()
    }

    @Test func anInitializerThatThrowsFailsThePool() async throws {
        let pool = try makeTestPool { $0.initializer = MarkWorker(text: "", fails: true) }
        let error = await #expect(throws: SpindleError.self) { try await pool.submit(Square(), 2).value }
        #expect(error?.code == .workerStartFailed)
        #expect(error?.message.contains("the initializer was told to fail") == true, "\(String(describing: error))")
        await pool.shutdown()
    }

    /// The first job in a worker's line counts as running as soon as it is there, even while the
    /// worker still starts up; an immediate shutdown must leave it to run, as it leaves every
    /// running job, and cancel only what waits behind it.
    @Test func anImmediateShutdownLetsTheJobAStartingWorkerHoldsRun() async throws {
        let gate = FileGate()
        let pool = try makeTestPool(workers: 1) {
            $0.initializer = AwaitFileFirst(path: gate.path)
            // The worker answers once its initializer returns: the test decides when.
            $0.handshakeTimeout = .seconds(600)
        }
        let first = pool.submit(Square(), 7)
        try await waitUntilRunning(first)
        let second = pool.submit(Square(), 8)
        let shutdown = Task { await pool.shutdown(.immediate) }
        await expectSpindleError(.cancelled) { try await second.value }
        #expect(first.state == .running, "left alone by the shutdown")
        gate.open()
        #expect(try await first.value == 49, "run once its worker started")
        await shutdown.value
    }

    @Test func aWorkerOverItsMemoryLimitIsKilled() async throws {
        let pool = try makeTestPool(workers: 1) { $0.memoryLimit = 64 << 20 }
        let error = await #expect(throws: SpindleError.self) { try await pool.submit(Hog(), 256).value }
        #expect(error?.code == .memoryLimitExceeded, "\(String(describing: error))")
        #expect(error?.message.contains("Hog") == true)
        #expect(try await pool.submit(Hog(), 8).value == 8, "a job within the limit runs")
        await pool.shutdown()
    }

    @Test func memoryAnEarlierJobFreedIsNotChargedToTheNext() async throws {
        let pool = try makeTestPool(workers: 1) { $0.memoryLimit = 128 << 20 }
        #expect(try await pool.submit(Churn(), 8).value == 8, "64 MiB used and freed")
        #expect(try await pool.submit(Hog(), 80).value == 80, "80 MiB fits once the 64 MiB went back")
        await pool.shutdown()
    }

    @Test func badOptionsAreRefused() {
        #expect(throws: SpindleError.self) { try makeTestPool(workers: 0) }
        #expect(throws: SpindleError.self) { try makeTestPool { $0.maxJobsPerWorker = 0 } }
        #expect(throws: SpindleError.self) { try makeTestPool { $0.memoryLimit = 0 } }
        let error = #expect(throws: SpindleError.self) { try makeTestPool { $0.executable = "/nonexistent/worker" } }
        #expect(error?.code == .workerStartFailed)
    }
}
