public import Spindle

/// The same ``Pool`` across machines: the ranks of an MPI job (Open MPI's `mpirun`, or Slurm's
/// `srun`), with rank 0 as the driver and every other rank serving jobs.
///
/// The program is launched once per rank, and one line at the top of `main` decides the roles:
///
/// ```swift
/// @main struct App {
///     static func main() async throws {
///         let pool = try await MPIPool.start()       // servers serve here, and never return
///         for try await y in pool.map(Square(), 1...1_000) { print(y) }
///         await pool.shutdown()
///     }
/// }
/// ```
///
/// ```
/// mpirun -n 3 .build/release/app          # a driver and 2 servers
/// ```
///
/// Jobs travel exactly as they do to a ``ProcessPool``: by type name, found in each rank's own copy
/// of the binary, in the same wire format, with the same errors. Each server rank runs its jobs in
/// worker processes of its own (a ``ProcessPool`` on its node), so a job that crashes, exits or is
/// killed by the OOM killer fails alone, with an error that names the cause, the rank and the host,
/// and the rank, the MPI job and every other job carry on.
///
/// Servers serve until the driver's program ends: then they stop the tasks they still hold (nobody
/// will read their results; with `.rankThreads` a job that ignores cancellation still runs to its
/// end), shut their workers down and leave, and every rank finalises MPI, so `mpirun` exits 0.
///
/// A ``SharedArray`` cannot cross to another rank, in a job or in its output (it is memory of one
/// machine): send arrays of values instead.
public final class MPIPool: Pool {
    /// How an ``MPIPool`` runs. Every rank calls ``start(options:)`` with the same options (it is the
    /// same program): the driver reads `taskTimeout`, `startTimeout` and `lostRankTimeout`, the servers
    /// the rest.
    public struct Options: Sendable {
        /// Where a server rank runs its jobs.
        public enum Execution: Sendable, Hashable {
            /// In worker processes of its own (a ``ProcessPool`` on its node): a job that crashes,
            /// exits or is killed fails alone, and a timeout or cancellation kills its worker. The
            /// default.
            case workerProcesses
            /// On threads of the rank process itself: no hop to a worker process, so a task costs
            /// less, but a job that crashes takes its rank down (and Open MPI 4 the whole MPI job
            /// with it), and a timeout or cancellation can only ask a job to stop.
            case rankThreads
        }

        /// Where each server rank runs its jobs: worker processes (the default) or its own threads.
        public var execution: Execution
        /// Worker processes (or threads) on each server rank; by default this node's CPUs divided
        /// among the ranks started on it (at least 1).
        public var workersPerRank: Int?
        /// The options of each server rank's ``ProcessPool``: its worker executable (by default this
        /// same program), recycling, memory limit, initializer, environment. Its task timeout is
        /// ignored; ``taskTimeout`` applies.
        public var processPool: ProcessPool.Options
        /// A default timeout for every task, unless a call gives its own. A late job's worker
        /// process is killed and replaced, as on a ``ProcessPool``.
        public var taskTimeout: Duration?
        /// How long the driver waits for every server to be ready.
        public var startTimeout: Duration
        /// How long a server rank may be silent (servers say they are alive 4 times a second)
        /// before the driver gives it up for lost: the tasks it holds fail with
        /// ``SpindleError/Code/rankLost`` and it gets no more. Open MPI 4 normally aborts the whole
        /// job when a rank dies; under `mpirun --enable-recovery` the others go on, and this is how
        /// the driver learns of the loss.
        public var lostRankTimeout: Duration

        /// Options with every default.
        public init(
            execution: Execution = .workerProcesses,
            workersPerRank: Int? = nil,
            processPool: ProcessPool.Options = ProcessPool.Options(),
            taskTimeout: Duration? = nil,
            startTimeout: Duration = .seconds(60),
            lostRankTimeout: Duration = .seconds(5)
        ) {
            self.execution = execution
            self.workersPerRank = workersPerRank
            self.processPool = processPool
            self.taskTimeout = taskTimeout
            self.startTimeout = startTimeout
            self.lostRankTimeout = lostRankTimeout
        }
    }

    /// How many worker processes run jobs, over all server ranks still in the pool: a rank that is
    /// lost takes its workers with it.
    public var workerCount: Int { core.workerCount }
    let core: MPIDriverCore
    let taskTimeout: Duration?
    /// The server ranks, as they said hello.
    let servers: [MPICluster.Server]

