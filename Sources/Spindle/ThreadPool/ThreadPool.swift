/// A pool of dedicated OS threads that run jobs and closures: the Swift `ThreadPoolExecutor`.
///
/// Threads share the program's memory, start in microseconds and need no serialisation, so a
/// thread pool is the right home for I/O-bound work (reading files, talking to a database) and
/// for CPU-bound work that needs no isolation. Unlike Python's threads, Swift's run truly in
/// parallel: there is no global lock, so CPU-bound jobs speed up with the number of cores.
///
/// The workers are dedicated threads, not Swift's cooperative pool: a job may block (a blocking
/// read, `usleep`, a lock) without starving the rest of the program. They are named `spindle-0`,
/// `spindle-1`, … so that `top -H` and profilers show them.
///
/// ```swift
/// let pool = try ThreadPool(workers: 8)
/// let sizes = pool.map(paths) { path in try fileSize(path) }     // closures work too
/// for try await size in sizes { total += size }
/// let answer = try await pool.submit { 6 * 7 }.value
/// await pool.shutdown()
/// ```
///
/// It is also a `TaskExecutor`: `Task(executorPreference: pool) { … }` and
/// `withTaskExecutorPreference(pool) { … }` run async code on its threads. Keep the pool alive
/// while such tasks run; once it has shut down, their remaining work runs on the global executor.
///
/// A pool that is dropped without ``shutdown(_:)`` shuts down gracefully by itself; its threads
/// exit once the work in flight is done and never keep the program from exiting.
public final class ThreadPool: Pool, TaskExecutor {
    /// How many threads the pool runs jobs on.
    public let workerCount: Int
    @usableFromInline let core: ThreadPoolCore

    /// Starts a pool of `workers` threads.
    ///
    /// - Parameters:
    ///   - workers: how many threads; by default the CPUs this process may use (``AvailableCPUs``).
    ///     For I/O-bound work, more threads than cores pay off.
    ///   - name: the threads' name prefix; Linux shows the first 15 bytes of "name-N".
    /// - Throws: ``SpindleError/Code/invalidArgument`` when `workers` is not in 1...4096, or
    ///   ``SpindleError/Code/systemError`` when the system refuses a thread.
    public init(workers: Int? = nil, name: String = "spindle") throws {
        // Read once: counting means reading /proc and the cgroup files.
        let cpus = AvailableCPUs.count
        let count = workers ?? cpus
        guard (1...4096).contains(count) else {
            throw SpindleError(.invalidArgument, "a ThreadPool needs 1 to 4096 workers, not \(count)")
        }
        workerCount = count
        core = try ThreadPoolCore(workers: count, name: name, cpus: cpus)
    }

    deinit {
        core.beginShutdown(.graceful)
    }

    // MARK: Pool

    /// Runs `job` on `input` on a worker thread; see ``Pool/submit(_:_:timeout:)``. A timeout fails the
    /// future and cancels the job cooperatively: a thread cannot be killed.
    public func submit<J: Job>(_ job: J, _ input: J.Input, timeout: Duration?) -> Future<J.Output> {
        core.start(timeout: timeout, label: TaskLabel(job: J.self)) { try await job.run(input) }
    }

    /// Runs `job` over every input on the pool's threads; see ``Pool/map(_:_:options:)``.
    @inlinable
    public func map<J: Job, Inputs: Sequence>(
        _ job: J,
        _ inputs: Inputs,
        options: MapOptions
    ) -> MapResults<J.Output> where Inputs.Element == J.Input {
        map(inputs, options: options, job: J.self) { try await job.run($0) }
    }

    /// How long tasks have waited for a thread, which task waits longest now, and how busy each
    /// thread is; see ``PoolStatistics``. Readable from any thread, at any time, also after shutdown.
    ///
    /// A task starts when a thread takes its first job off the queue; a task that suspends (in an
    /// `await`) keeps counting as running, but leaves its thread idle until it resumes.
    public var statistics: PoolStatistics { core.statistics }

    /// Stops the pool and waits for its threads to exit; see ``Pool/shutdown(_:)``.
    public func shutdown(_ mode: ShutdownMode) async {
        await core.shutdown(mode)
    }

