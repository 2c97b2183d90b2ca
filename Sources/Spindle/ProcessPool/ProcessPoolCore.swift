internal import CSpindle
internal import DequeModule
internal import Glibc
internal import HeapModule

/// The engine of a ``ProcessPool``: the task queue, the worker processes, and the supervisor thread
/// that talks to them.
///
/// Threads and what they do:
/// - Callers (`start`, `cancel`, `beginShutdown`) queue tasks and send them to workers with spare
///   capacity straight away, under the lock, so a task needs no thread hand-off to leave.
/// - The supervisor thread polls every worker's socket, output pipes and exit descriptor, plus an
///   eventfd for wake-ups. It reads results and completes futures, sends what the sockets would
///   not take at once, forwards the workers' output, reaps and replaces dead workers, enforces
///   timeouts, memory limits and the handshake deadline. It also starts every worker process, so
///   that a worker's parent-death signal (tied to the thread that started it) fires exactly when
///   the pool's last thread goes.
///
/// Crash bookkeeping relies on each worker's ``SharedPage``: it shows which task and item the
/// worker was running when it died, so that only that item fails and the rest is retried.
@usableFromInline
final class ProcessPoolCore: PoolTaskQueue, @unchecked Sendable {
    // @unchecked Sendable: the mutable state is only touched with `lock` held, except what the
    // supervisor thread alone uses (documented on each field).

    struct Configuration: Sendable {
        var executable: String
        var workers: Int
        var maxJobsPerWorker: Int?
        var memoryLimit: Int?
        var initializerType: String
        var initializer: [UInt8]
        var forwardsOutput: Bool
        var handshakeTimeout: Duration
        var environment: [String: String]
        /// Whether large arrays travel in shared memory beside the messages (``SpillArea``), both
        /// ways: not in a pool whose results are relayed onward as bytes.
        var spillsLargeArrays = true
    }

    private enum Phase {
        case running
        case draining
        case stopped
    }

    private struct Deadline: Comparable {
        let nanoseconds: UInt64
        let task: PoolTask
        static func < (a: Self, b: Self) -> Bool { a.nanoseconds < b.nanoseconds }
        static func == (a: Self, b: Self) -> Bool { a.nanoseconds == b.nanoseconds && a.task === b.task }
    }

    /// How long the supervisor polls before sleeping while workers hold tasks.
    static let spinNanoseconds: UInt64 = 30_000

    /// The environment variable that marks a worker process: "protocol version:parent pid".
    static let workerEnvironmentKey = "SPINDLE_WORKER"
    /// Set in a worker's environment when the pool has a memory limit: the worker then returns
    /// freed memory to the system, so that one job's freed blocks are not charged to the next.
    static let returnsMemoryEnvironmentKey = "SPINDLE_WORKER_RETURNS_MEMORY"

    let configuration: Configuration
    /// Where tasks put their inputs' large arrays.
    @usableFromInline let spillArea: SpillArea?
    /// Every worker's environment, made once: this process's, the configured additions and the mark.
    private let workerEnvironment: [String]
    private let lock = ConditionLock()
    private let wakeDescriptor: Int32

    // Guarded by `lock`.
    private var phase = Phase.running
    private var pending: Deque<PoolTask> = []
    private var workers: [WorkerProcess] = []
    private var deadlines = Heap<Deadline>()
    private var deadlinesAfterCompaction = 1_024
    private var brokenError: SpindleError?
    private var everReady = false
    private var consecutiveStartFailures = 0
    private var nextWorkerID = 0
    /// How many tasks a worker holds, learnt from how long tasks run.
    private var depth = WorkerDepth()
    /// When the supervisor will next wake by itself; a sooner deadline must wake it.
    private var plannedWakeup = UInt64.max
    private var stopWaiters: [UnsafeContinuation<Void, Never>] = []
    /// The figures behind ``statistics``; each live worker keeps its own in ``WorkerProcess/tally``.
    private var lifetime = PoolLifetime()
    /// Submission → start, one per task started.
    private var queueWait = DurationHistogram()
    private var tasksSubmitted = 0
    /// The figures of the workers that exited, the latest first; at most as many as the pool has workers.
    private var exitedWorkers: [WorkerTally] = []

