import Glibc
@testable import Spindle
import Synchronization
import Testing

/// Starvation: a greedy thread that retakes a lock at once starves a polite one of a plain lock
/// (the watchdog says so), and a fair lock serves both (it stays silent). Checks are process-wide,
/// so each program runs in a process of its own.
/// The tests whose programs starve and stall threads on purpose, one at a time: each pins threads
/// to CPUs, and one program's busy thread beside another's pinned waiter would starve that waiter
/// of CPU, which is not what either test is about.
@Suite(.serialized)
enum HazardTimingTests {}

extension HazardTimingTests {
    @Suite(.timeLimit(.minutes(5)))
    struct StarvationTests {
        @Test(.enabled(if: AvailableCPUs.allowedForCallingThread().count >= 2, "the two threads need a CPU each"))
        func aGreedyThreadStarvesAPoliteOneOfAPlainLockAndIsNamed() async {
            let result = await #expect(processExitsWith: .success, observing: [\.standardOutputContent]) {
                let collector = HazardCollector()
                HazardChecks.enable(reportingTo: .collect(into: collector), deadlockThreshold: .milliseconds(200))
                let lock = CheckedLock(0, name: "plain")
                // The polite thread goes on until the report comes: on a loaded machine it may be lucky
                // for a while.
                let contest = GreedyAndPolite(lock, politeTurns: .max)
                let report = collector.waitForReport(of: .starvation, timeout: .seconds(20))
                contest.stop()
                guard let report else { exit(missingReportStatus(collector)) }
                print(report)
                guard report.locks == ["plain"], report.summary.hasPrefix("thread polite "),
                    report.threads.contains("greedy")
                else { exit(3) }
            }
            let output = String(decoding: result?.standardOutputContent ?? [], as: UTF8.self)
            #expect(output.contains("starvation: thread polite "), "\(output)")
            #expect(output.contains("CheckedLock(…, fair: true)"), "the report says what fixes it: \(output)")
        }

        @Test(.enabled(if: AvailableCPUs.allowedForCallingThread().count >= 2, "the two threads need a CPU each"))
        func aFairLockServesThePoliteThreadInTurnAndNothingIsReported() async {
            await #expect(processExitsWith: .success) {
                let collector = HazardCollector()
                HazardChecks.enable(reportingTo: .collect(into: collector), deadlockThreshold: .milliseconds(200))
                let lock = CheckedLock(0, name: "fair", fair: true)
                let contest = GreedyAndPolite(lock, politeTurns: 20)
                contest.waitForPoliteTurns()
                contest.stop()
                // The watchdog looks every 50 ms: a look at the finished contest.
                usleep(200_000)
                let statistics = lock.statistics
                guard let polite = statistics.waits(of: "polite"), polite.wait.count == 20 else {
                    exit(2)
                }
                // The greedy thread took the lock meanwhile, and had to wait its turn too.
                guard statistics.waits(of: "greedy")?.wait.count ?? 0 >= 1 else { exit(3) }
                guard collector.reports.isEmpty else {
                    print(collector.reports)
                    exit(4)
                }
            }
        }

        @Test func statisticsCountEveryWaitAndHoldPerThread() async {
            await #expect(processExitsWith: .success) {
                HazardChecks.disable()  // as SPINDLE_HAZARD_CHECKS may have turned them on
                let lock = CheckedLock(0, name: "counted")
                lock.withLock { $0 += 1 }
                guard lock.statistics.acquisitions == 0 else { exit(2) }  // checks off: nothing kept
                HazardChecks.enable(reportingTo: .collect(into: HazardCollector()))
                let threads = (0..<3).map { index in
                    TestThread.start(named: "taker-\(index)") {
                        for _ in 0..<1_000 { lock.withLock { $0 += 1 } }
                    }
                }
                for thread in threads { thread.join() }
                let statistics = lock.statistics
                guard statistics.lock == "counted", statistics.acquisitions == 3_000, statistics.hold.count == 3_000,
                    Set(statistics.threads.map(\.thread)) == ["taker-0", "taker-1", "taker-2"],
                    statistics.threads.allSatisfy({ $0.wait.count == 1_000 }),
                    statistics.contended <= 3_000, statistics.wait.max >= statistics.wait.p99,
                    statistics.wait.p99 >= statistics.wait.p50
                else {
                    print(statistics)
                    exit(3)
                }
                // Sorted by the 90th percentile of their waits, the longest-waiting first.
                guard zip(statistics.threads, statistics.threads.dropFirst()).allSatisfy({ $0.wait.p90 >= $1.wait.p90 })
                else { exit(4) }
            }
        }

        @Test func theJudgementComparesAThreadsWaitsWithTheOthersAndWithTheHolds() {
            func record(waits: [String: [UInt64]], holds: [UInt64]) -> LockRecord {
                var record = LockRecord()
                for (index, (name, list)) in waits.sorted(by: { $0.key < $1.key }).enumerated() {
                    var thread = LockRecord.ThreadRecord(name: name)
                    for wait in list { thread.waits.record(wait) }
                    record.threads[Int32(index + 1)] = thread
                }
                for hold in holds { record.holds.record(hold) }
                return record
            }
            let ms: UInt64 = 1_000_000
            let starving = record(
                waits: ["greedy": Array(repeating: 300, count: 100), "polite": Array(repeating: 50 * ms, count: 30)],
                holds: Array(repeating: ms / 2, count: 130)
            )
            #expect(StarvationWatch.starvedThreads(starving).map(\.thread) == [2])
            var reported = starving
            reported.reportedStarving = [2]
            #expect(StarvationWatch.starvedThreads(reported).isEmpty, "each thread is reported once")
            // Long waits that long holds explain: one thread behind another's 20 ms holds.
            let fair = record(
                waits: ["greedy": Array(repeating: 300, count: 100), "polite": Array(repeating: 25 * ms, count: 30)],
                holds: Array(repeating: 20 * ms, count: 130)
            )
            #expect(StarvationWatch.starvedThreads(fair).isEmpty)
            // Too few waits to judge, and waits too short to matter.
            let few = record(waits: ["greedy": [300, 300], "polite": [50 * ms]], holds: [ms])
            #expect(StarvationWatch.starvedThreads(few).isEmpty)
            let short = record(
                waits: ["greedy": Array(repeating: 300, count: 100), "polite": Array(repeating: 2 * ms, count: 30)],
                holds: Array(repeating: 1_000, count: 130)
            )
            #expect(StarvationWatch.starvedThreads(short).isEmpty)
        }

        /// One wait is starvation by itself when it is long and the others took the lock again and
        /// again meanwhile: a thread starved hard may get too few turns for percentiles.
        @Test func oneLongWaitWhileOthersTookTheLockOftenIsStarvation() {
            let thread = ThreadLocks.current
            var record = LockRecord()
            record.recordWait(400_000_000, thread: thread, contended: true, takenMeanwhile: 1_000)
            record.recordWait(800_000_000, thread: thread, contended: true, takenMeanwhile: 50)
            #expect(record.starvedWaits.isEmpty, "too short, or the lock was hardly taken: a hang, not starvation")
            record.recordWait(650_000_000, thread: thread, contended: true, takenMeanwhile: 400)
            record.recordWait(600_000_000, thread: thread, contended: true, takenMeanwhile: 400)
            #expect(record.starvedWaits[thread.threadID]?.waited == 650_000_000, "the longest is kept")
        }
    }
}