    // MARK: Closures

    /// Runs `body` on a worker thread and returns its future: Python's `executor.submit(fn)`.
    ///
    /// - Parameters:
    ///   - timeout: when set, the future fails with ``SpindleError/Code/timedOut`` if `body` has not
    ///     finished this long after it started, and its task is cancelled (a thread cannot be
    ///     killed, so a body that never checks for cancellation runs on; use a ``ProcessPool`` for that).
    ///   - body: the work. It may block.
    public func submit<T: Sendable>(
        timeout: Duration? = nil,
        _ body: @escaping @Sendable () async throws -> T
    ) -> Future<T> {
        core.start(timeout: timeout, label: TaskLabel(closureReturning: T.self), body)
    }

    /// Runs `body` over every input and streams the outputs: Python's `executor.map(fn, iterable)`.
    ///
    /// Behaves exactly like ``Pool/map(_:_:options:)``: lazy input, bounded run-ahead, automatic
    /// chunking, errors at their position.
    @inlinable
    public func map<Inputs: Sequence, T: Sendable>(
        _ inputs: Inputs,
        order: MapOptions.Order = .input,
        chunkSize: Int? = nil,
        runAhead: Int? = nil,
        timeout: Duration? = nil,
        _ body: @escaping @Sendable (Inputs.Element) async throws -> T
    ) -> MapResults<T> where Inputs.Element: Sendable {
        let options = MapOptions(
            order: order,
            chunking: chunkSize.map { .fixed($0) } ?? .automatic,
            runAhead: runAhead,
            timeout: timeout
        )
        return map(inputs, options: options, body)
    }

    /// Runs `body` over every input with explicit ``MapOptions``.
    @inlinable
    public func map<Inputs: Sequence, T: Sendable>(
        _ inputs: Inputs,
        options: MapOptions,
        _ body: @escaping @Sendable (Inputs.Element) async throws -> T
    ) -> MapResults<T> where Inputs.Element: Sendable {
        map(inputs, options: options, job: nil, body)
    }

    /// The map behind the others; `job` names the tasks in the statistics (`nil` for a closure).
    @inlinable
    func map<Inputs: Sequence, T: Sendable>(
        _ inputs: Inputs,
        options: MapOptions,
        job: Any.Type?,
        _ body: @escaping @Sendable (Inputs.Element) async throws -> T
    ) -> MapResults<T> where Inputs.Element: Sendable {
        // The sequence holds the pool itself, not just its core: a pool that is only referenced by
        // a map still being consumed must not shut down under it.
        MapResults(inputs: inputs, options: options, workerCount: workerCount) { chunk, timeout in
            let label =
                job.map { TaskLabel(job: $0, items: chunk.count) }
                ?? TaskLabel(closureReturning: T.self, items: chunk.count)
            return self.core.start(timeout: timeout, label: label) { await ChunkOutcome.run(chunk, body) }
        }
    }

    // MARK: Chunks

    /// Whether ``shutdown(_:)`` has begun.
    package var isShutDown: Bool { core.isShutDown }

    /// Runs `body` over `inputs`, in order, on the calling thread (one of a pool's, for the CPU time
    /// to mean anything), and measures its CPU time exactly when the chunk ran through without
    /// suspending: a suspended chunk may resume on another thread, or let other work run on this
    /// one, so its CPU time is then left unknown.
    package static func runChunkHere<Input: Sendable, Output: Sendable>(
        _ inputs: [Input],
        _ body: (Input) async throws -> Output
    ) async -> ChunkOutcome<Output> {
        let stint = WorkerThread.Stint.now()
        var outcome = await ChunkOutcome.run(inputs, body)
        // One thread's CPU cannot outrun the clock; the readings' own cost can make it seem to.
        outcome.cpuNanoseconds = stint.cpuNanosecondsIfUninterrupted().map { min($0, outcome.busyNanoseconds) }
        return outcome
    }

    // MARK: TaskExecutor

    /// Runs a Swift task job on one of the pool's threads (the `TaskExecutor` requirement).
    public func enqueue(_ job: consuming ExecutorJob) {
        core.push(UnownedJob(job), as: asUnownedTaskExecutor())
    }
}