    /// Starts the supervisor thread and the worker processes.
    ///
    /// - Throws: ``SpindleError/Code/workerStartFailed`` when the first workers cannot be started,
    ///   ``SpindleError/Code/systemError`` when a thread or descriptor cannot be made.
    init(configuration: Configuration) throws(SpindleError) {
        self.configuration = configuration
        spillArea = configuration.spillsLargeArrays ? SpillArea(reuse: .whenReleased) : nil
        var extra = configuration.environment
        if configuration.memoryLimit != nil { extra[Self.returnsMemoryEnvironmentKey] = "1" }
        workerEnvironment = Self.workerEnvironment(adding: extra)
        let fd = spindle_eventfd()
        guard fd >= 0 else { throw .system("eventfd") }
        wakeDescriptor = fd
        let started = OneShotSignal<SpindleError?>()
        do {
            try startDetachedThread(name: "spindle-procs") { [self] in
                let error: SpindleError? = lock.withLock { () -> SpindleError? in
                    do throws(SpindleError) {
                        try spawnMissingWorkers()
                        return nil
                    } catch {
                        phase = .stopped
                        return error
                    }
                }
                started.fire(error)
                if error == nil { superviseUntilStopped() }
                cleanUpAfterStop()
            }
        } catch {
            closeDescriptor(fd)
            throw error
        }
        if let error = started.wait(untilMonotonicNanoseconds: nil) ?? nil { throw error }
    }

    // MARK: Submitting

    /// Queues an encoded task, or fails it at once when the pool no longer takes work.
    @usableFromInline
    package func submit(_ task: PoolTask) {
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

    /// Where a task stood when ``cancelIfNotStarted(_:)`` looked.
    enum NotStartedCancel {
        /// In no worker: queued here (perhaps again, after its worker died), or answered, its
        /// result on the way to it. The caller may cancel it only if it is pending.
        case inNoWorker
        /// Claimed from its worker, which will skip it: the caller answers it.
        case claimed
        /// Begun, or first in its worker's line, which counts as running (see `start`): a caller
        /// may have seen it running already.
        case running
    }

    /// Makes sure a task that no worker has begun, and that is not first in a worker's line, never
    /// runs; says where it stood.
    func cancelIfNotStarted(_ task: PoolTask) -> NotStartedCancel {
        lock.withLock {
            guard let worker = task.worker else { return .inNoWorker }
            guard worker.inFlight.first !== task else { return .running }
            guard worker.killReason == nil else {
                return worker.page.state(of: task.sequence) != .started ? .claimed : .running
            }
            return worker.page.claim(task.sequence, as: .cancelled) ? .claimed : .running
        }
    }

    /// Stops a task whose future was cancelled or abandoned: a task still queued in a worker is
    /// marked so the worker skips it; a running one has its worker killed (and replaced).
    @usableFromInline
    package func cancel(_ task: PoolTask) {
        lock.withLock {
            // Queued here (perhaps again, after its worker died) or on a dying worker: failing the
            // future is enough; it is dropped when its turn comes.
            guard let worker = task.worker, worker.killReason == nil else { return }
            if worker.page.claim(task.sequence, as: .cancelled) { return }
            // Started: kill only if it is still the one running. Otherwise it has finished and its
            // result is on its way, and killing the worker would blame the next task.
            if worker.page.running.sequence == UInt64(task.sequence) {
                kill(worker, because: .cancel(task.sequence))
            }
        }
        task.fail(SpindleError.cancelled())
        // Done now, so never sent: a task still queued here lets go of its frame (and the shared
        // memory its arrays were lent) at once, not when its caller drops the future. One on a
        // worker does so when the worker answers or dies.
        lock.withLock { if task.worker == nil { task.releasePayload() } }
    }

    // MARK: Shutting down

    /// Stops taking work and lets the supervisor stop the workers once the work is done; with
    /// `.immediate`, work that has not started is cancelled first.
    func beginShutdown(_ mode: ShutdownMode) {
        let cancelled: [PoolTask] = lock.withLock {
            if case .running = phase { phase = .draining }
            var cancelled: [PoolTask] = []
            if mode == .immediate {
                cancelled = takePending()
                // The first task in a worker's line counts as running: it is left to run.
                for worker in workers {
                    for task in worker.waitingInLine where worker.page.claim(task.sequence, as: .cancelled) {
                        cancelled.append(task)
                    }
                }
            }
            wakeSupervisor()
            return cancelled
        }
        for task in cancelled {
            task.cancelIfPending()
            task.fail(SpindleError.cancelled())
        }
    }

    /// Shuts down and waits until every worker process has exited and been reaped.
    func shutdown(_ mode: ShutdownMode) async {
        beginShutdown(mode)
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            let stopped = lock.withLock {
                if case .stopped = phase { return true }
                stopWaiters.append(continuation)
                return false
            }
            if stopped { continuation.resume() }
        }
    }

    // MARK: Statistics

