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
final class ThreadPoolCore: TaskExecutor, @unchecked Sendable {
    // @unchecked Sendable because `state` is only touched with `lock` held.

    /// A job to run, and the executor identity it runs as (the public pool or this engine).
    struct WorkItem {
        let job: UnownedJob
        let executor: UnownedTaskExecutor
    }

    private let lock = ConditionLock()
    private var state = ThreadPoolState<WorkItem>()
    /// Set by an immediate shutdown: tasks that start after it are cancelled instead of run.
    private let cancellingQueued = Atomic(false)

    /// Starts `workers` named threads.
    ///
    /// - Throws: ``SpindleError/Code/systemError`` when a thread cannot be created; the threads
    ///   already started are stopped.
    init(workers: Int, name: String) throws(SpindleError) {
        for index in 0..<workers {
            lock.withLock { state.threadStarting() }
            do {
                try WorkerThread.start(serving: self, name: "\(name)-\(index)")
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
    ///   - timeout: when set, the future fails with ``SpindleError/Code/timedOut`` this long after
    ///     submission if the body has not finished, and the task is cancelled.
    ///   - body: the work; it runs only if the future is still pending when a worker reaches it.
    func start<T: Sendable>(
        timeout: Duration?,
        _ body: @escaping @Sendable () async throws -> T
    ) -> Future<T> {
        guard lock.withLock({ state.beginTask() }) else {
            return Future(completedWith: .failure(SpindleError.shutDown()))
        }
        let future = Future<T>()
        let task = Task(executorPreference: self) {
            defer { self.endTask() }
            if self.cancellingQueued.load(ordering: .relaxed) {
                future.cancel()
                return
            }
            guard future.markRunning() else { return }
            do {
                future.complete(with: .success(try await body()))
            } catch {
                future.complete(with: .failure(error))
            }
        }
        future.setCancelHandler { task.cancel() }
        if let timeout {
            runAfter(timeout) { [weak future] in
                future?.abandon(with: SpindleError.timedOut(after: timeout))
            }
        }
        return future
    }

    private func endTask() {
        let wakeAll = lock.withLock { state.endTask() }
        if wakeAll { lock.broadcast() }
    }

    // MARK: TaskExecutor

    func enqueue(_ job: consuming ExecutorJob) {
        push(UnownedJob(job), as: asUnownedTaskExecutor())
    }

    /// Queues a job to run on a worker as `executor`.
    func push(_ job: UnownedJob, as executor: UnownedTaskExecutor) {
        let action = lock.withLock { state.push(WorkItem(job: job, executor: executor)) }
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

    /// Stops accepting tasks; with `.immediate`, tasks that have not started are cancelled. Does not wait.
    func beginShutdown(_ mode: ShutdownMode) {
        if mode == .immediate { cancellingQueued.store(true, ordering: .relaxed) }
        let wakeAll = lock.withLock { state.shutdown() }
        if wakeAll { lock.broadcast() }
    }

    /// Shuts down and waits until every worker thread has exited.
    ///
    /// Called from a job running on this very pool it does not wait, since the pool could only stop
    /// once that job has returned; the threads then exit as soon as it has.
    func shutdown(_ mode: ShutdownMode) async {
        beginShutdown(mode)
        guard !WorkerThread.isServing(self) else { return }
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            let waiting = lock.withLock { state.addStopWaiter(continuation) }
            if !waiting { continuation.resume() }
        }
    }

    // MARK: The worker loop

    /// The body of every worker thread: run queued jobs, sleep when there are none, exit on stop.
    func serve() {
        lock.lock()
        while true {
            switch state.nextForWorker() {
            case .run(let item):
                lock.unlock()
                item.job.runSynchronously(on: item.executor)
                lock.lock()
            case .sleep:
                waitForWork()
                state.wokeUp()
            case .exit(let waiters):
                lock.unlock()
                for waiter in waiters { waiter.resume() }
                return
            }
        }
    }

    /// Where an idle worker sleeps; a stable name for profiles.
    @inline(never)
    private func waitForWork() {
        lock.wait()
    }
}
