internal import Glibc
internal import Spindle

/// A server rank: runs the tasks its driver sends, on worker processes of its own (a
/// ``ProcessPool`` on this node) so that a job that crashes, exits or is killed fails alone, and
/// this rank, the MPI job and every other job carry on; or, when the pool's options say so, on
/// threads of this process (``MPIPool/Options/Execution/rankThreads``).
///
/// With worker processes, tasks are relayed as they came, still encoded (``RelayedPoolTask``), and
/// their answers come back encoded by the worker. Either way the answers go to the driver with
/// `started` notices in between, batched into one MPI message per turn of the MPI thread.
final class MPIServer: @unchecked Sendable {
    // @unchecked Sendable: `tasks` and `stopping` are guarded by `state`; `runner` is set once,
    // before the hello that lets the driver send anything.

    /// Where this server runs its tasks.
    private enum Runner {
        case processes(ProcessPool)
        case threads(ThreadPool)
    }

    private let cluster: MPICluster
    private let options: MPIPool.Options
    private var runner: Runner?
    private let state = Locked<(tasks: [UInt32: any HeldTask], stopping: Bool, stopped: Bool)>(([:], false, false))
    private let place: String

    init(cluster: MPICluster, options: MPIPool.Options) {
        self.cluster = cluster
        self.options = options
        place = "rank \(cluster.rank) on \(cluster.host)"
    }

    /// Starts the worker processes (or threads) and says hello to the driver, with their number or
    /// why they could not start.
    func start() {
        // A server keeps polling for the driver's messages, however idle (the 1), and counts the
        // tasks it holds, whose answers it awaits from its workers.
        cluster.engine.awaited.store(1, ordering: .relaxed)
        var failure = ""
        var workers = 0
        let count = options.workersPerRank ?? Self.defaultWorkers
        do {
            switch options.execution {
            case .workerProcesses:
                // The workers' results go on to the driver as bytes, so their arrays stay in them.
                var poolOptions = options.processPool
                poolOptions.spillsLargeArrays = false
                let pool = try ProcessPool(workers: count, options: poolOptions)
                runner = .processes(pool)
                workers = pool.workerCount
            case .rankThreads:
                let threads = try ThreadPool(workers: count, name: "spindle-rank")
                runner = .threads(threads)
                workers = threads.workerCount
            }
        } catch {
            failure = "could not start its workers: \((error as? SpindleError)?.message ?? "\(error)")"
        }
        let hello = Hello(pid: getpid(), workers: workers, host: cluster.host, failure: failure).encoded()
        cluster.engine.append(to: 0, .hello) { $0.append(hello) }
    }

    /// The CPUs of this node shared among the ranks on it.
    private static var defaultWorkers: Int {
        let ranksHere = getenv("OMPI_COMM_WORLD_LOCAL_SIZE").flatMap { Int(String(cString: $0)) } ?? 1
        return max(1, AvailableCPUs.count / max(1, ranksHere))
    }

    /// Takes a message from the driver (the MPI thread).
    func receive(_ tag: ClusterTag, _ message: consuming [UInt8], from source: Int32) {
        guard source == 0 else { cluster.fail("rank \(source) sent a server a message; only the driver may") }
        do {
            switch tag {
            case .tasks:
                try TaskRecord.forEach(in: consume message) { items, timeout, frame in
                    try run(frame, items: items, timeout: timeout)
                }
            case .cancels:
                try CancelRecord.forEach(in: message) { sequence, onlyIfNotStarted in
                    guard let task = state.withLock({ $0.tasks[sequence] }) else { return }
                    if onlyIfNotStarted { task.cancelIfNotStarted() } else { task.cancel() }
                }
            case .stop:
                if message.first == 1 { cluster.leaveWithoutFinalize() }
                // The driver's program is ending, and nobody will read what the tasks still held
                // would give: they are stopped, not waited for (a runaway job would hold `mpirun`
                // for ever), as a ProcessPool's workers end with their parent. Each still answers,
                // and the last answer lets the server stop. (On the rank's own threads a job that
                // ignores cancellation runs to its end: a thread cannot be killed.)
                let held = state.withLock { state -> [any HeldTask] in
                    state.stopping = true
                    return Array(state.tasks.values)
                }
                for task in held { task.cancel() }
                stopIfIdle()
            case .hello, .replies, .goodbye, .heartbeat:
                throw WireError("the driver sent a \(tag) message, which only servers send")
            }
        } catch {
            cluster.fail("the driver sent a malformed message: \(error)")
        }
    }

    private func run(_ frame: [UInt8], items: Int, timeout: Duration?) throws {
        switch runner {
        case .processes(let pool)?:
            try relay(frame, items: items, timeout: timeout, to: pool)
        case .threads(let threads)?:
            try run(frame, timeout: timeout, on: threads)
        case nil:
            let sequence = try Self.sequence(of: frame)
            let failure = RemoteFailure(SpindleError(.workerStartFailed, "\(place) has no workers"))
            reply(TaskRunner.failureFrame(failure, sequence: sequence))
        }
    }

    /// Hands the task, still encoded, to a worker process.
    private func relay(_ frame: [UInt8], items: Int, timeout: Duration?, to pool: ProcessPool) throws {
        let task = try RelayedPoolTask(
            frame: frame,
            items: items,
            timeout: timeout,
            place: place,
            started: { [self] started in notify(started) },
            answer: { [self] answer in reply(answer) }
        )
        hold(Relayed(task: task, pool: pool), as: task.replySequence)
        pool.relay(task)
    }