    /// The figures of ``ProcessPool/statistics``.
    var statistics: PoolStatistics {
        lock.withLock {
            // A worker runs the first task it holds once it has started up; the others wait behind
            // it, as do the pending.
            var queued = pending.count
            var running = 0
            var longest = firstWaiting(in: pending)
            for worker in workers where !worker.inFlight.isEmpty {
                let runs = worker.tally.runningSince != nil
                if runs { running += 1 }
                queued += worker.inFlight.count - (runs ? 1 : 0)
                if let waiting = firstWaiting(in: worker.inFlight.dropFirst(runs ? 1 : 0)),
                    longest.map({ waiting.submittedNanoseconds < $0.submittedNanoseconds }) ?? true
                {
                    longest = waiting
                }
            }
            return PoolSnapshot(
                lifetime: lifetime,
                workerCount: configuration.workers,
                tasksSubmitted: tasksSubmitted,
                tasksQueued: queued,
                tasksRunning: running,
                queueWait: .sum(CollectionOfOne(queueWait)),
                longestWaiting: longest.map { ($0.label, $0.submittedNanoseconds) },
                workers: workers.map { $0.tally } + exitedWorkers
            )
        }.statistics
    }

    /// The first task of `tasks`, a line in order of submission, whose future is still pending.
    private func firstWaiting(in tasks: some Sequence<PoolTask>) -> PoolTask? {
        tasks.first { !$0.isDone }
    }

    /// Wakes the supervisor from its poll (lock held).
    private func wakeSupervisor() {
        // Once stopped, the descriptor is closed, and its number may already be someone else's.
        if case .stopped = phase { return }
        var one: UInt64 = 1
        _ = write(wakeDescriptor, &one, 8)
    }

    // MARK: Dispatching (lock held)

    /// Tasks sent to workers and not yet answered.
    private var tasksInWorkers: Int { workers.reduce(0) { $0 + $1.inFlight.count } }

    /// Sends queued tasks to workers with spare capacity, least loaded first.
    private func dispatch() {
        guard !pending.isEmpty else { return }
        let depth = self.depth.tasks
        var touched: [WorkerProcess] = []
        while let task = pending.first {
            if task.isDone {
                pending.removeFirst().releasePayload()
                continue
            }
            var best: WorkerProcess?
            for worker in workers where worker.acceptsWork && worker.inFlight.count < depth {
                if best == nil || worker.inFlight.count < best!.inFlight.count { best = worker }
            }
            guard let worker = best else { break }
            pending.removeFirst()
            // A worker that already holds two tasks has one waiting in its socket: sending this
            // one can wait for the supervisor, which sends everything queued in one call when the
            // worker's next result comes in. One system call per task is what limits throughput.
            let sendNow = worker.inFlight.count < 2
            worker.enqueue(task)
            worker.page.pollsForNextTask = tasksInWorkers <= 1
            if worker.inFlight.count == 1 { start(task, at: monotonicNanoseconds()) }
            if let limit = configuration.maxJobsPerWorker, worker.itemsAssigned >= limit { worker.isRetiring = true }
            if sendNow && !touched.contains(where: { $0 === worker }) { touched.append(worker) }
        }
        var blocked = false
        for worker in touched {
            _ = worker.flush()
            if worker.hasUnsentFrames { blocked = true }
        }
        // A retiring worker needs a successor, and a full socket needs the supervisor to poll it.
        if blocked || touched.contains(where: { $0.isRetiring }) { wakeSupervisor() }
    }

    private func kill(_ worker: WorkerProcess, because reason: WorkerProcess.KillReason) {
        guard worker.killReason == nil else { return }
        worker.killReason = reason
        // Through the pidfd: after the worker has exited and been reaped, its pid may be another
        // process's already, while the pidfd still names the old one (and the signal fails).
        _ = spindle_pidfd_signal(worker.exitDescriptor, SIGKILL)
    }

    /// Shuts the sending side of idle workers that have no more work coming: they exit by themselves.
    private func closeIdleWorkers() {
        let draining = if case .draining = phase { pending.allSatisfy(\.isDone) } else { false }
        for worker in workers where !worker.isClosed && worker.inFlight.isEmpty && !worker.hasUnsentFrames {
            if draining || worker.isRetiring {
                worker.isClosed = true
                _ = Glibc.shutdown(worker.socket, Int32(SHUT_WR))
            }
        }
    }

    // MARK: Worker processes (supervisor thread, lock held)

    private var activeWorkers: Int { workers.count(where: \.acceptsWork) }

