internal import DequeModule
internal import Spindle

/// The engine of an ``MPIPool`` on the driver (rank 0): the task queue, and the tasks out on each
/// server rank.
///
/// Load balancing is by credit, the way a rank asks for work when it has room: each rank holds at
/// most a few tasks per worker process (two for long tasks, more for short ones, so that a message's
/// round trip hides behind work), and every answer frees room for the next task in the queue. Tasks
/// leave under the lock, as records appended to the rank's next message; the MPI thread sends them.
///
/// A task's future stays pending until its server says a worker process has begun it (a `started`
/// frame), so cancelling a queued task, here or on a server, never runs it.
final class MPIDriverCore: PoolTaskQueue, @unchecked Sendable {
    // @unchecked Sendable: the mutable state is only touched with `lock` held.

    struct Rank {
        let number: Int32
        let host: String
        let workers: Int
        var inFlight: [UInt32: PoolTask] = [:]
        var tally: WorkerTally
    }

    private enum Phase {
        case running, draining, stopped
    }

    private let cluster: MPICluster
    private let lock = ConditionLock()
    private var phase = Phase.running
    private var pending: Deque<PoolTask> = []
    private var ranks: [Rank]
    /// How many tasks a rank holds per worker.
    private var depth = WorkerDepth()
    private var stopWaiters: [UnsafeContinuation<Void, Never>] = []
    private var lifetime = PoolLifetime()
    private var queueWait = DurationHistogram()
    private var tasksSubmitted = 0
    private var tasksStarted = 0
    /// Why the pool takes no more work although it runs: every rank was lost.
    private var brokenError: SpindleError?
    /// The figures of the ranks that were lost.
    private var lostRanks: [WorkerTally] = []

    /// The workers of the ranks still in the pool: a lost rank's are gone with it.
    var workerCount: Int { lock.withLock { liveWorkers } }

    /// ``workerCount``, with the lock held.
    private var liveWorkers: Int { ranks.reduce(0) { $0 + $1.workers } }

    init(cluster: MPICluster, servers: [MPICluster.Server]) {
        self.cluster = cluster
        let now = monotonicNanoseconds()
        ranks = servers.map {
            Rank(
                number: $0.rank,
                host: $0.host,
                workers: $0.workers,
                tally: WorkerTally(name: "rank \($0.rank) on \($0.host)", processID: $0.pid, startNanoseconds: now)
            )
        }
    }

    // MARK: Submitting

    /// Queues an encoded task, or fails it at once when the pool no longer takes work.
    func submit(_ task: PoolTask) {
        guard task.segments.isEmpty else {
            // A shared segment is memory of this machine; another rank may be on another machine.
            task.fail(
                SpindleError(
                    .encodingFailed,
                    "\(task.jobName) carries a SharedArray or another shared-memory value, which cannot cross to "
                        + "another MPI rank: send the data itself (an Array) instead"
                )
            )
            return
        }
        let refusal: SpindleError? = lock.withLock {
            if let brokenError { return brokenError }
            guard case .running = phase else { return SpindleError.shutDown() }
            pending.append(task)
            tasksSubmitted += 1
            dispatch()
            return nil
        }
        if let refusal { task.fail(refusal) }
    }

    /// Sends queued tasks to the ranks with the most room (lock held).
    private func dispatch() {
        let depth = self.depth.tasks
        while let task = pending.first {
            if task.isDone {
                pending.removeFirst()
                continue
            }
            var best: Int?
            var bestRoom = 0
            for index in ranks.indices {
                let room = ranks[index].workers * depth - ranks[index].inFlight.count
                if room > bestRoom {
                    best = index
                    bestRoom = room
                }
            }
            guard let index = best else { return }
            pending.removeFirst()
            let sequence = cluster.nextSequence()
            task.sequence = sequence
            TaskMessage.patchSequence(sequence, in: &task.frame)
            ranks[index].inFlight[sequence] = task
            cluster.engine.awaited.add(1, ordering: .relaxed)
            cluster.engine.append(to: ranks[index].number, .tasks, size: task.frame.count + TaskRecord.trailerSize) {
                TaskRecord.append(items: task.items, timeout: task.timeout, frame: task.frame, to: $0)
            }
            // A rank that is lost takes its tasks with it (MPI cannot give them back), so the bytes
            // are not kept for a second try.
            task.releasePayload()
        }
    }

