internal import Glibc

/// A pool of worker processes that run jobs: the Swift `ProcessPoolExecutor`, crash-isolated.
///
/// Each worker is this same program started again (or another executable you name), serving jobs
/// sent to it over a socket. A worker that crashes, leaks, hangs or grows too big takes nothing
/// else down: only the job it was running fails, with an error that names the signal or exit
/// status, and a fresh worker takes its place. A process can be killed, which a thread cannot, so
/// a per-task timeout or `Future.cancel()` really stops a runaway job.
///
/// The price is start-up (a few milliseconds per worker) and copying: jobs, inputs and outputs
/// are encoded, sent and decoded. In Swift, threads already run CPU-bound work in parallel (there
/// is no global interpreter lock), so choose a `ProcessPool` for isolation, not for speed.
///
/// ```swift
/// @main struct App {
///     static func main() async throws {
///         try await Spindle.bootstrap()            // in a worker: serve jobs, then exit
///         let pool = try ProcessPool(workers: 4)
///         for try await y in pool.map(Square(), 1...1_000) { print(y) }
///         let slow = pool.submit(Square(), 8, timeout: .seconds(2))   // killed and failed if late
///         await pool.shutdown()
///     }
/// }
/// ```
///
/// Only job types compiled into the worker's binary can run: a job travels as its type's name
/// and its encoded stored properties, and bytes from a socket never become code.
///
/// A pool dropped without ``shutdown(_:)`` shuts down gracefully by itself. Its workers exit when
/// the pool shuts down, and within a second if this process dies, even by SIGKILL.
public final class ProcessPool: Pool {
    /// How a ``ProcessPool`` starts and manages its workers.
    public struct Options: Sendable {
        /// The worker executable; `nil` (the default) starts this same program again
        /// (`/proc/self/exe`), whose `main` must call `Spindle.bootstrap()` first.
        public var executable: String?
        /// A default timeout for every task, unless a call gives its own.
        public var taskTimeout: Duration?
        /// Replace each worker after it has run this many jobs (map items), as Python's
        /// `max_tasks_per_child`: a cure for jobs that leak.
        public var maxJobsPerWorker: Int?
        /// Kill a worker whose resident memory of its own grows past this many bytes; the job it was
        /// running fails with ``SpindleError/Code/memoryLimitExceeded``. Checked every 10 ms. Shared
        /// memory it maps (a ``SharedArray`` from its caller) and its program's code do not count.
        public var memoryLimit: Int?
        /// Runs once in each worker before its first job, as Python's `initializer`. If it throws,
        /// the pool fails with ``SpindleError/Code/workerStartFailed``.
        public var initializer: (any WorkerInitializer)?
        /// Forward each worker's stdout and stderr to this process's, each line prefixed with
        /// `[worker N]`. On by default.
        public var forwardsOutput: Bool
        /// How long a new worker may take to answer before the pool gives up on it.
        public var handshakeTimeout: Duration
        /// Variables added to (or replacing) this process's environment in the workers, such as
        /// `OMP_NUM_THREADS=1` for a numeric library that would start a thread per core in each.
        public var environment: [String: String]
        /// Whether inputs and outputs with large arrays of numbers carry those arrays in shared
        /// memory beside the message (copied twice, not four times); off for a pool that relays
        /// its results onward as bytes, as an MPI rank does.
        package var spillsLargeArrays = true

        /// Options with every default.
        public init(
            executable: String? = nil,
            taskTimeout: Duration? = nil,
            maxJobsPerWorker: Int? = nil,
            memoryLimit: Int? = nil,
            initializer: (any WorkerInitializer)? = nil,
            forwardsOutput: Bool = true,
            handshakeTimeout: Duration = .seconds(5),
            environment: [String: String] = [:]
        ) {
            self.executable = executable
            self.taskTimeout = taskTimeout
            self.maxJobsPerWorker = maxJobsPerWorker
            self.memoryLimit = memoryLimit
            self.initializer = initializer
            self.forwardsOutput = forwardsOutput
            self.handshakeTimeout = handshakeTimeout
            self.environment = environment
        }
    }

    /// How many worker processes run jobs.
    public let workerCount: Int
    @usableFromInline let core: ProcessPoolCore
    @usableFromInline let taskTimeout: Duration?

