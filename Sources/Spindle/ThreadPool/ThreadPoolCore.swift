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
    }

    private let lock = ConditionLock()
    private var state: ThreadPoolState<WorkItem>
    /// How many items are queued, readable without the lock, so that an idle worker can spin on it.
    private let queuedItems = Atomic(0)
    /// The futures of tasks submitted and not yet finished, so that an immediate shutdown can
    /// cancel those that have not started at once, rather than when a worker reaches them.
    private var unfinished: [ObjectIdentifier: any CancellableIfPending] = [:]

    /// Starts `workers` named threads, on a machine where this process may use `cpus` CPUs.
    ///
    /// - Throws: ``SpindleError/Code/systemError`` when a thread cannot be created; the threads
    ///   already started are stopped.
    init(workers: Int, name: String, cpus: Int) throws(SpindleError) {
        // Poll only while a CPU is left over for the thread that submits: on 2 CPUs, one worker
        // polls while none runs. More pollers would take the CPU the busy threads need.
        state = ThreadPoolState(spinningBudget: max(1, cpus - 1))
        for index in 0..<workers {
            lock.withLock { state.threadStarting() }
            do {
                try WorkerThread.start(serving: self, name: WorkerThread.name(prefix: name, index: index))
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
    ///   - body: the work; it runs only if the future is still pending when a worker reaches it.
    @usableFromInline
    func start<T: Sendable>(
        timeout: Duration?,
        _ body: @escaping @Sendable () async throws -> T
    ) -> Future<T> {
        let future = Future<T>()
        let accepted = lock.withLock {
            guard state.beginTask() else { return false }
            unfinished[ObjectIdentifier(future)] = future
            return true
        }
        guard accepted else {
            return Future(completedWith: .failure(SpindleError.shutDown()))
        }
        let task = Task(executorPreference: self) {
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
        future.setCancelHandler { task.cancel() }
        return future
    }

    /// Whether the pool has been shut down (it may still be draining).
    var isShutDown: Bool { lock.withLock { state.phase != .running } }

    /// How many tasks were ever submitted to this pool.
    var tasksSubmitted: Int { lock.withLock { state.tasksSubmitted } }

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
        let action = lock.withLock {
            let action = state.push(WorkItem(job: job, executor: executor))
            if action != .runElsewhere { queuedItems.add(1, ordering: .relaxed) }
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

    /// The body of every worker thread: run queued jobs, wait when there are none, exit on stop.
    func serve() {
        var maySpin = true
        lock.lock()
        while true {
            switch state.nextForWorker(maySpin: maySpin) {
            case .run(let item):
                queuedItems.subtract(1, ordering: .relaxed)
                lock.unlock()
                WorkerThread.countJob()
                item.job.runSynchronously(on: item.executor)
                maySpin = true
                lock.lock()
                state.workerReturned()
            case .spin:
                lock.unlock()
                spinForWork()
                maySpin = false
                lock.lock()
                state.stoppedSpinning()
            case .sleep:
                waitForWork()
                state.wokeUp()
                maySpin = true
            case .exit(let waiters):
                lock.unlock()
                for waiter in waiters { waiter.resume() }
                return
            }
        }
    }

    /// Polls the queue length for up to ``spinNanoseconds``; returns early when work appears.
    @inline(never)
    private func spinForWork() {
        let deadline = monotonicNanoseconds() + Self.spinNanoseconds
        while true {
            for _ in 0..<64 where queuedItems.load(ordering: .relaxed) > 0 { return }
            if monotonicNanoseconds() >= deadline { return }
        }
    }

    /// Where an idle worker sleeps; a stable name for profiles.
    @inline(never)
    private func waitForWork() {
        lock.wait()
    }
}
