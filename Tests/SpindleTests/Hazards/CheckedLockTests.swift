import Glibc
@testable import Spindle
import Testing

/// Runs `body` on a new plain thread named `name` and waits for it: another thread to take locks on.
func onNewThread(named name: String, _ body: @escaping @Sendable () -> Void) {
    TestThread.start(named: name, body).join()
}

/// The hazard checks are process-wide, so every test that turns them on runs in a process of its
/// own (an exit test) and says what went wrong on standard output.
@Suite(.timeLimit(.minutes(5)))
struct CheckedLockTests {
    /// Four threads hammer one lock, plain and then fair. The suite runs with the hazard checks on,
    /// and the checks are right to call a thread starved that waits half a second while the others
    /// take a plain lock thousands of times, which happened once on a loaded CI machine with
    /// 10,000 acquisitions per thread: the threads here are kept short of that.
    @Test(arguments: [false, true])
    func itGuardsItsValueLikeAMutex(fair: Bool) async {
        let counter = CheckedLock(0, name: "counter", fair: fair)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    await onPlainThread {
                        for _ in 0..<2_000 { counter.withLock { $0 += 1 } }
                    }
                }
            }
        }
        #expect(counter.withLock { $0 } == 8_000)
        #expect(counter.name == "counter")
    }

    @Test func locksTakenInOppositeOrdersAreAPotentialDeadlockEvenWithoutOne() async {
        let result = await #expect(processExitsWith: .success, observing: [\.standardOutputContent]) {
            let collector = HazardCollector()
            HazardChecks.enable(reportingTo: .collect(into: collector))
            let a = CheckedLock(0, name: "accounts"), b = CheckedLock(0, name: "audit log")
            // One thread, then another, each on its own: nothing can deadlock in this run.
            onNewThread(named: "transfer") { a.withLock { _ in b.withLock { $0 += 1 } } }
            guard collector.reports.isEmpty else { exit(2) }
            onNewThread(named: "report") { b.withLock { _ in a.withLock { $0 += 1 } } }
            // The same orders again are known already: one report per cycle.
            onNewThread(named: "report") { b.withLock { _ in a.withLock { $0 += 1 } } }
            let reports = collector.reports
            print(reports.map(String.init(describing:)).joined(separator: "\n"))
            guard reports.count == 1, let report = reports.first, report.kind == .potentialDeadlock else { exit(3) }
            guard Set(report.locks) == ["accounts", "audit log"], Set(report.threads) == ["transfer", "report"] else {
                exit(4)
            }
            // Both orders, with the lines where each lock was taken.
            guard report.details.count == 2,
                report.details.allSatisfy({ $0.contains("SpindleTests/CheckedLockTests.swift:") })
            else { exit(5) }
        }
        let output = String(decoding: result?.standardOutputContent ?? [], as: UTF8.self)
        #expect(output.contains("potential deadlock: `accounts` is taken while holding `audit log`"), "\(output)")
    }

    @Test func oneOrderEverywhereIsSilentHoweverBusy() async {
        await #expect(processExitsWith: .success) {
            let collector = HazardCollector()
            HazardChecks.enable(reportingTo: .collect(into: collector))
            let first = CheckedLock(0, name: "first"), second = CheckedLock(0, name: "second")
            let third = CheckedLock(0, name: "third")
            let threads = (0..<4).map { index in
                TestThread.start(named: "worker-\(index)") {
                    for _ in 0..<2_000 {
                        first.withLock { _ in second.withLock { _ in third.withLock { $0 += 1 } } }
                        second.withLock { _ in third.withLock { $0 += 1 } }
                        first.withLock { _ in third.withLock { $0 += 1 } }
                    }
                }
            }
            for thread in threads { thread.join() }
            // No deadlock, potential or real. (Four threads hammering unfair mutexes on a loaded
            // machine may really starve one of them for a while, and be told so: that is not
            // what this program is about.)
            let deadlocks = collector.reports.filter { $0.kind == .potentialDeadlock || $0.kind == .deadlock }
            guard third.withLock({ $0 }) == 4 * 2_000 * 3, deadlocks.isEmpty else { exit(1) }
        }
    }

    @Test func aCycleOfThreeLocksIsReportedWithEveryStep() async {
        await #expect(processExitsWith: .success) {
            let collector = HazardCollector()
            HazardChecks.enable(reportingTo: .collect(into: collector))
            let a = CheckedLock(0, name: "a"), b = CheckedLock(0, name: "b"), c = CheckedLock(0, name: "c")
            onNewThread(named: "one") { a.withLock { _ in b.withLock { $0 += 1 } } }
            onNewThread(named: "two") { b.withLock { _ in c.withLock { $0 += 1 } } }
            guard collector.reports.isEmpty else { exit(2) }
            onNewThread(named: "three") { c.withLock { _ in a.withLock { $0 += 1 } } }
            let reports = collector.reports
            guard reports.count == 1, reports[0].details.count == 3, Set(reports[0].locks) == ["a", "b", "c"] else {
                print(reports)
                exit(3)
            }
        }
    }

    /// Two cycles through one lock are two reports, and `reset()` forgets every order seen,
    /// including those each thread remembered having recorded.
    @Test func everyCycleIsReportedOnceAndResetForgetsEveryOrder() async {
        await #expect(processExitsWith: .success) {
            let collector = HazardCollector()
            HazardChecks.enable(reportingTo: .collect(into: collector))
            let a = CheckedLock(0, name: "a"), b = CheckedLock(0, name: "b"), c = CheckedLock(0, name: "c")
            b.withLock { _ in a.withLock { $0 += 1 } }
            c.withLock { _ in a.withLock { $0 += 1 } }
            a.withLock { _ in b.withLock { $0 += 1 } }
            a.withLock { _ in c.withLock { $0 += 1 } }
            guard collector.reports.count == 2 else {
                print(collector.reports)
                exit(2)
            }
            HazardChecks.reset()
            a.withLock { _ in b.withLock { $0 += 1 } }
            guard collector.reports.count == 2 else { exit(3) }
            onNewThread(named: "other") { b.withLock { _ in a.withLock { $0 += 1 } } }
            guard collector.reports.count == 3 else {
                print(collector.reports)
                exit(4)
            }
        }
    }

    @Test func locksOfOneClassAreOneNodeOfTheGraph() async {
        await #expect(processExitsWith: .success) {
            let collector = HazardCollector()
            HazardChecks.enable(reportingTo: .collect(into: collector))
            let accountClass = LockClass("account")
            let accounts = (0..<100).map { CheckedLock($0, class: accountClass) }
            let bank = CheckedLock(0, name: "bank")
            for account in accounts { bank.withLock { _ in account.withLock { $0 += 1 } } }
            // Two accounts at once: no order between locks of one class to check.
            accounts[0].withLock { _ in accounts[1].withLock { $0 += 1 } }
            guard collector.reports.isEmpty else { exit(2) }
            accounts[57].withLock { _ in bank.withLock { $0 += 1 } }
            let reports = collector.reports
            guard reports.count == 1, Set(reports[0].locks) == ["account", "bank"] else {
                print(reports)
                exit(3)
            }
        }
    }

    @Test func aRealDeadlockIsReportedAfterTheThresholdNamingWhoHoldsAndWantsWhat() async {
        let result = await #expect(processExitsWith: .success, observing: [\.standardOutputContent]) {
            let collector = HazardCollector()
            let threshold = Duration.milliseconds(200)
            HazardChecks.enable(reportingTo: .collect(into: collector), deadlockThreshold: threshold)
            startDeadlock(locks: ("left fork", "right fork"), threads: ("philosopher-1", "philosopher-2"))
            guard let report = collector.waitForReport(of: .deadlock, timeout: .seconds(60)) else { exit(2) }
            print(report)
            guard Set(report.threads) == ["philosopher-1", "philosopher-2"],
                Set(report.locks) == ["left fork", "right fork"]
            else { exit(3) }
            // Each thread says what it holds and what it waits for, and none is reported early.
            guard report.details.count == 2,
                report.details.allSatisfy({ $0.contains("holds `") && $0.contains("has waited") })
            else { exit(4) }
            // The threads stay deadlocked; ending the process ends them.
            exit(0)
        }
        let output = String(decoding: result?.standardOutputContent ?? [], as: UTF8.self)
        #expect(output.contains("deadlock: 2 threads wait for each other in a cycle"), "\(output)")
    }

    @Test func theStopHandlerEndsAProgramBeforeItDeadlocks() async {
        let result = await #expect(processExitsWith: .signal(SIGABRT), observing: [\.standardErrorContent]) {
            HazardChecks.enable(reportingTo: .stop)
            // The first order is recorded and the second reported as a potential deadlock before
            // it happens, which stops the program already.
            deadlockTwoThreads()
            exit(0)
        }
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("spindle: potential deadlock: "), "\(stderr)")
        #expect(stderr.contains("spindle: stopping the program."), "\(stderr)")
    }

    @Test func aHandlerThatStopsOnDeadlocksEndsADeadlockedProgramInsteadOfHanging() async {
        let result = await #expect(processExitsWith: .signal(SIGABRT), observing: [\.standardErrorContent]) {
            // Potential deadlocks are logged; a real one stops the program.
            let handler = HazardHandler.custom { report in
                (report.kind == .deadlock ? HazardHandler.stop : HazardHandler.log).handle(report)
            }
            HazardChecks.enable(reportingTo: handler, deadlockThreshold: .milliseconds(100))
            deadlockTwoThreads()
            exit(0)
        }
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("spindle: potential deadlock: "), "\(stderr)")
        #expect(stderr.contains("spindle: deadlock: 2 threads wait for each other"), "\(stderr)")
        #expect(stderr.contains("spindle: stopping the program."), "\(stderr)")
    }
}