    private func spawnMissingWorkers() throws(SpindleError) {
        let wanted: Bool =
            switch phase {
            case .running: true
            case .draining: pending.contains { !$0.isDone }
            case .stopped: false
            }
        guard wanted, brokenError == nil, activeWorkers < configuration.workers else { return }
        while activeWorkers < configuration.workers {
            workers.append(try spawnWorker())
        }
        dispatch()
    }

    private func spawnWorker() throws(SpindleError) -> WorkerProcess {
        let id = nextWorkerID
        nextWorkerID += 1
        let page = try SharedPage(name: "spindle-worker-\(id)")
        let (parentSocket, childSocket) = try makeSocketPair()
        defer { closeDescriptor(childSocket) }
        var pipes: [(read: Int32, write: Int32)] = []
        defer { for pipe in pipes { closeDescriptor(pipe.write) } }
        do throws(SpindleError) {
            if configuration.forwardsOutput {
                pipes.append(try makePipe())
                pipes.append(try makePipe())
            }
            var descriptors: [(parent: Int32, child: Int32)] = [(childSocket, 3), (page.descriptor, 4)]
            for (index, pipe) in pipes.enumerated() { descriptors.append((pipe.write, Int32(index + 1))) }
            let pid = try ChildProcess.spawn(
                executable: configuration.executable,
                environment: workerEnvironment,
                descriptors: descriptors
            )
            let exitDescriptor: Int32
            do {
                exitDescriptor = try ChildProcess.exitDescriptor(of: pid)
            } catch {
                _ = Glibc.kill(pid, SIGKILL)
                ChildProcess.reap(pid)
                throw error
            }
            for pipe in pipes { setNonBlocking(pipe.read) }
            var bufferSize: Int32 = 4 << 20
            _ = setsockopt(parentSocket, SOL_SOCKET, SO_SNDBUF, &bufferSize, 4)
            _ = setsockopt(parentSocket, SOL_SOCKET, SO_RCVBUF, &bufferSize, 4)
            let worker = WorkerProcess(
                id: id,
                pid: pid,
                socket: parentSocket,
                exitDescriptor: exitDescriptor,
                outputs: pipes.map(\.read),
                page: page
            )
            var setup: [UInt8] = []
            do {
                try SetupMessage(
                    workerID: UInt32(id),
                    initializerType: configuration.initializerType,
                    initializer: configuration.initializer,
                    takesSpilledResults: configuration.spillsLargeArrays
                ).encode(into: &setup)
            } catch {
                preconditionFailure("a setup message fits in a frame: \(error)")
            }
            worker.queue(setup)
            _ = worker.flush()
            return worker
        } catch {
            closeDescriptor(parentSocket)
            for pipe in pipes { closeDescriptor(pipe.read) }
            throw error
        }
    }

    /// This process's environment with `extra` variables, plus the mark that makes
    /// `Spindle.bootstrap()` serve.
    private static func workerEnvironment(adding extra: [String: String]) -> [String] {
        var environment: [String] = []
        var entry = environ
        let replaced = Set(extra.keys).union([workerEnvironmentKey])
        while let pointer = entry.pointee {
            let variable = String(cString: pointer)
            let name = variable.prefix { $0 != "=" }
            if !replaced.contains(String(name)) { environment.append(variable) }
            entry += 1
        }
        for (name, value) in extra.sorted(by: { $0.key < $1.key }) { environment.append("\(name)=\(value)") }
        environment.append("\(workerEnvironmentKey)=\(wireProtocolVersion):\(getpid())")
        return environment
    }

    // MARK: The supervisor loop