    /// Starts `workers` worker processes.
    ///
    /// - Parameters:
    ///   - workers: how many processes; by default the CPUs this process may use (``AvailableCPUs``).
    ///   - options: the executable, timeouts, recycling, memory limit, initializer.
    /// - Throws: ``SpindleError/Code/invalidArgument`` for a worker count outside 1...1024 or a
    ///   limit below 1; ``SpindleError/Code/workerStartFailed`` when the executable cannot be
    ///   started, or when called in a worker process (a worker can never start a pool of its own).
    public init(workers: Int? = nil, options: Options = Options()) throws {
        guard !WorkerMain.isWorkerProcess else {
            throw SpindleError(
                .workerStartFailed,
                "this process is a ProcessPool worker, which cannot start a pool of its own: if this is your "
                    + "program's main, call `try await Spindle.bootstrap()` first"
            )
        }
        let count = workers ?? AvailableCPUs.count
        guard (1...1024).contains(count) else {
            throw SpindleError(.invalidArgument, "a ProcessPool needs 1 to 1024 workers, not \(count)")
        }
        if let limit = options.maxJobsPerWorker, limit < 1 {
            throw SpindleError(.invalidArgument, "maxJobsPerWorker must be at least 1, not \(limit)")
        }
        if let limit = options.memoryLimit, limit < 1 {
            throw SpindleError(.invalidArgument, "memoryLimit must be at least 1 byte, not \(limit)")
        }
        var initializerType = ""
        var initializer: [UInt8] = []
        if let value = options.initializer {
            guard let name = TypeNames.name(of: type(of: value)) else {
                throw SpindleError(.invalidArgument, "the initializer type \(type(of: value)) has no stable name")
            }
            initializerType = name
            do {
                try WireEncoder.encode(value, into: &initializer)
            } catch {
                throw SpindleError(.encodingFailed, "cannot encode the initializer \(type(of: value)): \(error)")
            }
        }
        workerCount = count
        taskTimeout = options.taskTimeout
        core = try ProcessPoolCore(
            configuration: .init(
                executable: options.executable ?? currentExecutablePath(),
                workers: count,
                maxJobsPerWorker: options.maxJobsPerWorker,
                memoryLimit: options.memoryLimit,
                initializerType: initializerType,
                initializer: initializer,
                forwardsOutput: options.forwardsOutput,
                handshakeTimeout: options.handshakeTimeout,
                environment: options.environment,
                spillsLargeArrays: options.spillsLargeArrays
            )
        )
    }

    /// Starts `workers` processes of `executable`, a program whose `main` calls `Spindle.bootstrap()`.
    public convenience init(workers: Int? = nil, executable: String) throws {
        try self.init(workers: workers, options: Options(executable: executable))
    }

    deinit {
        core.beginShutdown(.graceful)
    }

    // MARK: Pool

    /// Runs `job` on `input` in a worker process; see ``Pool/submit(_:_:timeout:)``. A late job's
    /// worker is killed (and replaced), and the future fails with ``SpindleError/Code/timedOut``.
    public func submit<J: Job>(_ job: J, _ input: J.Input, timeout: Duration?) -> Future<J.Output> {
        core.start(job, [input], timeout: timeout ?? taskTimeout) { outcome in
            if let failure = outcome.failure { return .failure(failure) }
            return .success(outcome.outputs[0])
        }
    }

    /// Runs `job` over every input in the worker processes; see ``Pool/map(_:_:options:)``.
    // Inlinable so that reading the inputs is specialised for the caller's sequence type.
    @inlinable
    public func map<J: Job, Inputs: Sequence>(
        _ job: J,
        _ inputs: Inputs,
        options: MapOptions
    ) -> MapResults<J.Output> where Inputs.Element == J.Input {
        core.map(job, inputs, options: options, taskTimeout: taskTimeout, workerCount: workerCount, keeping: self)
    }

    /// Runs `job` over `inputs`, in order, as one task in a worker process, with the pool's task
    /// timeout; the outcome carries the worker's CPU time. `encoded` is the job encoded once for
    /// many chunks.
    func runChunk<J: Job>(_ job: J, encoded: EncodedJob<J>?, _ inputs: [J.Input]) -> Future<ChunkOutcome<J.Output>> {
        core.start(job, encoded: encoded, inputs, timeout: taskTimeout) { .success($0) }
    }

    // MARK: Relaying encoded tasks

    /// Runs a task that arrived encoded (from an MPI driver) on a worker; it answers through its own
    /// callbacks, also when the pool has been shut down.
    package func relay(_ task: RelayedPoolTask) {
        core.submit(task)
    }

    /// Cancels a relayed task: one not yet begun never runs and answers `skipped`; a running one
    /// has its worker killed (and replaced) and answers with a cancellation.
    package func cancel(_ task: RelayedPoolTask) {
        cancelIfNotStarted(task)
        guard !task.isDone else { return }
        core.cancel(task)
    }

    /// Cancels a relayed task only if it has not started, nor become the first in its worker's
    /// line (which counts as running, and was announced so); it then answers `skipped`.
    package func cancelIfNotStarted(_ task: RelayedPoolTask) {
        switch core.cancelIfNotStarted(task) {
        case .inNoWorker:
            // Refused if it was ever first in a worker's line: its result may be on its way.
            task.cancelIfPending()
        case .claimed:
            task.skipUnbegun()
        case .running:
            break
        }
    }

    /// How long tasks have waited for a worker, which task waits longest now, and how busy each
    /// worker process is; see ``PoolStatistics``. Readable from any thread, at any time, also after
    /// shutdown.
    ///
    /// A worker holds up to a few tasks at a time and runs them in turn: a task starts, in the
    /// pool's eyes, when it becomes the first its worker holds and the worker has started up. A
    /// worker that died while running a task was busy until its death; the task, if it runs again,
    /// keeps the queue wait of its first start.
    public var statistics: PoolStatistics { core.statistics }

    /// Stops the pool and waits until every worker process has exited; see ``Pool/shutdown(_:)``.
    public func shutdown(_ mode: ShutdownMode) async {
        await core.shutdown(mode)
    }
}

/// Work done once in each worker process before its first job: loading a model, opening a
/// database. Like a ``Job``, it travels as a value and must be compiled into the worker.
///
/// ```swift
/// struct Warm: WorkerInitializer {
///     func initialize() async throws { try Model.loadShared() }
/// }
/// let pool = try ProcessPool(workers: 4, options: .init(initializer: Warm()))
/// ```
public protocol WorkerInitializer: Codable, Sendable {
    /// Prepares this worker process.
    func initialize() async throws
}
