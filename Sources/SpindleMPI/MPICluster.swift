internal import CMPI
internal import Glibc
internal import Spindle
internal import Synchronization

/// This process's part in an MPI job: its rank, the MPI thread, and either the driver's view of the
/// servers (rank 0) or the serving loop (every other rank). Made once per process: MPI can be
/// initialised only once.
final class MPICluster: @unchecked Sendable {
    // @unchecked Sendable: the mutable state is guarded by `lock`.

    /// A server rank as the driver knows it from its hello.
    struct Server: Sendable {
        var rank: Int32
        var pid: Int32
        var workers: Int
        var host: String
    }

    let engine = MPIEngine()
    let rank: Int32
    let size: Int32
    let host: String
    private let sequences = Atomic<UInt32>(0)
    private let lock = ConditionLock()
    private var servers: [Server] = []
    private var serverFailures: [String] = []
    private var helloWaiter: UnsafeContinuation<Void, Never>?
    private var goodbyes = 0
    /// When each server rank was last heard from (monotonic nanoseconds), on the driver.
    private var lastHeard: [Int32: UInt64] = [:]
    /// The server ranks given up for lost, on the driver.
    private var lost: Set<Int32> = []
    /// The MPI thread's own: when it last sent a heartbeat (servers) or looked for lost ranks (driver).
    private var lastBeat: UInt64 = 0
    /// The MPI thread's own, on the driver: when it last took a turn, to tell when it slept.
    private var lastTurn: UInt64 = 0
    /// How long a server rank may be silent before the driver gives it up for lost; heartbeats come
    /// every ``heartbeatNanoseconds``. Set by each pool the driver makes (``adopt(_:lostAfter:)``).
    private var lostAfter: UInt64 = 5_000_000_000

    /// How often a server says it is alive.
    static let heartbeatNanoseconds: UInt64 = 250_000_000
    private var ending = false
    private var finalized = false
    /// Set when a rank was lost: MPI_Finalize would wait for it for ever.
    private var leavesWithoutFinalize = false
    /// The pool that owns the servers now, on the driver; one at a time.
    private var driver: MPIDriverCore?
    /// The serving side, on a server rank.
    private var server: MPIServer?

    private static let shared = Locked<Result<MPICluster, SpindleError>?>(nil)

