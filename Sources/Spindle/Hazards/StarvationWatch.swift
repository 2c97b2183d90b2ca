/// Finds threads starved of a checked lock: threads that wait far longer than the others for the
/// same lock, or that wait on while others take it again and again.
///
/// A greedy thread that releases a lock and at once retakes it can keep a polite one waiting for
/// many of its turns: a plain mutex goes to whoever asks first after a release, and the greedy
/// thread, already running, asks long before the woken waiter does.
final class StarvationWatch: Sendable {
    static let shared = StarvationWatch()

    /// Acquisitions a thread needs before its waits are judged.
    static let minimumAcquisitions = 20
    /// A starved thread's 90th-percentile wait is at least this many times the others' median one and
    /// the lock's 90th-percentile hold…
    static let factor: UInt64 = 10
    /// …and at least this long: shorter waits hardly slow a program, and on a busy machine even a
    /// fair lock's next waiter can take a few milliseconds just to be woken.
    static let floor: Duration = .milliseconds(10)
    /// One wait, finished or going on, is starvation once it is this long and others took the
    /// lock ``takenDuringLongWait`` times meanwhile (a lock that nobody takes is a hang, not
    /// starvation). Shorter waits happen to anyone behind a busy unfair mutex on a loaded
    /// machine: with 100 ms, the suite's own busiest locks were reported.
    static let longWait: Duration = .milliseconds(500)
    static let takenDuringLongWait = 100

    /// Whether one wait of `waited` nanoseconds, while others took the lock `takenMeanwhile`
    /// times, is starvation by itself.
    static func isStarved(waited: UInt64, takenMeanwhile: Int) -> Bool {
        waited >= longWait.clampedNanoseconds && takenMeanwhile >= takenDuringLongWait
    }

    // Strong references, dropped by the lock's deinit: a weak one would give every lock identity
    // a side table, which makes each retain and release of it several times dearer.
    private let locks = Locked<[Int: LockIdentity]>([:], checked: false)

    /// Watches `lock` from now on, until ``forget(_:)``.
    func watch(_ lock: LockIdentity) {
        locks.withLock { $0[lock.id] = lock }
    }

    /// Stops watching the lock numbered `id`: it is gone.
    func forget(_ id: Int) {
        _ = locks.withLock { $0.removeValue(forKey: id) }
    }

    /// Reports each thread newly found starved of a watched lock; `waits` are the waits going on.
    func findStarvedThreads(waiting waits: [Int32: DeadlockWatchdog.Wait]) -> [HazardReport] {
        let now = monotonicNanoseconds()
        var reports: [HazardReport] = []
        for (thread, wait) in waits.sorted(by: { $0.key < $1.key }) {
            let waited = now > wait.since ? now - wait.since : 0
            let takenMeanwhile = wait.lock.acquisitions.load(ordering: .relaxed) - wait.acquisitionsBefore
            guard Self.isStarved(waited: waited, takenMeanwhile: takenMeanwhile) else { continue }
            let found: HazardReport? = wait.lock.record.withLock { record in
                guard record.reportedStarving.insert(thread).inserted else { return nil }
                let name = record.threads[thread]?.name ?? ThreadLocks.thread(thread)?.name ?? "thread \(thread)"
                let summary =
                    "thread \(name) has waited \(TimeDistribution.show(.nanoseconds(waited))) "
                    + "for `\(wait.lock.name)` at \(wait.site), and is waiting still, while other threads took it \(takenMeanwhile) times"
                return report(summary, lock: wait.lock, record)
            }
            if let found { reports.append(found) }
        }
        let watched = locks.withLock { Array($0.values) }
        for lock in watched.sorted(by: { $0.id < $1.id }) {
            reports += lock.record.withLock { record in
                // A finished wait long enough to be starvation by itself.
                let longWaits = record.starvedWaits.filter { !record.reportedStarving.contains($0.key) }
                    .sorted { $0.key < $1.key }
                let longWaitReports = longWaits.map { thread, wait in
                    record.reportedStarving.insert(thread)
                    let name = record.threads[thread]?.name ?? "thread \(thread)"
                    let summary =
                        "thread \(name) waited \(TimeDistribution.show(.nanoseconds(wait.waited))) for `\(lock.name)` "
                        + "while other threads took it \(wait.takenMeanwhile) times"
                    return report(summary, lock: lock, record)
                }
                // A lock that hands itself over in turn favours no thread: a waiter waits for those
                // ahead of it, and a long wait there is the holders' doing (a holder preempted on a
                // loaded machine, or slow), which its holds show. Judged by the waits alone, such
                // a wait was once reported as starvation in CI. The long-wait rule above still holds.
                let starved = lock.handsOverInTurn ? [] : Self.starvedThreads(record)
                record.reportedStarving.formUnion(starved.map(\.thread))
                return longWaitReports
                    + starved.map { thread, measure in
                        let name = record.threads[thread]?.name ?? "thread \(thread)"
                        func shown(_ waits: DurationHistogram) -> String {
                            TimeDistribution.show(.nanoseconds(measure.value(waits)))
                        }
                        let others = record.threads.filter { $0.key != thread }.sorted { $0.key < $1.key }
                            .map { "\(shown($0.value.waits)) for \($0.value.name)" }
                        let own = record.threads[thread].map { shown($0.waits) } ?? "?"
                        let measured =
                            measure == .p90 ? "1 wait in 10 lasts \(own) or more" : "half its waits last \(own) or more"
                        let summary =
                            "thread \(name) is starved of `\(lock.name)`: \(measured), against \(others.joined(separator: ", "))"
                        return report(summary, lock: lock, record)
                    }
            }
        }
        return reports
    }

