import DequeModule

/// The state of a thread pool as a pure value: its queue, its phase, and its counters.
///
/// Every method is called with the pool's lock held and returns what to do once the lock is
/// released (wake a thread, resume waiters), so that the rules live here, free of threads, and the
/// locking lives in ``ThreadPoolCore``.
struct ThreadPoolState<Item> {
    /// Where the pool is in its life; it only ever moves forward.
    enum Phase: Equatable {
        /// Accepting submissions.
        case running
        /// Shut down: no new submissions; waiting for the tasks in flight to finish.
        case draining
        /// Nothing in flight: workers exit as soon as the queue is empty.
        case stopping
    }

    private(set) var phase = Phase.running
    private(set) var queue = Deque<Item>()
    /// Tasks submitted through the pool (futures) that have not finished yet.
    private(set) var inFlight = 0
    /// Tasks ever submitted: what a map's chunking saves shows here.
    private(set) var tasksSubmitted = 0
    /// Workers asleep on the condition variable.
    private(set) var idleThreads = 0
    /// Workers polling for work that no pushed item has claimed yet. Never more than actually spin:
    /// a push that counts on one of them takes it off this count.
    private(set) var spinningThreads = 0
    /// Workers running an item.
    private(set) var runningThreads = 0
    /// Workers whose job has just finished and that will look at the queue again without being
    /// woken; like spinners, a push may count on one of them.
    private(set) var returningThreads = 0
    /// An idle worker may poll only while fewer workers than this are running or polling; the
    /// others sleep straight away. Polling takes a CPU, and the thread that submits work and the
    /// workers that run it need theirs.
    let spinningBudget: Int
    private(set) var liveThreads = 0
    private var stopWaiters: [UnsafeContinuation<Void, Never>] = []

    /// - Parameter spinningBudget: see ``spinningBudget``; 0 means no worker ever polls.
    init(spinningBudget: Int = 1) {
        self.spinningBudget = spinningBudget
    }

    /// Counts a worker thread about to start.
    mutating func threadStarting() {
        liveThreads += 1
    }

    /// Takes back ``threadStarting()`` for a thread the system refused to create.
    mutating func threadFailedToStart() {
        liveThreads -= 1
    }

    /// What to do after ``push(_:)``.
    enum PushAction: Equatable {
        /// Signal one sleeping worker.
        case wakeOne
        /// A spinning or busy worker will find the item; nobody needs waking.
        case none
        /// Every worker has exited; the item was not queued and must run elsewhere.
        case runElsewhere
    }

    /// Queues `item` unless the workers are all gone.
    ///
    /// A spinning worker is counted on to take the item, and taken off the spinning count, so that
    /// the next push wakes a sleeper: a burst of items spreads over the workers instead of queueing
    /// behind the one that spins.
    ///
    /// - Complexity: O(1) amortised.
    mutating func push(_ item: Item) -> PushAction {
        guard liveThreads > 0 else { return .runElsewhere }
        queue.append(item)
        if spinningThreads > 0 {
            spinningThreads -= 1
            return .none
        }
        if returningThreads > 0 {
            returningThreads -= 1
            return .none
        }
        return idleThreads > 0 ? .wakeOne : .none
    }

    /// Counts a new task in flight; `false` once the pool has been shut down.
    mutating func beginTask() -> Bool {
        guard phase == .running else { return false }
        inFlight += 1
        tasksSubmitted += 1
        return true
    }

    /// Counts a task as finished. Returns `true` when this was the last one a shutdown waited for,
    /// so that every worker must be woken to exit.
    mutating func endTask() -> Bool {
        precondition(inFlight > 0, "endTask without beginTask")
        inFlight -= 1
        guard inFlight == 0, phase == .draining else { return false }
        phase = .stopping
        return true
    }

    /// Stops accepting tasks. Returns `true` when workers must be woken to exit.
    mutating func shutdown() -> Bool {
        guard phase == .running else { return false }
        phase = inFlight == 0 ? .stopping : .draining
        return phase == .stopping
    }

    /// What a worker does next.
    enum WorkerAction {
        case run(Item)
        /// Poll for work for a moment (the worker is counted as spinning), then call
        /// ``stoppedSpinning()`` and ask again.
        case spin
        /// Wait for a signal (the worker is counted as asleep), then call ``wokeUp()`` and ask again.
        case sleep
        /// Exit the thread, resuming these shutdown waiters (non-empty only for the last worker).
        case exit([UnsafeContinuation<Void, Never>])
    }

    /// Takes the next item for a worker, or tells it to spin, sleep or exit.
    ///
    /// - Parameter maySpin: whether the worker may poll; a worker that just polled in vain should sleep.
    mutating func nextForWorker(maySpin: Bool) -> WorkerAction {
        if let item = queue.popFirst() {
            runningThreads += 1
            return .run(item)
        }
        guard phase == .stopping else {
            if maySpin && spinningThreads + runningThreads < spinningBudget {
                spinningThreads += 1
                return .spin
            }
            idleThreads += 1
            return .sleep
        }
        liveThreads -= 1
        guard liveThreads == 0 else { return .exit([]) }
        defer { stopWaiters = [] }
        return .exit(stopWaiters)
    }

    /// Counts a worker whose job is about to finish (its future is about to complete) as one that
    /// will look at the queue again by itself. Call it only from a worker thread.
    mutating func workerReturning() {
        returningThreads += 1
    }

    /// Takes back ``WorkerAction/run(_:)`` (and ``workerReturning()``) once the worker is back.
    mutating func workerReturned() {
        runningThreads -= 1
        // As with spinners, the returning count only ever errs low.
        returningThreads = max(0, returningThreads - 1)
    }

    /// Takes back ``WorkerAction/spin`` unless a push already claimed this worker.
    mutating func stoppedSpinning() {
        // A push may have taken this worker off the count already; the count only ever errs low,
        // which costs at most a needless wake-up, never a lost item.
        spinningThreads = max(0, spinningThreads - 1)
    }

    /// Takes back ``WorkerAction/sleep`` once the worker woke.
    mutating func wokeUp() {
        idleThreads -= 1
    }

    /// Registers a task waiting for every worker to exit. Returns `false` when they already have.
    mutating func addStopWaiter(_ continuation: UnsafeContinuation<Void, Never>) -> Bool {
        guard liveThreads > 0 else { return false }
        stopWaiters.append(continuation)
        return true
    }
}