    /// Joins the MPI job and takes this rank's role: on rank 0 returns the pool, once every server is
    /// ready; on every other rank serves jobs until the driver's program ends, then ends the process
    /// (it never returns there). In a ``ProcessPool`` worker process, it serves that pool instead.
    ///
    /// - Throws: ``SpindleError/Code/workerStartFailed`` when the program was not started by `mpirun`
    ///   (the message says how to), with a single rank, or when a server could not start its worker
    ///   processes or did not answer within ``Options/startTimeout``.
    public static func start(options: Options = Options()) async throws -> MPIPool {
        await WorkerMain.serveIfWorker()
        let cluster = try MPICluster.joined()
        if cluster.rank != 0 { await cluster.serve(options: options) }
        let servers = try await cluster.awaitServers(timeout: options.startTimeout)
        return try MPIPool(cluster: cluster, servers: servers, options: options)
    }

    /// Another pool over the same servers, on the driver, once ``start(options:)`` has returned and
    /// the pool before has shut down (the servers serve one pool at a time).
    ///
    /// - Throws: ``SpindleError/Code/invalidArgument`` when another pool is still running, or when
    ///   called before ``start(options:)`` or on a server.
    public convenience init(options: Options = Options()) throws {
        let cluster = try MPICluster.joined()
        guard cluster.rank == 0 else {
            throw SpindleError(.invalidArgument, "only the driver (rank 0) makes pools; servers call MPIPool.start()")
        }
        guard let servers = MPICluster.knownServers else {
            throw SpindleError(.invalidArgument, "call `try await MPIPool.start()` first: it waits for the servers")
        }
        try self.init(cluster: cluster, servers: servers, options: options)
    }

    private init(cluster: MPICluster, servers: [MPICluster.Server], options: Options) throws {
        let lost = cluster.lostRanks
        let live = servers.filter { !lost.contains($0.rank) }
        guard !live.isEmpty else { throw SpindleError(.rankLost, "every server rank of the MPI job was lost") }
        let core = MPIDriverCore(cluster: cluster, servers: live)
        try cluster.adopt(core, lostAfter: options.lostRankTimeout)
        self.core = core
        self.servers = live
        taskTimeout = options.taskTimeout
    }

    /// This process's rank in the MPI job, once it has joined; `nil` before.
    public static var rank: Int? { MPICluster.current.map { Int($0.rank) } }

    /// Where each server rank runs: "rank 1 on node7 (pid 4242): 2 worker processes".
    public var serverDescriptions: [String] {
        servers.map { "rank \($0.rank) on \($0.host) (pid \($0.pid)): \($0.workers) worker processes" }
    }

    /// The process id of each server rank, in rank order (on their own hosts).
    public var serverProcessIDs: [Int32] { servers.map(\.pid) }

    // MARK: Pool

    /// Runs `job` on `input` in a worker process of some server rank; see ``Pool/submit(_:_:timeout:)``.
    public func submit<J: Job>(_ job: J, _ input: J.Input, timeout: Duration?) -> Future<J.Output> {
        core.start(job, [input], timeout: timeout ?? taskTimeout) { outcome in
            if let failure = outcome.failure { return .failure(failure) }
            return .success(outcome.outputs[0])
        }
    }

    /// Runs `job` over every input on the server ranks; see ``Pool/map(_:_:options:)``.
    public func map<J: Job, Inputs: Sequence>(
        _ job: J,
        _ inputs: Inputs,
        options: MapOptions
    ) -> MapResults<J.Output> where Inputs.Element == J.Input {
        core.map(job, inputs, options: options, taskTimeout: taskTimeout, workerCount: workerCount, keeping: self)
    }

    /// How long tasks waited before a worker began them, which waits longest now, and each server
    /// rank's tasks and busy time (as its workers measured it); see ``PoolStatistics``.
    public var statistics: PoolStatistics { core.statistics }

    /// Stops the pool and waits until every task sent to a server has been answered; see
    /// ``Pool/shutdown(_:)``. The servers stay, for another pool, until the driver's program ends.
    public func shutdown(_ mode: ShutdownMode) async {
        await core.shutdown(mode)
    }
}