    private init(rank: Int32, size: Int32) {
        self.rank = rank
        self.size = size
        var name = [UInt8](repeating: 0, count: 256)
        gethostname(&name, name.count - 1)
        host = String(decoding: name.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// This process's cluster, started on first use: MPI initialised on a thread of its own.
    ///
    /// - Throws: ``SpindleError/Code/workerStartFailed`` when the program was not started by
    ///   `mpirun` (or `srun`), or with fewer than two ranks.
    static func joined() throws(SpindleError) -> MPICluster {
        let result = shared.withLock { shared -> Result<MPICluster, SpindleError> in
            if let shared { return shared }
            let result = Result { () throws(SpindleError) -> MPICluster in try start() }
            shared = result
            return result
        }
        return try result.get()
    }

    /// This process's cluster, if it has joined one.
    static var current: MPICluster? {
        guard case .success(let cluster)? = shared.withLock({ $0 }) else { return nil }
        return cluster
    }

    /// The servers, once the driver has heard from all of them.
    static var knownServers: [Server]? {
        guard let cluster = current, cluster.rank == 0 else { return nil }
        return cluster.lock.withLock {
            cluster.servers.count == Int(cluster.size) - 1 ? cluster.servers.sorted { $0.rank < $1.rank } : nil
        }
    }

    /// Whether a launcher started this process as a rank of an MPI job.
    static var isLaunchedByMPI: Bool {
        let markers = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"]
        return markers.contains { getenv($0) != nil }
    }

    private static func start() throws(SpindleError) -> MPICluster {
        guard isLaunchedByMPI else {
            throw SpindleError(
                .workerStartFailed,
                "MPIPool needs its program started by mpirun, one process per rank: for example "
                    + "`mpirun -n 3 \(currentExecutablePath())` runs a driver and 2 servers (Slurm: `srun -n 3 ...`)"
            )
        }
        let started = OneShotSignal<Result<MPICluster, SpindleError>>()
        try startDetachedThread(name: "spindle-mpi") {
            var provided: Int32 = 0
            guard spindle_mpi_init(&provided) == MPI_SUCCESS else {
                started.fire(.failure(SpindleError(.workerStartFailed, "MPI_Init_thread failed")))
                return
            }
            let cluster = MPICluster(rank: spindle_mpi_rank(), size: spindle_mpi_size())
            guard cluster.size >= 2 else {
                _ = spindle_mpi_finalize()
                started.fire(
                    .failure(
                        SpindleError(
                            .workerStartFailed,
                            "MPIPool needs at least 2 ranks, a driver and a server: `mpirun -n 3 ...`, not -n \(cluster.size)"
                        )
                    )
                )
                return
            }
            if cluster.rank == 0 { cluster.engine.awaited.store(Int(cluster.size) - 1, ordering: .relaxed) }
            started.fire(.success(cluster))
            cluster.engine.run(
                receive: { source, tag, message in cluster.receive(source, tag, message) },
                turn: { now in cluster.turn(now) }
            )
            // MPI_Finalize waits for every rank, a lost one too, for ever (Open MPI 4 has no fault
            // tolerance): once a rank was lost, the others leave without it.
            if !cluster.lock.withLock({ cluster.leavesWithoutFinalize }) { _ = spindle_mpi_finalize() }
            cluster.lock.withLock {
                cluster.finalized = true
                cluster.lock.broadcast()
            }
            // A server's life ends with the MPI job's.
            if cluster.rank != 0 { exit(0) }
        }
        let cluster = try started.wait(untilMonotonicNanoseconds: nil)!.get()
        if cluster.rank == 0 { atexit { MPICluster.endAtExit() } }
        return cluster
    }

    /// A sequence number for a task, unique in this process (never 0).
    func nextSequence() -> UInt32 {
        while true {
            let next = sequences.add(1, ordering: .relaxed).newValue
            if next != 0 { return next }
        }
    }

    // MARK: Messages (the MPI thread)

    private func receive(_ source: Int32, _ rawTag: Int32, _ message: consuming [UInt8]) {
        guard let tag = ClusterTag(rawValue: rawTag) else {
            fail("rank \(source) sent a message with the unknown tag \(rawTag)")
        }
        if rank != 0 {
            lock.withLock { server }?.receive(tag, consume message, from: source)
            return
        }
        let silent = lock.withLock {
            lastHeard[source] = monotonicNanoseconds()
            return lost.contains(source)
        }
        // A rank given up for lost that speaks again was only silent: its tasks have failed and it
        // gets no more. Its answers (for tasks it no longer holds) are dropped.
        if silent && tag != .goodbye { return }
        switch tag {
        case .heartbeat:
            break
        case .hello:
            let hello: Hello
            do {
                hello = try Hello(decoding: message)
            } catch {
                fail("rank \(source) sent a malformed hello: \(error)")
            }
            engine.awaited.subtract(1, ordering: .relaxed)
            lock.withLock {
                lastHeard[source] = monotonicNanoseconds()
                if hello.failure.isEmpty {
                    servers.append(Server(rank: source, pid: hello.pid, workers: hello.workers, host: hello.host))
                } else {
                    serverFailures.append("rank \(source) on \(hello.host) \(hello.failure)")
                }
                if servers.count + serverFailures.count == Int(size) - 1, let waiter = helloWaiter {
                    helloWaiter = nil
                    waiter.resume()
                }
            }
        case .replies:
            lock.withLock { driver }?.receiveReplies(message, from: source)
        case .goodbye:
            engine.awaited.subtract(1, ordering: .relaxed)
            lock.withLock {
                goodbyes += 1
                lock.broadcast()
            }
        case .tasks, .cancels, .stop:
            fail("rank \(source) sent the driver a \(tag) message, which only the driver sends")
        }
    }

    /// Ends the MPI job after a fault that leaves no way to go on safely.
    func fail(_ message: String) -> Never {
        let line = Array("spindle MPI rank \(rank): \(message); aborting the MPI job\n".utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        spindle_mpi_abort(70)
        exit(70)
    }

    /// Every turn of the MPI thread: a server says it is alive; the driver looks for ranks that
    /// went silent and fails what they held.
    private func turn(_ now: UInt64) {
        if rank != 0 {
            guard now &- lastBeat >= Self.heartbeatNanoseconds else { return }
            lastBeat = now
            engine.signal(0, .heartbeat)
            return
        }
        // With nothing out, the driver's MPI thread sleeps until there is something to send, and
        // hears no heartbeat meanwhile: a server cannot be judged for the time nobody listened.
        // Without this, every server of a driver idle for longer than `lostAfter` (a program doing
        // its own work between two maps) was given up for lost at its next task.
        let slept = lastTurn != 0 && now &- lastTurn > Self.heartbeatNanoseconds
        lastTurn = now
        if slept {
            lock.withLock {
                for rank in lastHeard.keys { lastHeard[rank] = now }
            }
        }
        guard now &- lastBeat >= 100_000_000 else { return }
        lastBeat = now
        let (silent, owner): ([(Int32, UInt64)], MPIDriverCore?) = lock.withLock {
            var silent: [(Int32, UInt64)] = []
            for (rank, heard) in lastHeard where !lost.contains(rank) && now &- heard > lostAfter {
                lost.insert(rank)
                silent.append((rank, now &- heard))
            }
            return (silent, driver)
        }
        guard !silent.isEmpty else { return }
        for (rank, _) in silent {
            let line = Array(
                "spindle MPI: rank \(rank) has been silent for \(lostAfter / 1_000_000_000) s and is given up for lost\n"
                    .utf8
            )
            _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        }
        owner?.lose(silent)
    }

    /// The server ranks given up for lost.
    var lostRanks: Set<Int32> { lock.withLock { lost } }

    /// On a server: the driver says a rank was lost, so this one leaves without MPI_Finalize.
    func leaveWithoutFinalize() {
        lock.withLock { leavesWithoutFinalize = true }
    }

    // MARK: Driver

    /// Waits for every server's hello, at most `timeout`.
    ///
    /// - Throws: ``SpindleError/Code/workerStartFailed`` naming the servers that could not start
    ///   their worker processes, or that did not answer in time.
    func awaitServers(timeout: Duration) async throws(SpindleError) -> [Server] {
        let deadline = monotonicNanoseconds() &+ timeout.clampedNanoseconds
        let timer = Task {
            try? await Task.sleep(for: timeout)
            lock.withLock {
                if let waiter = helloWaiter {
                    helloWaiter = nil
                    waiter.resume()
                }
            }
        }
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            let done = lock.withLock {
                if servers.count + serverFailures.count == Int(size) - 1 || monotonicNanoseconds() >= deadline {
                    return true
                }
                helloWaiter = continuation
                return false
            }
            if done { continuation.resume() }
        }
        timer.cancel()
        return try lock.withLock { () throws(SpindleError) -> [Server] in
            if !serverFailures.isEmpty {
                throw SpindleError(.workerStartFailed, serverFailures.sorted().joined(separator: "; "))
            }
            guard servers.count == Int(size) - 1 else {
                throw SpindleError(
                    .workerStartFailed,
                    "\(Int(size) - 1 - servers.count) of \(size - 1) server ranks did not answer within \(timeout): "
                        + "does every rank's main call `MPIPool.start()`?"
                )
            }
            return servers.sorted { $0.rank < $1.rank }
        }
    }

    /// Makes `core` the pool that owns the servers; `lostAfter` is how long a server may be silent.
    func adopt(_ core: MPIDriverCore, lostAfter: Duration) throws(SpindleError) {
        try lock.withLock { () throws(SpindleError) in
            self.lostAfter = max(Self.heartbeatNanoseconds * 4, lostAfter.clampedNanoseconds)
            guard !ending else { throw SpindleError.shutDown() }
            guard driver == nil else {
                throw SpindleError(
                    .invalidArgument,
                    "an MPIPool is already running on these servers: shut it down before making another"
                )
            }
            driver = core
        }
    }

    /// Lets the servers go to the next pool, once `core` has shut down.
    func release(_ core: MPIDriverCore) {
        lock.withLock {
            if driver === core { driver = nil }
        }
    }

    /// At the driver's exit: tells the servers to finish and leave, waits for their goodbyes, and
    /// finalises MPI, without which `mpirun` would call the job failed.
    private static func endAtExit() {
        current?.end()
    }

    private func end() {
        let live = lock.withLock { () -> [Int32] in
            ending = true
            return (1..<size).filter { !lost.contains($0) }
        }
        engine.awaited.add(live.count, ordering: .relaxed)
        let anyLost = lock.withLock { !lost.isEmpty }
        for server in live { engine.append(to: server, .stop) { $0.appendLittleEndian(UInt8(anyLost ? 1 : 0)) } }
        // A server stops the tasks it holds first; one that dies meanwhile is given up for lost.
        lock.withLock {
            while goodbyes < live.count - live.count(where: { lost.contains($0) }) {
                _ = lock.wait(untilMonotonicNanoseconds: monotonicNanoseconds() &+ 100_000_000)
            }
        }
        lock.withLock { leavesWithoutFinalize = !lost.isEmpty }
        engine.requestStop()
        let deadline = monotonicNanoseconds() &+ 5_000_000_000
        lock.withLock {
            while !finalized && monotonicNanoseconds() < deadline {
                _ = lock.wait(untilMonotonicNanoseconds: deadline)
            }
        }
    }

    // MARK: Server

    /// Serves the driver until it ends the job, then ends this process. Never returns.
    func serve(options: MPIPool.Options) async -> Never {
        let server = MPIServer(cluster: self, options: options)
        lock.withLock { self.server = server }
        server.start()
        await withUnsafeContinuation { (_: UnsafeContinuation<Void, Never>) in }
        fatalError("unreachable: a server rank exits when the MPI job ends")
    }
}