    private func superviseUntilStopped() {
        var lastMemoryCheck = monotonicNanoseconds()
        var spin = false
        while true {
            // What to watch, and until when.
            var watched: [(fd: Int32, worker: WorkerProcess?, role: Role)] = [(wakeDescriptor, nil, .wake)]
            var events: [Int16] = [Int16(POLLIN)]
            let wakeup: UInt64 = lock.withLock {
                for worker in workers {
                    watched.append((worker.socket, worker, .socket))
                    events.append(Int16(POLLIN) | (worker.hasUnsentFrames ? Int16(POLLOUT) : 0))
                    for (index, fd) in worker.outputDescriptors.enumerated() where fd >= 0 {
                        watched.append((fd, worker, index == 0 ? .stdout : .stderr))
                        events.append(Int16(POLLIN))
                    }
                    watched.append((worker.exitDescriptor, worker, .exit))
                    events.append(Int16(POLLIN))
                }
                var wakeup = deadlines.min?.nanoseconds ?? .max
                for worker in workers where !worker.isReady && worker.killReason == nil {
                    wakeup = min(wakeup, worker.spawnedAt + configuration.handshakeTimeout.clampedNanoseconds)
                }
                if configuration.memoryLimit != nil && !workers.isEmpty {
                    wakeup = min(wakeup, lastMemoryCheck + 10_000_000)
                }
                plannedWakeup = wakeup
                // Only while a single task is out: with more, results come in a steady stream anyway,
                // and polling would take the CPU from the threads that produce and consume them.
                spin = tasksInWorkers == 1
                return wakeup
            }
            var pollDescriptors = zip(watched, events).map { pollfd(fd: $0.0.fd, events: $0.1, revents: 0) }
            // While workers hold tasks, poll without sleeping for a moment first: a result due within
            // microseconds is then read without the cost of waking this thread.
            var ready: Int32 = 0
            if spin {
                let spinUntil = monotonicNanoseconds() + Self.spinNanoseconds
                repeat {
                    ready = spindle_poll(&pollDescriptors, UInt(pollDescriptors.count), 0)
                    // Not in the way of a thread woken on this CPU: see the worker's poll.
                    if ready == 0 { sched_yield() }
                } while ready == 0 && monotonicNanoseconds() < spinUntil
            }
            if ready == 0 {
                let now = monotonicNanoseconds()
                let waitNanoseconds: Int64 =
                    wakeup == .max ? -1 : Int64(wakeup > now ? min(wakeup - now, 1 << 62) : 0)
                ready = spindle_poll(&pollDescriptors, UInt(pollDescriptors.count), waitNanoseconds)
            }
            if ready < 0 && errno != EINTR { preconditionFailure("ppoll failed: \(errno)") }

            var exited: [WorkerProcess] = []
            for (index, descriptor) in pollDescriptors.enumerated() where descriptor.revents != 0 {
                let (fd, worker, role) = watched[index]
                switch role {
                case .wake:
                    var count: UInt64 = 0
                    _ = read(fd, &count, 8)
                case .socket:
                    guard let worker else { continue }
                    if descriptor.revents & Int16(POLLOUT) != 0 { lock.withLock { _ = worker.flush() } }
                    if descriptor.revents & ~Int16(POLLOUT) != 0 { receive(from: worker) }
                case .stdout, .stderr:
                    if let worker { forwardOutput(of: worker, stream: role == .stdout ? 0 : 1) }
                case .exit:
                    if let worker { exited.append(worker) }
                }
            }
            for worker in exited { handleExit(of: worker) }
            expireDeadlines()
            if configuration.memoryLimit != nil, monotonicNanoseconds() >= lastMemoryCheck + 10_000_000 {
                lastMemoryCheck = monotonicNanoseconds()
                enforceMemoryLimit()
            }
            let stop: Bool = lock.withLock {
                for worker in workers where worker.hasUnsentFrames { _ = worker.flush() }
                enforceHandshakeDeadline()
                closeIdleWorkers()
                do throws(SpindleError) {
                    try spawnMissingWorkers()
                } catch {
                    breakPool(error)
                }
                if case .draining = phase, workers.isEmpty, pending.allSatisfy(\.isDone) { phase = .stopped }
                if case .stopped = phase { return true }
                return false
            }
            if stop { return }
        }
    }

    private enum Role: Equatable { case wake, socket, stdout, stderr, exit }

    /// After the loop: fails whatever is left, wakes those waiting for the stop.
    private func cleanUpAfterStop() {
        let (waiters, leftovers, survivors): ([UnsafeContinuation<Void, Never>], [PoolTask], [WorkerProcess]) =
            lock.withLock {
                phase = .stopped
                lifetime.stopNanoseconds = monotonicNanoseconds()
                closeDescriptor(wakeDescriptor)
                defer {
                    stopWaiters = []
                    workers = []
                }
                return (stopWaiters, takePending(), workers)
            }
        // No task can be encoded for this pool any more: its spill segments' memory goes now.
        spillArea?.trim(keepingFree: false)
        // Only when starting the pool failed part-way are workers left: stop and reap them.
        for worker in survivors {
            _ = spindle_pidfd_signal(worker.exitDescriptor, SIGKILL)
            ChildProcess.reap(worker.pid)
        }
        for task in leftovers { task.fail(brokenError ?? SpindleError.shutDown()) }
        for waiter in waiters { waiter.resume() }
    }

    /// Empties the queue and returns what it held.
    private func takePending() -> [PoolTask] {
        // Not `Array(pending)` on an empty deque: that writes into the shared empty-array storage,
        // which ThreadSanitizer reports as a race between two pools doing it at once.
        guard !pending.isEmpty else { return [] }
        defer { pending.removeAll() }
        // They are about to fail, and will never be sent.
        for task in pending { task.releasePayload() }
        return Array(pending)
    }