    /// Runs the task on a thread of this process.
    private func run(_ frame: [UInt8], timeout: Duration?, on threads: ThreadPool) throws {
        let prepared = try frame.withUnsafeBytes { bytes throws(WireError) in
            let task = try TaskMessage(decoding: UnsafeRawBufferPointer(rebasing: bytes[Frame.headerSize...]))
            return TaskRunner.prepare(task, segments: nil)
        }
        let sequence = prepared.sequence
        let held = OnThreads()
        hold(held, as: sequence)
        let future = threads.submit(timeout: timeout) { [self] in
            var started: [UInt8] = []
            try? SkippedMessage(sequence: sequence).encode(into: &started, as: .started)
            notify(started)
            let answer = await prepared.run { _ in }
            var bytes: [UInt8] = []
            var segments: [SharedSegment] = []
            TaskRunner.encode(answer, sequence: sequence, jobType: prepared.jobType, into: &bytes, segments: &segments)
            guard segments.isEmpty else {
                let failure = RemoteFailure(
                    SpindleError(
                        .encodingFailed,
                        "the output of \(TypeNames.readable(prepared.jobType)) carries a SharedArray, which cannot cross to another MPI rank: return its values instead"
                    )
                )
                return TaskRunner.failureFrame(failure, sequence: sequence)
            }
            return bytes
        }
        held.future.withLock { $0 = future }
        future.onComplete { [self] result in
            switch result {
            case .success(let bytes):
                reply(bytes)
            case .failure where future.isCancelled:
                var skipped: [UInt8] = []
                try? SkippedMessage(sequence: sequence).encode(into: &skipped)
                reply(skipped)
            case .failure(let error):
                reply(TaskRunner.failureFrame(RemoteFailure(thrown: error), sequence: sequence))
            }
        }
    }

    /// The driver's sequence number of a task frame.
    private static func sequence(of frame: [UInt8]) throws(WireError) -> UInt32 {
        guard frame.count >= Frame.headerSize + 4 else { throw WireError("a task frame of \(frame.count) bytes") }
        return frame.withUnsafeBytes {
            UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: Frame.headerSize, as: UInt32.self))
        }
    }

    /// Holds a task until it is answered.
    private func hold(_ task: any HeldTask, as sequence: UInt32) {
        state.withLock { $0.tasks[sequence] = task }
        cluster.engine.awaited.add(1, ordering: .relaxed)
    }

    /// Tells the driver that a worker began a task.
    private func notify(_ started: [UInt8]) {
        cluster.engine.append(to: 0, .replies) { $0.append(started) }
    }

    /// Sends a task's answer to the driver, and lets the task go.
    private func reply(_ answer: [UInt8]) {
        cluster.engine.append(to: 0, .replies, size: answer.count) { $0.append(answer) }
        answered(answer)
    }

    /// Forgets the task an answer is for.
    private func answered(_ frame: [UInt8]) {
        let sequence = frame.withUnsafeBytes {
            UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: Frame.headerSize, as: UInt32.self))
        }
        let held = state.withLock { $0.tasks.removeValue(forKey: sequence) != nil }
        if held { cluster.engine.awaited.subtract(1, ordering: .relaxed) }
        stopIfIdle()
    }

    /// Once the driver has said stop and every task is answered: stops the worker processes, says
    /// goodbye, and lets the MPI thread finish (which finalises MPI and ends the process).
    private func stopIfIdle() {
        let stopNow = state.withLock { state -> Bool in
            guard state.stopping, state.tasks.isEmpty, !state.stopped else { return false }
            state.stopped = true
            return true
        }
        guard stopNow else { return }
        let engine = cluster.engine
        let runner = self.runner
        Task.detached {
            switch runner {
            case .processes(let pool)?: await pool.shutdown(.immediate)
            case .threads(let threads)?: await threads.shutdown(.immediate)
            case nil: break
            }
            engine.signal(0, .goodbye)
            engine.requestStop()
        }
    }
}

/// A task a server holds until it is answered, as the driver's cancellations reach it.
private protocol HeldTask: AnyObject, Sendable {
    /// Cancels it: a task not begun is skipped; a running one is stopped.
    func cancel()
    /// Cancels it only if no worker has begun it.
    func cancelIfNotStarted()
}

/// A task relayed to a worker process.
private final class Relayed: HeldTask {
    let task: RelayedPoolTask
    let pool: ProcessPool

    init(task: RelayedPoolTask, pool: ProcessPool) {
        self.task = task
        self.pool = pool
    }

    func cancel() { pool.cancel(task) }
    func cancelIfNotStarted() { pool.cancelIfNotStarted(task) }
}

/// A task run on a thread of the rank: cancelling it asks the job to stop (a thread cannot be killed).
private final class OnThreads: HeldTask {
    /// Set once the task is submitted, right after it is held.
    let future = Locked<Future<[UInt8]>?>(nil)

    func cancel() { _ = future.withLock { $0 }?.cancel() }
    func cancelIfNotStarted() { _ = future.withLock { $0 }?.cancelIfPending() }
}