/// A greedy thread that holds `lock` for half a millisecond of work, lets go and takes it straight
/// back, on one CPU, and a polite thread on another CPU that wants it every millisecond, for
/// `politeTurns` turns.
final class GreedyAndPolite: Sendable {
    private final class Flag: Sendable {
        let raised = Atomic(false)
        let greedyTurns = Atomic(0)
    }
    private let stopping = Flag()
    private let greedy: TestThread
    private let polite: TestThread

    init(_ lock: CheckedLock<Int>, politeTurns: Int) {
        let cpus = AvailableCPUs.allowedForCallingThread()
        let stopping = stopping
        greedy = TestThread.start(named: "greedy") {
            if cpus.count >= 2 { try? AvailableCPUs.pinCallingThread(to: cpus[0]) }
            while !stopping.raised.load(ordering: .relaxed) {
                lock.withLock { count in
                    let end = monotonicNanoseconds() + 500_000
                    while monotonicNanoseconds() < end {}
                    count += 1
                }
                stopping.greedyTurns.add(1, ordering: .relaxed)
            }
        }
        polite = TestThread.start(named: "polite") {
            if cpus.count >= 2 { try? AvailableCPUs.pinCallingThread(to: cpus[1]) }
            // Once the greedy thread is under way: a new thread can be slow to start.
            while stopping.greedyTurns.load(ordering: .relaxed) < 3, !stopping.raised.load(ordering: .relaxed) {
                usleep(100)
            }
            var turns = 0
            while turns < politeTurns, !stopping.raised.load(ordering: .relaxed) {
                lock.withLock { $0 += 1 }
                turns += 1
                usleep(1_000)
            }
        }
    }

    /// Blocks until the polite thread has had its turns (or was stopped).
    func waitForPoliteTurns() { polite.join() }

    /// Stops both threads and waits for them.
    func stop() {
        stopping.raised.store(true, ordering: .relaxed)
        greedy.join()
        polite.join()
    }
}
