internal import Glibc
internal import Spindle
internal import Synchronization

/// A server rank: runs the tasks its driver sends on worker processes of its own (a ``ProcessPool``
/// on this node), so that a job that crashes, exits or is killed fails alone, and this rank, the
/// MPI job and every other job carry on.
///
/// Tasks are relayed as they came, still encoded (``RelayedPoolTask``); their answers go back to the
/// driver, encoded by the worker, with the `started` notices in between, batched into one MPI message
/// per turn of the MPI thread.
final class MPIServer: @unchecked Sendable {
    // @unchecked Sendable: `tasks` and `stopping` are guarded by `state`; `pool` is set once, before
    // the hello that lets the driver send anything.

    private let cluster: MPICluster
    private let options: MPIPool.Options
    private var pool: ProcessPool?
    private let state = Mutex<(tasks: [UInt32: RelayedPoolTask], stopping: Bool, stopped: Bool)>(([:], false, false))
    private let place: String

    init(cluster: MPICluster, options: MPIPool.Options) {
        self.cluster = cluster
        self.options = options
        place = "rank \(cluster.rank) on \(cluster.host)"
    }

    /// Starts the worker processes and says hello to the driver, with their number or why they
    /// could not start.
    func start() {
        // A server keeps polling for the driver's messages, however idle (the 1), and counts the
        // tasks it holds, whose answers it awaits from its workers.
        cluster.engine.awaited.store(1, ordering: .relaxed)
        var failure = ""
        var workers = 0
        do {
            let pool = try ProcessPool(
                workers: options.workersPerRank ?? Self.defaultWorkers,
                options: options.processPool
            )
            self.pool = pool
            workers = pool.workerCount
        } catch {
            failure = "could not start its worker processes: \((error as? SpindleError)?.message ?? "\(error)")"
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
                    guard let pool, let task = state.withLock({ $0.tasks[sequence] }) else { return }
                    if onlyIfNotStarted { pool.cancelIfNotStarted(task) } else { pool.cancel(task) }
                }
            case .stop:
                if message.first == 1 { cluster.leaveWithoutFinalize() }
                state.withLock { $0.stopping = true }
                stopIfIdle()
            case .hello, .replies, .goodbye, .heartbeat:
                throw WireError("the driver sent a \(tag) message, which only servers send")
            }
        } catch {
            cluster.fail("the driver sent a malformed message: \(error)")
        }
    }

    private func run(_ frame: [UInt8], items: Int, timeout: Duration?) throws {
        let engine = cluster.engine
        let task = try RelayedPoolTask(
            frame: frame,
            items: items,
            timeout: timeout,
            place: place,
            started: { started in engine.append(to: 0, .replies) { $0.append(started) } },
            answer: { [self] answer in
                engine.append(to: 0, .replies, size: answer.count) { $0.append(answer) }
                answered(answer)
            }
        )
        state.withLock { $0.tasks[task.replySequence] = task }
        engine.awaited.add(1, ordering: .relaxed)
        guard let pool else {
            task.fail(SpindleError(.workerStartFailed, "\(place) has no worker processes"))
            return
        }
        pool.relay(task)
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
        let pool = self.pool
        Task.detached {
            await pool?.shutdown(.immediate)
            engine.signal(0, .goodbye)
            engine.requestStop()
        }
    }
}
