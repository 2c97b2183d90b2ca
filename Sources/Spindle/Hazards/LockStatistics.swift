/// How a checked lock was waited for and held, overall and per thread, while checks were on: the
/// numbers that show starvation (one thread's waits far above the others').
public struct LockStatistics: Sendable, Hashable {
    /// One thread's waits for the lock.
    public struct ThreadWaits: Sendable, Hashable {
        /// The thread's name.
        public var thread: String
        /// The thread's id (as `gettid` and `top -H` give it).
        public var threadID: Int32
        /// How long it waited at each acquisition (0 when the lock was free).
        public var wait: TimeDistribution
    }

    /// The lock's name.
    public var lock: String
    /// Acquisitions made while checks were on.
    public var acquisitions: Int
    /// How many of them found the lock taken and had to wait.
    public var contended: Int
    /// Waits for the lock, over every acquisition.
    public var wait: TimeDistribution
    /// How long the lock was held, over every acquisition.
    public var hold: TimeDistribution
    /// Each thread's waits, the longest-waiting (by 90th percentile) first.
    public var threads: [ThreadWaits]

    /// The waits of the thread named `name`, if it took the lock.
    public func waits(of name: String) -> ThreadWaits? {
        threads.first { $0.thread == name }
    }
}

/// What a lock's statistics are made from, updated at each checked acquisition and release.
struct LockRecord: Sendable {
    struct ThreadRecord: Sendable {
        let name: String
        var waits = DurationHistogram()
    }

    var contended = 0
    var threads: [Int32: ThreadRecord] = [:]
    var holds = DurationHistogram()
    /// Threads already reported as starved of this lock, so each is reported once.
    var reportedStarving: Set<Int32> = []
    /// Per thread, its longest wait that counts as starvation by itself
    /// (``StarvationWatch/isStarved(waited:takenMeanwhile:)``), and how often others took the lock
    /// meanwhile.
    var starvedWaits: [Int32: (waited: UInt64, takenMeanwhile: Int)] = [:]

    /// Records a wait of `nanoseconds` by `thread`, during which other threads took the lock
    /// `takenMeanwhile` times.
    mutating func recordWait(
        _ nanoseconds: UInt64,
        thread: ThreadLocks,
        contended wasContended: Bool,
        takenMeanwhile: Int
    ) {
        if wasContended { contended += 1 }
        threads[thread.threadID, default: ThreadRecord(name: thread.name)].waits.record(nanoseconds)
        if StarvationWatch.isStarved(waited: nanoseconds, takenMeanwhile: takenMeanwhile),
            nanoseconds > starvedWaits[thread.threadID]?.waited ?? 0
        {
            starvedWaits[thread.threadID] = (nanoseconds, takenMeanwhile)
        }
    }

    func statistics(lock: String) -> LockStatistics {
        var all = DurationHistogram()
        for record in threads.values { all.add(record.waits) }
        let perThread =
            threads
            .map {
                LockStatistics.ThreadWaits(thread: $0.value.name, threadID: $0.key, wait: $0.value.waits.distribution)
            }
            .sorted { ($0.wait.p90, $0.threadID) > ($1.wait.p90, $1.threadID) }
        return LockStatistics(
            lock: lock,
            acquisitions: all.count,
            contended: contended,
            wait: all.distribution,
            hold: holds.distribution,
            threads: perThread
        )
    }
}
