/// What a pool has been doing, read while it runs: how long tasks wait in its queue before a worker
/// starts them, which task has waited longest so far, and how busy each worker is. Queue waits that
/// grow while every worker is busy mean the pool is too small for its load, or that a few long jobs
/// hold it: the workers' busy time and the longest-waiting task tell which.
///
/// The unit is the *task*: one per `submit`, one per chunk of a `map` (a chunk's items are
/// submitted, wait and start together, so a chunk counts once, whatever its size). The figures are
/// cheap to keep (a clock reading at submission and one per job a worker runs; counters and a
/// histogram updated under locks the pool takes anyway) and cheap enough to read every second, from
/// any thread, while the pool runs or after it has shut down.
///
/// ```swift
/// let pool = try ThreadPool(workers: 4)
/// // … while it works:
/// print(pool.statistics)
/// if let stuck = pool.statistics.longestWaiting, stuck.waited > .seconds(1) { … }
/// ```
public struct PoolStatistics: Sendable, Hashable, CustomStringConvertible {
    /// The task that has waited longest among those still queued.
    public struct WaitingTask: Sendable, Hashable {
        /// The job's type as the pool knows it ("MyApp.Resize"), or "closure returning T" for a
        /// closure given to a ``ThreadPool``.
        public var job: String
        /// How many inputs the task holds: 1 for `submit`, the chunk's size for `map`.
        public var items: Int
        /// How long it has waited since it was submitted.
        public var waited: Duration

        /// Creates a waiting task's figures.
        public init(job: String, items: Int, waited: Duration) {
            self.job = job
            self.items = items
            self.waited = waited
        }
    }

    /// One worker: a thread of a ``ThreadPool``, or a process of a ``ProcessPool``.
    public struct Worker: Sendable, Hashable {
        /// The thread's name ("spindle-0"), or the worker process's number and pid ("worker 3, pid 4242").
        public var name: String
        /// The worker process's pid; `nil` for a thread.
        public var processID: Int32?
        /// Tasks it started.
        public var tasksStarted: Int
        /// Time it spent running work, the stretch it is in now included.
        ///
        /// A thread is busy while it runs a piece of a task (a task suspended in an `await` leaves
        /// its thread free) or other async code it serves as a `TaskExecutor`. A process is busy
        /// from the start of a task (see ``ProcessPool/statistics``) until its result is back, so
        /// the trip of each message counts too.
        public var busy: Duration
        /// ``busy`` as a share (0...1) of the time the worker has existed: the pool's lifetime for
        /// a thread, from its start until now or its exit for a process.
        public var busyShare: Double
        /// How long it has been running what it runs now; `nil` while it is idle.
        public var runningFor: Duration?
        /// Whether it has exited: a replaced worker process, or any worker of a pool that shut down.
        public var hasExited: Bool

        /// Creates a worker's figures.
        public init(
            name: String,
            processID: Int32? = nil,
            tasksStarted: Int,
            busy: Duration,
            busyShare: Double,
            runningFor: Duration? = nil,
            hasExited: Bool = false
        ) {
            self.name = name
            self.processID = processID
            self.tasksStarted = tasksStarted
            self.busy = busy
            self.busyShare = busyShare
            self.runningFor = runningFor
            self.hasExited = hasExited
        }
    }

    /// How many workers the pool runs at once.
    public var workerCount: Int
    /// How long the pool has existed: from its start until now, or until its last worker exited.
    public var lifetime: Duration
    /// Tasks the pool accepted (a submission to a pool that was shut down does not count).
    public var tasksSubmitted: Int
    /// Tasks waiting for a worker now. A task cancelled while queued still counts until a worker
    /// reaches it and drops it.
    public var tasksQueued: Int
    /// Tasks started and not yet ended; on a ``ThreadPool`` this includes tasks suspended in an `await`.
    public var tasksRunning: Int
    /// Tasks that have ended: returned, threw, timed out, or were cancelled.
    public var tasksCompleted: Int
    /// How long tasks waited from submission until a worker started them, over every task started
    /// so far: its count is the number of tasks started. A task cancelled while it waited never
    /// starts, and does not count.
    public var queueWait: TimeDistribution
    /// The task that has waited longest among those queued now; `nil` when none is.
    public var longestWaiting: WaitingTask?
    /// Each worker, in the order the pool started them. A ``ProcessPool`` lists its live workers
    /// and, after them, up to ``workerCount`` of those that exited, the latest first.
    public var workers: [Worker]