/// Starts two threads that deadlock: the first takes lock `locks.0` then `locks.1`, the second
/// the other way round, both holding their first lock before either takes its second.
func startDeadlock(locks: (String, String) = ("left", "right"), threads: (String, String) = ("one", "two")) {
    let first = CheckedLock(0, name: locks.0), second = CheckedLock(0, name: locks.1)
    let bothHoldOne = BlockingBarrier(parties: 2)
    _ = TestThread.start(named: threads.0) {
        first.withLock { _ in
            _ = bothHoldOne.arriveAndWait()
            second.withLock { $0 += 1 }
        }
    }
    _ = TestThread.start(named: threads.1) {
        second.withLock { _ in
            _ = bothHoldOne.arriveAndWait()
            first.withLock { $0 += 1 }
        }
    }
}

/// Starts a deadlock and blocks this thread: only a handler that ends the program ends the wait
/// (within a minute, or the test fails rather than hangs).
func deadlockTwoThreads() {
    startDeadlock()
    _ = BlockingBarrier(parties: 2).arriveAndWait(timeout: .seconds(60))
}

/// A plain OS thread that can be waited for: the threads that take locks in these tests.
final class TestThread: @unchecked Sendable {
    // @unchecked Sendable: `finished` is only touched with `lock` held.
    private let lock = ConditionLock()
    private var finished = false

    private init() {}

    /// Starts a thread named `name` running `body`.
    static func start(named name: String, _ body: @escaping @Sendable () -> Void) -> TestThread {
        let thread = TestThread()
        try! startDetachedThread(name: name) {
            body()
            thread.lock.lock()
            thread.finished = true
            thread.lock.broadcast()
            thread.lock.unlock()
        }
        return thread
    }

    /// Blocks until the thread's body has returned.
    func join() {
        lock.lock()
        while !finished { lock.wait() }
        lock.unlock()
    }
}