    /// MPI messages carry bytes only: a task's arrays travel in it.
    var spillArea: SpillArea? { nil }

    /// Cancels a task whose future was cancelled: a queued one is dropped when its turn comes; one on
    /// a server is skipped there if not begun, or its worker process is killed.
    func cancel(_ task: PoolTask) {
        lock.withLock {
            for index in ranks.indices where ranks[index].inFlight[task.sequence] === task {
                cluster.engine.append(to: ranks[index].number, .cancels) {
                    CancelRecord.append(sequence: task.sequence, onlyIfNotStarted: false, to: $0)
                }
            }
        }
        task.fail(SpindleError.cancelled())
    }

    // MARK: Answers (the MPI thread)

    /// Takes the frames of a `replies` message from `rank`.
    func receiveReplies(_ message: [UInt8], from rank: Int32) {
        do {
            try forEachFrame(in: message) { kind, payload in
                switch kind {
                case .started:
                    let sequence = try SkippedMessage(decoding: payload).sequence
                    let task: PoolTask? = lock.withLock {
                        guard let index = index(of: rank), let task = ranks[index].inFlight[sequence] else {
                            return nil
                        }
                        ranks[index].tally.tasksStarted += 1
                        if !task.hasStarted {
                            task.hasStarted = true
                            tasksStarted += 1
                            queueWait.record(monotonicNanoseconds().saturatingSubtract(task.submittedNanoseconds))
                        }
                        return task
                    }
                    task?.markRunning()
                case .result:
                    let result = try ResultMessage(decoding: payload)
                    guard let task = finish(result.sequence, on: rank, busyNanoseconds: result.busyNanoseconds) else {
                        throw WireError("a result for task \(result.sequence), which rank \(rank) does not hold")
                    }
                    try task.complete(with: result, segments: nil)
                    lock.withLock { stopIfDrained() }
                case .skipped:
                    let sequence = try SkippedMessage(decoding: payload).sequence
                    guard let task = finish(sequence, on: rank, busyNanoseconds: nil) else {
                        throw WireError("a skip of task \(sequence), which rank \(rank) does not hold")
                    }
                    task.cancelIfPending()
                    task.fail(SpindleError.cancelled())
                    lock.withLock { stopIfDrained() }
                default:
                    throw WireError("a server sent a \(kind) frame")
                }
            }
        } catch {
            // A server of this same program sent what it cannot have meant: nothing more from it
            // can be trusted. The MPI job cannot go on without it.
            cluster.fail("rank \(rank) sent a malformed message: \(error)")
        }
    }

    private func index(of rank: Int32) -> Int? {
        ranks.firstIndex { $0.number == rank }
    }

    /// Takes an answered task off its rank and sends more work.
    private func finish(_ sequence: UInt32, on rank: Int32, busyNanoseconds: UInt64?) -> PoolTask? {
        lock.withLock {
            guard let index = index(of: rank), let task = ranks[index].inFlight.removeValue(forKey: sequence) else {
                return nil
            }
            cluster.engine.awaited.subtract(1, ordering: .relaxed)
            if let busyNanoseconds {
                ranks[index].tally.busyNanoseconds &+= busyNanoseconds
                depth.record(busyNanoseconds: busyNanoseconds)
            }
            dispatch()
            return task
        }
    }

    // MARK: Lost ranks (the MPI thread)

