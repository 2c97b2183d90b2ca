import Glibc
@testable import Spindle
import Testing

/// Spindle's own locks (`Locked`, `ConditionLock`) are checked like `CheckedLock` when they are
/// made with the checks on, as one lock class per place of creation; `SPINDLE_HAZARD_CHECKS` turns
/// the checks on from the start. Each program runs in a process of its own.
@Suite(.timeLimit(.minutes(5)))
struct InternalLockChecksTests {
    @Test func theEnvironmentTurnsTheChecksOnFromTheStart() async {
        await #expect(processExitsWith: .success) {
            // Nothing in this process has looked at the checks yet.
            setenv("SPINDLE_HAZARD_CHECKS", "log", 1)
            guard HazardChecks.isEnabled else { exit(2) }
        }
        await #expect(processExitsWith: .success) {
            setenv("SPINDLE_HAZARD_CHECKS", "0", 1)
            guard !HazardChecks.isEnabled else { exit(2) }
        }
    }

    @Test func internalLocksTakenInOppositeOrdersAreReportedByWhereTheyWereMade() async {
        let result = await #expect(processExitsWith: .success, observing: [\.standardOutputContent]) {
            let collector = HazardCollector()
            HazardChecks.enable(reportingTo: .collect(into: collector))
            // Two locks from one line: every lock made there is one class.
            let queues = (0..<2).map { _ in makeQueueLock() }
            let signal = makeSignalLock()
            for queue in queues {
                onNewThread(named: "producer") { queue.withLock { _ in signal.withLock {} } }
            }
            guard collector.reports.isEmpty else { exit(2) }
            onNewThread(named: "consumer") {
                signal.lock()
                queues[1].withLock { $0 += 1 }
                signal.unlock()
            }
            let reports = collector.reports
            guard reports.count == 1, reports[0].kind == .potentialDeadlock else { exit(3) }
            print(reports[0])
        }
        let output = String(decoding: result?.standardOutputContent ?? [], as: UTF8.self)
        #expect(output.contains("`lock made at SpindleTests/InternalLockChecksTests.swift:"), "\(output)")
    }

    @Test func aConditionWaitLetsGoOfTheLockForTheChecksToo() async {
        await #expect(processExitsWith: .success) {
            let collector = HazardCollector()
            HazardChecks.enable(reportingTo: .collect(into: collector))
            let condition = ConditionLock()
            let other = Locked(0)
            condition.lock()
            guard ThreadLocks.current.held.count == 1 else { exit(2) }
            // While this thread waits, another takes the condition's lock and then `other`: the
            // order condition → other, with nothing held here meanwhile.
            let waker = TestThread.start(named: "waker") {
                condition.withLock { other.withLock { $0 += 1 } }
                condition.withLock { condition.broadcast() }
            }
            _ = condition.wait(untilMonotonicNanoseconds: monotonicNanoseconds() + 200_000_000)
            guard ThreadLocks.current.held.count == 1,
                ThreadLocks.current.held[0].lock.owner.load(ordering: .relaxed) == ThreadLocks.current.threadID
            else { exit(3) }
            condition.unlock()
            waker.join()
            guard ThreadLocks.current.held.isEmpty, collector.reports.isEmpty else { exit(4) }
        }
    }
}

// Made here, not inside the exit tests: there `#line` is the line of the `#expect` macro, and every
// lock would be made at the same place.
private func makeQueueLock() -> Locked<Int> { Locked(0) }
private func makeSignalLock() -> ConditionLock { ConditionLock() }