    /// Marks the pool unusable: every queued and future task fails with `error`.
    private func breakPool(_ error: SpindleError) {
        guard brokenError == nil else { return }
        brokenError = error
        let failed = takePending()
        if case .running = phase { phase = .draining }
        // Completing futures runs callers' callbacks, which must not find the lock held.
        lock.unlock()
        for task in failed { task.fail(error) }
        lock.lock()
    }

    // MARK: Receiving (supervisor thread)

    private func receive(from worker: WorkerProcess) {
        let received = worker.inbox.receive(from: worker.socket)
        if received == 0 {
            // End of stream: the worker is exiting; its exit descriptor says when it is gone.
            return
        }
        handleFrames(from: worker)
    }

    /// Reads everything a dead worker left in its socket and pipes.
    private func drain(_ worker: WorkerProcess) {
        setNonBlocking(worker.socket)
        while worker.inbox.receive(from: worker.socket) > 0 {
            handleFrames(from: worker)
        }
        for stream in 0..<worker.outputDescriptors.count { forwardOutput(of: worker, stream: stream) }
    }

    private func handleFrames(from worker: WorkerProcess) {
        while true {
            let frame: (kind: MessageKind, payload: UnsafeRawBufferPointer, segments: ReceivedSegments?)?
            do {
                frame = try worker.inbox.nextFrame()
            } catch {
                protocolViolation(by: worker, error.message)
                return
            }
            guard let (kind, payload, segments) = frame else { return }
            do throws(WireError) {
                switch kind {
                case .ready:
                    _ = try ReadyMessage(decoding: payload)
                    lock.withLock {
                        worker.isReady = true
                        everReady = true
                        consecutiveStartFailures = 0
                        // A task sent while the worker was starting starts only now.
                        if let first = worker.inFlight.first {
                            let now = monotonicNanoseconds()
                            noteStart(of: first, on: worker, at: now)
                            startTimeout(of: first, at: now)
                        }
                    }
                case .setupFailed:
                    let message = try SetupFailedMessage(decoding: payload)
                    lock.withLock { worker.setupFailure = message.reason }
                case .result:
                    let result = try ResultMessage(decoding: payload)
                    guard let task = finish(result.sequence, on: worker, busyNanoseconds: result.busyNanoseconds) else {
                        throw WireError("a result for task \(result.sequence), which the worker does not hold")
                    }
                    try task.complete(with: result, segments: segments)
                case .skipped:
                    let skipped = try SkippedMessage(decoding: payload)
                    guard let task = finish(skipped.sequence, on: worker, busyNanoseconds: nil) else {
                        throw WireError("a skip of task \(skipped.sequence), which the worker does not hold")
                    }
                    // A worker skips only what was cancelled; a skipped live task would wait for ever.
                    guard task.isDone else {
                        task.fail(
                            SpindleError(.protocolError, "the worker skipped \(task.jobName), which was not cancelled")
                        )
                        throw WireError("a skip of task \(skipped.sequence), which was not cancelled")
                    }
                case .setup, .task, .started:
                    throw WireError("a worker sent a \(kind) message, which only a pool sends")
                }
            } catch {
                protocolViolation(by: worker, error.message)
                return
            }
        }
    }

    /// Takes an answered task off its worker, starts the next one and sends more work.
    private func finish(_ sequence: UInt32, on worker: WorkerProcess, busyNanoseconds: UInt64?) -> PoolTask? {
        lock.withLock {
            guard let index = worker.inFlight.firstIndex(where: { $0.sequence == sequence }) else { return nil }
            let task = worker.inFlight.remove(at: index)
            task.worker = nil
            // Its frame and inputs only serve to send it again after a crash, which can no longer happen.
            task.releasePayload()
            // The task it was running is back: its busy stretch ends; the next task starts one.
            let now = monotonicNanoseconds()
            if index == 0 { worker.tally.endStretch(at: now) }
            if let busyNanoseconds { depth.record(busyNanoseconds: busyNanoseconds) }
            if let next = worker.inFlight.first { start(next, at: now) }
            dispatch()
            closeIdleWorkers()
            return task
        }
    }

    private func protocolViolation(by worker: WorkerProcess, _ message: String) {
        lock.withLock { kill(worker, because: .protocolError(message)) }
    }