    /// How a thread's waits are judged: by their 90th percentile (given ``minimumAcquisitions``)
    /// or by their median (given five: a thread starved hard gets few turns). Not by their mean,
    /// which one wake-up delayed on a busy CPU can carry alone.
    enum Measure: CaseIterable {
        case p90, median

        var minimumCount: Int { self == .p90 ? minimumAcquisitions : 5 }

        func value(_ waits: DurationHistogram) -> UInt64 {
            waits.percentile(self == .p90 ? 0.9 : 0.5)
        }
    }

    /// The threads of `record` whose waits run far above the others', not yet reported, and the
    /// measure that shows it.
    static func starvedThreads(_ record: LockRecord) -> [(thread: Int32, measure: Measure)] {
        let holdP90 = record.holds.percentile(0.9)
        var starved: [(thread: Int32, measure: Measure)] = []
        for (thread, entry) in record.threads.sorted(by: { $0.key < $1.key })
        where !record.reportedStarving.contains(thread) {
            for measure in Measure.allCases where entry.waits.count >= measure.minimumCount {
                let value = measure.value(entry.waits)
                let others = record.threads.filter { $0.key != thread && $0.value.waits.count >= 1 }
                    .map { measure.value($0.value.waits) }.sorted()
                guard !others.isEmpty else { continue }
                let othersMedian = others[others.count / 2]
                // Far above the other threads' waits, and far above what the holds explain:
                // behind a fair lock a thread waits for a few holds and a wake-up, never ten
                // times the longest.
                if value >= floor.clampedNanoseconds && value >= factor * Swift.max(othersMedian, 1_000)
                    && value >= factor * holdP90
                {
                    starved.append((thread, measure))
                    break
                }
            }
        }
        return starved
    }

    private func report(_ summary: String, lock: LockIdentity, _ record: LockRecord) -> HazardReport {
        let statistics = record.statistics(lock: lock.name)
        var details = statistics.threads.map { "thread \($0.thread) waited \($0.wait)" }
        details.append("`\(lock.name)` was held \(statistics.hold)")
        details.append(
            "a fair lock (CheckedLock(…, fair: true)) hands it over in the order threads asked: each then waits at most one turn of every other thread"
        )
        return HazardReport(
            kind: .starvation,
            summary: summary,
            details: details,
            locks: [lock.name],
            threads: statistics.threads.map(\.thread)
        )
    }
}