    /// Gives up the ranks in `silent` (with how long each has been silent): the tasks they hold
    /// fail with ``SpindleError/Code/rankLost``, and they get no more. When no rank is left, the
    /// pool takes no more work.
    func lose(_ silent: [(rank: Int32, nanoseconds: UInt64)]) {
        let failures: [(PoolTask, SpindleError)] = lock.withLock {
            var failures: [(PoolTask, SpindleError)] = []
            for (rank, quiet) in silent {
                guard let index = index(of: rank) else { continue }
                let lostRank = ranks.remove(at: index)
                cluster.engine.awaited.subtract(lostRank.inFlight.count, ordering: .relaxed)
                let seconds = Double(quiet / 1_000_000) / 1_000
                for task in lostRank.inFlight.values where !task.isDone {
                    let error = SpindleError(
                        .rankLost,
                        "rank \(rank) on \(lostRank.host) (pid \(lostRank.tally.processID ?? 0)) was lost while it held "
                            + "\(task.jobName): nothing was heard from it for \(seconds) s"
                    )
                    failures.append((task, error))
                }
                lostRanks.append(lostRank.tally)
            }
            if ranks.isEmpty {
                brokenError = SpindleError(.rankLost, "every server rank of the MPI job was lost")
                failures += pending.filter { !$0.isDone }.map { ($0, brokenError!) }
                pending.removeAll()
            }
            return failures
        }
        for (task, error) in failures { task.fail(error) }
        lock.withLock {
            dispatch()
            stopIfDrained()
        }
    }

    // MARK: Shutting down

    /// Stops taking work and waits until every task has been answered; with `.immediate`, queued
    /// work is cancelled first, here at once and on the servers within a round trip.
    func shutdown(_ mode: ShutdownMode) async {
        let cancelled: [PoolTask] = lock.withLock {
            if case .running = phase { phase = .draining }
            var cancelled: [PoolTask] = []
            if mode == .immediate {
                cancelled = Array(pending)
                pending.removeAll()
                for rank in ranks {
                    for sequence in rank.inFlight.keys.sorted() {
                        cluster.engine.append(to: rank.number, .cancels) {
                            CancelRecord.append(sequence: sequence, onlyIfNotStarted: true, to: $0)
                        }
                    }
                }
            }
            stopIfDrained()
            return cancelled
        }
        for task in cancelled {
            task.cancelIfPending()
            task.fail(SpindleError.cancelled())
        }
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            let stopped = lock.withLock {
                if case .stopped = phase { return true }
                stopWaiters.append(continuation)
                return false
            }
            if stopped { continuation.resume() }
        }
        cluster.release(self)
    }

    /// Once draining and nothing is left anywhere, stops and wakes those waiting (lock held). Called
    /// once an answered task's future is complete, so that a graceful shutdown returns after it.
    private func stopIfDrained() {
        guard case .draining = phase, ranks.allSatisfy({ $0.inFlight.isEmpty }), pending.allSatisfy(\.isDone) else {
            return
        }
        pending.removeAll()
        phase = .stopped
        let now = monotonicNanoseconds()
        lifetime.stopNanoseconds = now
        for index in ranks.indices { ranks[index].tally.exit(at: now) }
        for waiter in stopWaiters { waiter.resume() }
        stopWaiters.removeAll()
    }

    // MARK: Statistics

    var statistics: PoolStatistics {
        lock.withLock {
            let live = pending.filter { !$0.isDone }
            var running = 0
            var queued = live.count
            var longest = live.first
            for rank in ranks {
                for task in rank.inFlight.values where !task.isDone {
                    if task.hasStarted {
                        running += 1
                    } else {
                        queued += 1
                        if longest.map({ task.submittedNanoseconds < $0.submittedNanoseconds }) ?? true {
                            longest = task
                        }
                    }
                }
            }
            return PoolSnapshot(
                lifetime: lifetime,
                workerCount: liveWorkers,
                tasksSubmitted: tasksSubmitted,
                tasksQueued: queued,
                tasksRunning: running,
                queueWait: .sum(CollectionOfOne(queueWait)),
                longestWaiting: longest.map { ($0.label, $0.submittedNanoseconds) },
                workers: ranks.map(\.tally) + lostRanks
            )
        }.statistics
    }
}
