import Synchronization

/// The engine of a ``ThreadPool``: the work queue, its lock, and the worker threads' loop.
///
/// It is separate from the public `ThreadPool` so that the threads keep the engine alive, not the
/// pool: a pool the program drops without shutting it down is shut down gracefully by its
/// `deinit`, and its threads exit once the work in flight is done.
///
/// Every unit of work is a Swift task job (`UnownedJob`): `submit` creates a task whose executor
/// preference is this engine, so the job's whole async body, including what it resumes after a
/// suspension, runs on the pool's threads.
@usableFromInline
final class ThreadPoolCore: TaskExecutor, @unchecked Sendable {
    // @unchecked Sendable because `state` is only touched with `lock` held.

    /// A job to run, and the executor identity it runs as (the public pool or this engine).
    struct WorkItem {
        let job: UnownedJob
        let executor: UnownedTaskExecutor
        /// Set on the first job of a task submitted through ``start(timeout:label:_:)``: the job
        /// that starts the task. Jobs that resume a task, and other async code run on the pool as
        /// a `TaskExecutor`, have none.
        let submission: Submission?
    }

    /// A task as the statistics see it while it waits in the queue.
    struct Submission {
        let label: TaskLabel
        let submittedNanoseconds: UInt64
        /// Unowned, so that queueing costs no reference counting: ``unfinished`` holds the future
        /// until the task ends, which is after its first job has left the queue.
        unowned(unsafe) let future: any CancellableIfPending
    }

    private let lock = ConditionLock()
    private var state: ThreadPoolState<WorkItem>
    /// Items in `state.queue` that start a task; beside `state`, which the same threads write.
    private var tasksQueued = 0
    /// How many items are queued, readable without the lock, so that an idle worker can spin on it.
    private let queuedItems = Atomic(0)
    /// The futures of tasks submitted and not yet finished, so that an immediate shutdown can
    /// cancel those that have not started at once, rather than when a worker reaches them.
    private var unfinished: [ObjectIdentifier: any CancellableIfPending] = [:]
    private var lifetime = PoolLifetime()
    /// Each thread's figures for ``statistics``, in the order the threads started.
    private let workerFigures: [WorkerFigures]

    /// One thread's figures. Only that thread writes them (with the lock held), in an object of
    /// their own, so that threads keeping their figures do not write to the same cache lines.
    private final class WorkerFigures {
        var tally: WorkerTally
        /// Submission → start of the tasks this thread started.
        var queueWait = DurationHistogram()

        init(name: String, startNanoseconds: UInt64) {
            tally = WorkerTally(name: name, startNanoseconds: startNanoseconds)
        }
    }

    /// Starts `workers` named threads, on a machine where this process may use `cpus` CPUs.
    ///
    /// - Throws: ``SpindleError/Code/systemError`` when a thread cannot be created; the threads
    ///   already started are stopped.
    init(workers: Int, name: String, cpus: Int) throws(SpindleError) {
        // Poll only while a CPU is left over for the thread that submits: on 2 CPUs, one worker
        // polls while none runs. More pollers would take the CPU the busy threads need.
        state = ThreadPoolState(spinningBudget: max(1, cpus - 1))
        let names = (0..<workers).map { WorkerThread.name(prefix: name, index: $0) }
        workerFigures = names.map { [lifetime] in WorkerFigures(name: $0, startNanoseconds: lifetime.startNanoseconds) }
        for (index, threadName) in names.enumerated() {
            lock.withLock { state.threadStarting() }
            do {
                try WorkerThread.start(serving: self, index: index, name: threadName)
            } catch {
                lock.withLock { state.threadFailedToStart() }
                beginShutdown(.immediate)
                throw error
            }
        }
    }

    // MARK: Submitting