    /// Creates statistics from their parts.
    public init(
        workerCount: Int,
        lifetime: Duration,
        tasksSubmitted: Int,
        tasksQueued: Int,
        tasksRunning: Int,
        tasksCompleted: Int,
        queueWait: TimeDistribution,
        longestWaiting: WaitingTask?,
        workers: [Worker]
    ) {
        self.workerCount = workerCount
        self.lifetime = lifetime
        self.tasksSubmitted = tasksSubmitted
        self.tasksQueued = tasksQueued
        self.tasksRunning = tasksRunning
        self.tasksCompleted = tasksCompleted
        self.queueWait = queueWait
        self.longestWaiting = longestWaiting
        self.workers = workers
    }

    /// Several lines: the tasks, the queue wait, the longest-waiting task, then one line per worker.
    ///
    /// ```
    /// pool of 2 workers, up 43 ms
    /// tasks: 59 submitted, 7 queued, 2 running, 50 completed
    /// queue wait: p50 17 µs, p90 19 µs, p99 161 µs, max 162 µs (52)
    /// longest waiting: PoolConformance.Square (1 item), 40 ms so far
    /// spindle-0: 39 tasks, busy 41 ms (94%), running for 40 ms
    /// spindle-1: 13 tasks, busy 40 ms (92%), running for 40 ms
    /// ```
    public var description: String {
        var lines = [
            "pool of \(workerCount) worker\(workerCount == 1 ? "" : "s"), up \(TimeDistribution.show(lifetime))",
            "tasks: \(tasksSubmitted) submitted, \(tasksQueued) queued, \(tasksRunning) running, "
                + "\(tasksCompleted) completed",
            "queue wait: \(queueWait)",
        ]
        if let task = longestWaiting {
            lines.append(
                "longest waiting: \(task.job) (\(task.items) item\(task.items == 1 ? "" : "s")), "
                    + "\(TimeDistribution.show(task.waited)) so far"
            )
        } else {
            lines.append("longest waiting: none queued")
        }
        for worker in workers {
            let state =
                worker.hasExited
                ? "exited" : worker.runningFor.map { "running for \(TimeDistribution.show($0))" } ?? "idle"
            let share = Int((worker.busyShare * 100).rounded())
            lines.append(
                "\(worker.name): \(worker.tasksStarted) task\(worker.tasksStarted == 1 ? "" : "s"), "
                    + "busy \(TimeDistribution.show(worker.busy)) (\(share)%), \(state)"
            )
        }
        return lines.joined(separator: "\n")
    }
}

// MARK: Keeping the figures (internal)

/// How a pool names the job of a task: a ``Job`` type, or the output type of a closure.
@usableFromInline
package struct TaskLabel {
    let type: Any.Type
    let isClosure: Bool
    let items: Int

    /// A task of the job type `job` over `items` inputs.
    @usableFromInline
    package init(job: Any.Type, items: Int = 1) {
        type = job
        isClosure = false
        self.items = items
    }

    /// A task of a closure that returns `output`, over `items` inputs.
    @usableFromInline
    init(closureReturning output: Any.Type, items: Int = 1) {
        type = output
        isClosure = true
        self.items = items
    }

    /// "MyApp.Resize", "closure returning Int".
    package var name: String {
        isClosure ? "closure returning \(String(describing: type))" : String(reflecting: type)
    }
}