    private func forwardOutput(of worker: WorkerProcess, stream: Int) {
        let fd = worker.outputDescriptors[stream]
        guard fd >= 0 else { return }
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { readRetrying(fd, $0.baseAddress!, $0.count) }
            if n > 0 {
                worker.partialLines[stream].append(contentsOf: buffer[..<n])
                emitLines(of: worker, stream: stream, flushPartial: false)
                continue
            }
            if n == 0 {
                emitLines(of: worker, stream: stream, flushPartial: true)
                closeDescriptor(fd)
                lock.withLock { worker.outputDescriptors[stream] = -1 }
            }
            return
        }
    }

    /// Writes the complete lines of a worker's output to this process's stdout or stderr, each
    /// prefixed with the worker's number.
    private func emitLines(of worker: WorkerProcess, stream: Int, flushPartial: Bool) {
        var text = worker.partialLines[stream]
        var out: [UInt8] = []
        let prefix = Array("[worker \(worker.id)] ".utf8)
        while let newline = text.firstIndex(of: UInt8(ascii: "\n")) {
            out += prefix
            out += text[...newline]
            text.removeSubrange(...newline)
        }
        if flushPartial && !text.isEmpty {
            out += prefix + text + [UInt8(ascii: "\n")]
            text = []
        }
        worker.partialLines[stream] = text
        guard !out.isEmpty else { return }
        out.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = write(Int32(stream + 1), bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                offset += n
            }
        }
    }

    /// Marks a task running, now that it is first in its worker's line, and, once its worker has
    /// started up, starts its timeout's clock: a timeout counts from the start of the job, never
    /// from time spent queued or waiting for a worker to start (the `.ready` message starts it
    /// then). Called with `lock` held; `now` is the time.
    private func start(_ task: PoolTask, at now: UInt64) {
        task.markRunning()
        guard let worker = task.worker, worker.isReady else { return }
        noteStart(of: task, on: worker, at: now)
        startTimeout(of: task, at: now)
    }

    /// Starts `task`'s timeout's clock at `now`, if it has a timeout. Lock held.
    private func startTimeout(of task: PoolTask, at now: UInt64) {
        guard let deadline = task.startClock(at: now) else { return }
        // Finished tasks stay in the heap until their deadline; with long timeouts on a big map
        // they would pile up, so the heap is rebuilt without them each time it doubles.
        if deadlines.count >= deadlinesAfterCompaction * 2 {
            deadlines = Heap(deadlines.unordered.filter { !$0.task.isDone })
            deadlinesAfterCompaction = max(1_024, deadlines.count)
        }
        deadlines.insert(Deadline(nanoseconds: deadline, task: task))
        if deadline < plannedWakeup { wakeSupervisor() }
    }

    /// Counts `task` as started on `worker`, which has begun to run it (or to skip it, if it was
    /// cancelled) at `now`: the end of its queue wait and the start of a busy stretch. Lock held.
    private func noteStart(of task: PoolTask, on worker: WorkerProcess, at now: UInt64) {
        guard worker.tally.runningSince == nil else { return }
        worker.tally.beginStretch(at: now)
        guard !task.isDone else { return }
        worker.tally.tasksStarted += 1
        // A task run again after its worker died waited once, before its first start.
        guard !task.hasStarted else { return }
        task.hasStarted = true
        queueWait.record(now.saturatingSubtract(task.submittedNanoseconds))
    }

    // MARK: Deaths, deadlines, limits (supervisor thread)

    private func handleExit(of worker: WorkerProcess) {
        drain(worker)
        let termination = ChildProcess.reap(worker.pid)
        let failures: [(PoolTask, any Error)] = lock.withLock {
            workers.removeAll { $0 === worker }
            worker.tally.exit(at: monotonicNanoseconds())
            exitedWorkers.insert(worker.tally, at: 0)
            if exitedWorkers.count > configuration.workers { exitedWorkers.removeLast() }
            var failures: [(PoolTask, any Error)] = []
            let (running, item) = worker.page.running
            // A worker that started a task got past its handshake, even if its "ready" was lost.
            let diedStarting =
                !worker.isReady && running == 0
                && worker.inFlight.allSatisfy {
                    worker.page.state(of: $0.sequence) != .started
                }
            if diedStarting, worker.killReason?.victim == nil {
                consecutiveStartFailures += 1
                if worker.setupFailure != nil || !everReady || consecutiveStartFailures >= 3 {
                    breakPool(startFailure(of: worker, termination))
                }
            }
            var retried: [PoolTask] = []
            for task in worker.inFlight {
                task.worker = nil
                if task.isDone {
                    task.releasePayload()
                    continue
                }
                if let brokenError {
                    failures.append((task, brokenError))
                } else if running != 0 && task.sequence == UInt32(truncatingIfNeeded: running)
                    && (worker.killReason?.victim).map({ $0 == task.sequence }) ?? true
                {
                    // The task it was running: its item `item` is the culprit.
                    let error = deathError(of: worker, termination, running: task)
                    if item > 0 && item < task.items, (try? task.retry(first: Int(item), thenFail: error)) != nil {
                        retried.append(task)
                    } else {
                        failures.append((task, error))
                    }
                } else {
                    // Not started yet, or finished with its result still unsent: not the culprit, so it
                    // runs again. The cap only guards against a worker that dies outside any job.
                    if worker.page.state(of: task.sequence) == .started { task.attempts += 1 }
                    if task.attempts >= 10 {
                        failures.append((task, deathError(of: worker, termination, running: task)))
                    } else {
                        retried.append(task)
                    }
                }
            }
            worker.inFlight.removeAll()
            // The failed will never be sent again.
            for (task, _) in failures { task.releasePayload() }
            for task in retried.reversed() { pending.prepend(task) }
            dispatch()
            return failures
        }
        for (task, error) in failures { task.fail(error) }
    }

    private func deathError(
        of worker: WorkerProcess,
        _ termination: SpindleError.Termination,
        running task: PoolTask
    ) -> SpindleError {
        let process = "worker \(worker.id) (pid \(worker.pid))"
        switch worker.killReason {
        case .memory(let resident):
            let limit = configuration.memoryLimit ?? 0
            return SpindleError(
                .memoryLimitExceeded,
                "\(process) running \(task.jobName) used \(mebibytes(resident)), over the pool's limit of "
                    + "\(mebibytes(limit)), and was killed"
            )
        case .protocolError(let message):
            return SpindleError(
                .protocolError,
                "\(process) running \(task.jobName) sent a malformed message: \(message)"
            )
        case .timeout:
            return SpindleError.timedOut(after: task.timeout ?? .zero)
        case .cancel:
            return SpindleError.cancelled()
        case .handshake, nil:
            return SpindleError(
                .workerDied,
                "\(process) running \(task.jobName) \(termination)",
                termination: termination
            )
        }
    }

    private func startFailure(of worker: WorkerProcess, _ termination: SpindleError.Termination) -> SpindleError {
        let executable = configuration.executable
        if let reason = worker.setupFailure {
            return SpindleError(.workerStartFailed, "worker \(worker.id) could not set up: \(reason)")
        }
        if case .handshake(let reason)? = worker.killReason {
            return SpindleError(
                .workerStartFailed,
                "the worker process \(executable) \(reason): does its main call `try await Spindle.bootstrap()` first?"
            )
        }
        return SpindleError(
            .workerStartFailed,
            "the worker process \(executable) \(termination) before its handshake: does its main call "
                + "`try await Spindle.bootstrap()` first? Its output, if any, is above, prefixed [worker \(worker.id)]"
        )
    }

    private func expireDeadlines() {
        let expired: [PoolTask] = lock.withLock {
            let now = monotonicNanoseconds()
            var expired: [PoolTask] = []
            while let first = deadlines.min, first.nanoseconds <= now {
                let task = deadlines.removeMin().task
                if task.isDone { continue }
                if let worker = task.worker, !worker.page.claim(task.sequence, as: .cancelled),
                    worker.page.running.sequence == UInt64(task.sequence)
                {
                    kill(worker, because: .timeout(task.sequence))
                }
                expired.append(task)
            }
            return expired
        }
        for task in expired { task.timeOut() }
    }

    private func enforceMemoryLimit() {
        guard let limit = configuration.memoryLimit else { return }
        let pids = lock.withLock { workers.map { ($0, $0.pid) } }
        for (worker, pid) in pids {
            if let resident = ChildProcess.privateResidentBytes(of: pid), resident > limit {
                lock.withLock { kill(worker, because: .memory(residentBytes: resident)) }
            }
        }
    }

    private func enforceHandshakeDeadline() {
        let now = monotonicNanoseconds()
        let limit = configuration.handshakeTimeout.clampedNanoseconds
        for worker in workers where !worker.isReady && worker.killReason == nil && now - worker.spawnedAt > limit {
            kill(worker, because: .handshake("did not answer within \(configuration.handshakeTimeout)"))
        }
    }
}

extension WorkerProcess {
    /// Whether new tasks may be sent to it.
    var acceptsWork: Bool { !isRetiring && !isClosed && killReason == nil }
}

private func mebibytes(_ bytes: Int) -> String {
    "\(bytes / (1 << 20)) MiB"
}