    /// Runs `body` as a task on the pool's threads and returns its future.
    ///
    /// - Parameters:
    ///   - timeout: when set, the future fails with ``SpindleError/Code/timedOut`` if the body has
    ///     not finished this long after it started, and the task is cancelled.
    ///   - label: what the statistics call the task while it waits.
    ///   - body: the work; it runs only if the future is still pending when a worker reaches it.
    @usableFromInline
    func start<T: Sendable>(
        timeout: Duration?,
        label: TaskLabel,
        _ body: @escaping @Sendable () async throws -> T
    ) -> Future<T> {
        let submitted = monotonicNanoseconds()
        let future = Future<T>()
        let accepted = lock.withLock {
            guard state.beginTask() else { return false }
            unfinished[ObjectIdentifier(future)] = future
            return true
        }
        guard accepted else {
            return Future(completedWith: .failure(SpindleError.shutDown()))
        }
        let submission = Submission(label: label, submittedNanoseconds: submitted, future: future)
        // Creating the task queues its first job through `push`, on this thread, before `Task`
        // returns: that job carries the submission.
        let task = WorkerThread.handingOver(submission) {
            Task(executorPreference: self) {
                guard future.markRunning() else {
                    self.endTask(future)
                    return
                }
                if let timeout {
                    let timer = OneShotTimer(after: timeout) { [weak future] in
                        future?.abandon(with: SpindleError.timedOut(after: timeout))
                    }
                    future.onComplete { _ in timer.cancel() }
                }
                let result: Result<T, any Error>
                do {
                    result = .success(try await body())
                } catch {
                    result = .failure(error)
                }
                // Bookkeeping first, completion last: the awaiting task may submit its next job the
                // moment the future completes, and this worker should by then count as coming back.
                self.endTask(future)
                future.complete(with: result)
            }
        }
        future.setCancelHandler { task.cancel() }
        return future
    }

    /// Whether the pool has been shut down (it may still be draining).
    var isShutDown: Bool { lock.withLock { state.phase != .running } }

    /// How many tasks were ever submitted to this pool.
    var tasksSubmitted: Int { lock.withLock { state.tasksSubmitted } }

    /// The figures of ``ThreadPool/statistics``.
    var statistics: PoolStatistics {
        lock.withLock {
            PoolSnapshot(
                lifetime: lifetime,
                workerCount: workerFigures.count,
                tasksSubmitted: state.tasksSubmitted,
                tasksQueued: tasksQueued,
                // Accepted, not ended, not queued: running, or (for a moment) on its way to the queue.
                tasksRunning: state.inFlight - tasksQueued,
                queueWait: .sum(workerFigures.lazy.map(\.queueWait)),
                longestWaiting: longestWaiting(),
                workers: workerFigures.map { $0.tally }
            )
        }.statistics
    }

    /// The queued task submitted first whose future is still pending (lock held).
    private func longestWaiting() -> (label: TaskLabel, submittedNanoseconds: UInt64)? {
        // The queue is in order of submission; cancelled tasks wait in it until a worker drops them.
        for item in state.queue {
            guard let submission = item.submission, !submission.future.isDone else { continue }
            return (submission.label, submission.submittedNanoseconds)
        }
        return nil
    }

    private func endTask(_ future: some CancellableIfPending) {
        let onWorker = WorkerThread.isServing(self)
        let wakeAll = lock.withLock {
            unfinished[ObjectIdentifier(future)] = nil
            if onWorker { state.workerReturning() }
            return state.endTask()
        }
        if wakeAll { lock.broadcast() }
    }

    // MARK: TaskExecutor

    @usableFromInline
    func enqueue(_ job: consuming ExecutorJob) {
        push(UnownedJob(job), as: asUnownedTaskExecutor())
    }

    /// Queues a job to run on a worker as `executor`.
    func push(_ job: UnownedJob, as executor: UnownedTaskExecutor) {
        let submission = WorkerThread.takeSubmission()
        let action = lock.withLock {
            let action = state.push(WorkItem(job: job, executor: executor, submission: submission))
            if action != .runElsewhere {
                queuedItems.add(1, ordering: .relaxed)
                if submission != nil { tasksQueued += 1 }
            }
            return action
        }
        switch action {
        case .wakeOne: lock.signal()
        case .none: break
        case .runElsewhere:
            // Every worker has exited (the pool was shut down), yet a task that prefers this pool
            // resumed. Running it on the global executor is the only way it can ever finish.
            globalConcurrentExecutor.enqueue(job)
        }
    }