/// One worker's figures as its pool keeps them, under the pool's lock.
package struct WorkerTally: Sendable {
    package let name: String
    package let processID: Int32?
    /// When the worker started (monotonic nanoseconds).
    package let startNanoseconds: UInt64
    package var exitNanoseconds: UInt64?
    package var tasksStarted = 0
    /// Busy time of the stretches that have ended.
    package var busyNanoseconds: UInt64 = 0
    /// When the stretch it is running now began; `nil` while idle.
    package var runningSince: UInt64?

    package init(name: String, processID: Int32? = nil, startNanoseconds: UInt64) {
        self.name = name
        self.processID = processID
        self.startNanoseconds = startNanoseconds
    }

    /// Starts a busy stretch at `now`.
    package mutating func beginStretch(at now: UInt64) {
        runningSince = now
    }

    /// Ends the busy stretch at `now`.
    package mutating func endStretch(at now: UInt64) {
        guard let since = runningSince else { return }
        busyNanoseconds &+= now.saturatingSubtract(since)
        runningSince = nil
    }

    /// Marks the worker gone at `now`; a stretch it was in ends there.
    package mutating func exit(at now: UInt64) {
        endStretch(at: now)
        exitNanoseconds = now
    }

    /// The figures as of `now`.
    package func statistics(at now: UInt64) -> PoolStatistics.Worker {
        let end = exitNanoseconds ?? now
        let current = runningSince.map { end.saturatingSubtract($0) }
        let busy = busyNanoseconds &+ (current ?? 0)
        let alive = end.saturatingSubtract(startNanoseconds)
        return PoolStatistics.Worker(
            name: name,
            processID: processID,
            tasksStarted: tasksStarted,
            busy: .nanoseconds(busy),
            busyShare: alive == 0 ? 0 : min(1, Double(busy) / Double(alive)),
            runningFor: current.map { .nanoseconds($0) },
            hasExited: exitNanoseconds != nil
        )
    }
}

/// A pool's life span, kept under its lock (monotonic nanoseconds).
package struct PoolLifetime: Sendable {
    /// When the pool started.
    package let startNanoseconds = monotonicNanoseconds()
    /// When its last worker exited.
    package var stopNanoseconds: UInt64?

    package init() {}
}

/// A pool's figures copied under its lock, turned into ``PoolStatistics`` once the lock is released
/// (the percentiles take microseconds to compute).
package struct PoolSnapshot {
    package var now = monotonicNanoseconds()
    package var lifetime: PoolLifetime
    package var workerCount: Int
    package var tasksSubmitted: Int
    package var tasksQueued: Int
    package var tasksRunning: Int
    /// The queue waits, in a histogram of the snapshot's own (``DurationHistogram/sum(_:)``): a
    /// copy that shared the pool's storage would make the pool's next record copy all of it, with
    /// the lock held.
    package var queueWait: DurationHistogram
    /// The longest-waiting queued task's label and submission time.
    package var longestWaiting: (label: TaskLabel, submittedNanoseconds: UInt64)?
    package var workers: [WorkerTally]

    package init(
        lifetime: PoolLifetime,
        workerCount: Int,
        tasksSubmitted: Int,
        tasksQueued: Int,
        tasksRunning: Int,
        queueWait: DurationHistogram,
        longestWaiting: (label: TaskLabel, submittedNanoseconds: UInt64)?,
        workers: [WorkerTally]
    ) {
        self.lifetime = lifetime
        self.workerCount = workerCount
        self.tasksSubmitted = tasksSubmitted
        self.tasksQueued = tasksQueued
        self.tasksRunning = tasksRunning
        self.queueWait = queueWait
        self.longestWaiting = longestWaiting
        self.workers = workers
    }

    package var statistics: PoolStatistics {
        PoolStatistics(
            workerCount: workerCount,
            lifetime: .nanoseconds((lifetime.stopNanoseconds ?? now).saturatingSubtract(lifetime.startNanoseconds)),
            tasksSubmitted: tasksSubmitted,
            tasksQueued: tasksQueued,
            tasksRunning: tasksRunning,
            tasksCompleted: max(0, tasksSubmitted - tasksQueued - tasksRunning),
            queueWait: queueWait.distribution,
            longestWaiting: longestWaiting.map {
                PoolStatistics.WaitingTask(
                    job: $0.label.name,
                    items: $0.label.items,
                    waited: .nanoseconds(now.saturatingSubtract($0.submittedNanoseconds))
                )
            },
            workers: workers.map { $0.statistics(at: now) }
        )
    }
}

extension UInt64 {
    /// `self - other`, or 0 when `other` is later: two readings of the clock taken on different
    /// threads may come in either order.
    package func saturatingSubtract(_ other: UInt64) -> UInt64 {
        self > other ? self - other : 0
    }
}