    // MARK: Shutting down

    /// Stops accepting tasks; with `.immediate`, tasks that have not started are cancelled at once.
    /// Does not wait.
    func beginShutdown(_ mode: ShutdownMode) {
        let (wakeAll, unstarted) = lock.withLock {
            (state.shutdown(), mode == .immediate ? Array(unfinished.values) : [])
        }
        if wakeAll { lock.broadcast() }
        // Outside the lock: cancelling resumes awaiting tasks and runs callbacks, which may call
        // back into this pool.
        for future in unstarted { future.cancelIfPending() }
    }

    /// Shuts down and waits until every worker thread has exited.
    ///
    /// Called from one of this pool's own threads (a job, or code under
    /// `withTaskExecutorPreference(pool)`) it does not wait, since the pool could only stop once
    /// that very code has returned; the threads then exit as soon as it has.
    func shutdown(_ mode: ShutdownMode) async {
        beginShutdown(mode)
        guard !WorkerThread.isServing(self) else { return }
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            let waiting = lock.withLock { state.addStopWaiter(continuation) }
            if !waiting { continuation.resume() }
        }
    }

    // MARK: The worker loop

    /// How long an idle worker polls for new work before it sleeps.
    ///
    /// Waking a sleeping thread costs tens of microseconds on a virtual machine (the wake-up crosses
    /// the hypervisor), which would dominate a short job's round trip. Polling briefly first keeps a
    /// worker awake through the gap between one job and the next, as Go's scheduler and libdispatch
    /// do; the cost is bounded: at most this much CPU per transition to idle.
    static let spinNanoseconds: UInt64 = 50_000

    /// The body of worker thread number `index`: run queued jobs, wait when there are none, exit on stop.
    func serve(worker index: Int) {
        let figures = workerFigures[index]
        var maySpin = true
        // The worker's last reading of the clock, at the end of a job or of a wait: it is also when
        // the next job starts, so one reading per job times both the job and the next one's wait.
        var now = monotonicNanoseconds()
        lock.lock()
        while true {
            switch state.nextForWorker(maySpin: maySpin) {
            case .run(let item):
                queuedItems.subtract(1, ordering: .relaxed)
                if let submission = item.submission {
                    tasksQueued -= 1
                    // A task cancelled while it waited ends at once, without starting.
                    if !submission.future.isDone {
                        figures.queueWait.record(now.saturatingSubtract(submission.submittedNanoseconds))
                        figures.tally.tasksStarted += 1
                    }
                }
                figures.tally.beginStretch(at: now)
                lock.unlock()
                WorkerThread.countJob()
                item.job.runSynchronously(on: item.executor)
                now = monotonicNanoseconds()
                maySpin = true
                lock.lock()
                state.workerReturned()
                figures.tally.endStretch(at: now)
            case .spin:
                lock.unlock()
                now = spinForWork()
                maySpin = false
                lock.lock()
                state.stoppedSpinning()
            case .sleep:
                waitForWork()
                now = monotonicNanoseconds()
                state.wokeUp()
                maySpin = true
            case .exit(let waiters):
                now = monotonicNanoseconds()
                figures.tally.exit(at: now)
                if state.liveThreads == 0 { lifetime.stopNanoseconds = now }
                lock.unlock()
                for waiter in waiters { waiter.resume() }
                return
            }
        }
    }

    /// Polls the queue length for up to ``spinNanoseconds``; returns early when work appears.
    /// Returns its last reading of the clock, taken at most 64 polls before it returned.
    @inline(never)
    private func spinForWork() -> UInt64 {
        var now = monotonicNanoseconds()
        let deadline = now + Self.spinNanoseconds
        while true {
            for _ in 0..<64 where queuedItems.load(ordering: .relaxed) > 0 { return now }
            now = monotonicNanoseconds()
            if now >= deadline { return now }
        }
    }

    /// Where an idle worker sleeps; a stable name for profiles.
    @inline(never)
    private func waitForWork() {
        lock.wait()
    }
}
