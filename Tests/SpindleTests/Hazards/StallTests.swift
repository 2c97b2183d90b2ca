import Glibc
@testable import Spindle
import Synchronization
import Testing

/// Progress markers that stop: busy threads (livelock), blocked ones (hang) and runnable ones
/// that get no CPU (CPU starvation) are each told apart from the threads' scheduler statistics;
/// a marker that advances, or that nobody works toward, is never reported. Checks are
/// process-wide, so each program runs in a process of its own.
extension HazardTimingTests {
    @Suite(.timeLimit(.minutes(5)))
    struct StallTests {
        @Test func twoThreadsThatKeepYieldingToEachOtherAreALivelock() async {
            let result = await #expect(processExitsWith: .success, observing: [\.standardOutputContent]) {
                let collector = HazardCollector()
                HazardChecks.enable(reportingTo: .collect(into: collector), stallThreshold: .milliseconds(300))
                let turns = PoliteTurns()
                // Taking turns first, until the watch knows what a turn costs; then "after you".
                guard turns.learnCostThenBeTooPolite() else { exit(6) }
                let report = collector.waitForReport(of: .livelock, timeout: .seconds(30))
                turns.stop()
                guard let report else { exit(missingReportStatus(collector)) }
                print(report)
                guard Set(report.threads) == ["polite-1", "polite-2"], report.details.count == 2,
                    report.summary.hasPrefix("`turns taken` has not advanced in ")
                else { exit(3) }
                // Busy, not idle: the turn kept changing hands.
                guard turns.handOvers >= 2 else {
                    print("hand-overs: \(turns.handOvers)")
                    exit(4)
                }
                guard !collector.reports.contains(where: { $0.kind != .livelock }) else { exit(5) }
            }
            let output = String(decoding: result?.standardOutputContent ?? [], as: UTF8.self)
            #expect(output.contains("livelock: `turns taken` has not advanced"), "\(output)")
            #expect(output.contains("thread polite-1: on a CPU "), "\(output)")
        }

        @Test func theSameThreadsTakingATurnBeforeYieldingAreSilent() async {
            await #expect(processExitsWith: .success) {
                let collector = HazardCollector()
                HazardChecks.enable(reportingTo: .collect(into: collector), stallThreshold: .milliseconds(300))
                let turns = PoliteTurns()
                // Long enough for the watchdog to look a few times while both work.
                let deadline = monotonicNanoseconds() + 1_500_000_000
                while monotonicNanoseconds() < deadline, turns.marker.count < 2_000_000 { usleep(10_000) }
                turns.stop()
                guard turns.marker.count > 1_000 else { exit(2) }
                guard collector.reports.isEmpty else { exit(missingReportStatus(collector)) }
            }
        }

        @Test func aThreadBlockedForeverIsAHangThatSaysWhatItWaitsFor() async {
            let result = await #expect(processExitsWith: .success, observing: [\.standardOutputContent]) {
                let collector = HazardCollector()
                HazardChecks.enable(reportingTo: .collect(into: collector), stallThreshold: .milliseconds(300))
                let marker = ProgressMarker("replies")
                let neverSignalled = BlockingBarrier(parties: 2)
                let release = BlockingBarrier(parties: 2)
                let waiter = TestThread.start(named: "waiter") {
                    marker.working {
                        marker.tick()
                        // Waits for a second party that only comes after the report.
                        _ = neverSignalled.arriveAndWait(timeout: .seconds(60))
                    }
                    _ = release.arriveAndWait()
                }
                let report = collector.waitForReport(of: .hang, timeout: .seconds(30))
                _ = neverSignalled.arriveAndWait()
                _ = release.arriveAndWait()
                waiter.join()
                guard let report else { exit(missingReportStatus(collector)) }
                print(report)
                guard report.threads == ["waiter"], collector.reports.count == 1 else { exit(3) }
            }
            let output = String(decoding: result?.standardOutputContent ?? [], as: UTF8.self)
            #expect(output.contains("hang: `replies` has not advanced in "), "\(output)")
            #expect(output.contains("now it waits for a signal"), "\(output)")
        }

        @Test func deadlockedWorkersAreAHangThatNamesTheLocks() async {
            let result = await #expect(processExitsWith: .success, observing: [\.standardOutputContent]) {
                let collector = HazardCollector()
                HazardChecks.enable(
                    reportingTo: .collect(into: collector),
                    deadlockThreshold: .seconds(60),
                    stallThreshold: .milliseconds(300)
                )
                let marker = ProgressMarker("transfers")
                let first = CheckedLock(0, name: "first"), second = CheckedLock(0, name: "second")
                let bothHoldOne = BlockingBarrier(parties: 2)
                for (name, locks) in [("one", (first, second)), ("two", (second, first))] {
                    _ = TestThread.start(named: name) {
                        marker.working {
                            locks.0.withLock { _ in
                                _ = bothHoldOne.arriveAndWait()
                                locks.1.withLock { $0 += 1 }
                            }
                            marker.tick()
                        }
                    }
                }
                guard let report = collector.waitForReport(of: .hang, timeout: .seconds(30)) else {
                    exit(missingReportStatus(collector))
                }
                print(report)
                // The threads stay deadlocked; ending the process ends them.
                exit(0)
            }
            let output = String(decoding: result?.standardOutputContent ?? [], as: UTF8.self)
            #expect(output.contains("hang: `transfers` has not advanced in "), "\(output)")
            #expect(output.contains("now it waits for the checked lock `second`"), "\(output)")
            #expect(output.contains(", which thread two holds"), "\(output)")
        }

        /// A low-priority thread beside a busy one on the same CPU runs about 1.5 % of the time.
        @Test func aRunnableThreadThatGetsNoCPUIsStarvedOfCPU() async {
            let result = await #expect(processExitsWith: .success, observing: [\.standardOutputContent]) {
                let collector = HazardCollector()
                HazardChecks.enable(reportingTo: .collect(into: collector), stallThreshold: .milliseconds(300))
                let cpu = AvailableCPUs.allowedForCallingThread().first ?? 0
                let marker = ProgressMarker("frames")
                let stop = Atomic(false)
                let hog = TestThread.start(named: "hog") {
                    try? AvailableCPUs.pinCallingThread(to: cpu)
                    while !stop.load(ordering: .relaxed) {}
                }
                let workerID = Atomic<Int32>(0)
                let worker = TestThread.start(named: "low-priority") {
                    try? AvailableCPUs.pinCallingThread(to: cpu)
                    workerID.store(ThreadLocks.current.threadID, ordering: .releasing)
                    marker.working {
                        // A frame is 20 ms of this thread's own CPU time.
                        while !stop.load(ordering: .relaxed) {
                            let end = threadCPUNanoseconds() + 20_000_000
                            while threadCPUNanoseconds() < end, !stop.load(ordering: .relaxed) {}
                            marker.tick()
                        }
                    }
                }
                // At the hog's priority first, until the watch knows what a frame costs; then the
                // lowest priority, where a frame takes over a second.
                guard eventuallyKnown(marker) else { exit(6) }
                _ = setpriority(
                    __priority_which_t(PRIO_PROCESS.rawValue),
                    id_t(workerID.load(ordering: .acquiring)),
                    19
                )
                let report = collector.waitForReport(of: .cpuStarvation, timeout: .seconds(30))
                stop.store(true, ordering: .relaxed)
                hog.join()
                worker.join()
                guard let report else { exit(missingReportStatus(collector)) }
                print(report)
                guard report.threads == ["low-priority"] else { exit(3) }
            }
            let output = String(decoding: result?.standardOutputContent ?? [], as: UTF8.self)
            #expect(output.contains("CPU starvation: `frames` has not advanced in "), "\(output)")
        }

        @Test func aMarkerNobodyWorksTowardIsNeverReported() async {
            await #expect(processExitsWith: .success) {
                let collector = HazardCollector()
                HazardChecks.enable(reportingTo: .collect(into: collector), stallThreshold: .milliseconds(50))
                let marker = ProgressMarker("idle")
                // Worked toward once, then left: it stands still with nobody expected to move it.
                onNewThread(named: "brief") { marker.working { marker.tick() } }
                usleep(300_000)  // six thresholds: the watchdog has looked at it many times
                guard collector.reports.isEmpty, marker.count == 1 else { exit(2) }
            }
        }
    }
}

/// Blocks until the stall watch knows what a tick of `marker` costs (within a minute).
func eventuallyKnown(_ marker: ProgressMarker) -> Bool {
    let deadline = monotonicNanoseconds() + 60_000_000_000
    while StallWatch.shared.cpuPerTick(of: marker) == nil {
        guard monotonicNanoseconds() < deadline else { return false }
        usleep(10_000)
    }
    return true
}

/// Two threads taking turns at a shared resource, each ticking `turns taken` per turn it uses.
/// Once too polite (`afterYou`), a thread whose turn comes while the other waits hands the turn
/// straight over: once both wait, nobody ever uses a turn.
final class PoliteTurns: Sendable {
    let marker = ProgressMarker("turns taken")
    private let turn = Atomic(0)
    private let waiting = Atomic(0)
    private let handOverCount = Atomic(0)
    private let stopping = Atomic(false)
    private let afterYou = Atomic(false)
    private let threads = Locked<[TestThread]>([])

    var handOvers: Int { handOverCount.load(ordering: .relaxed) }

    init() {
        for me in 0..<2 {
            let thread = TestThread.start(named: "polite-\(me + 1)") { [self] in
                marker.working { takeTurns(as: me) }
            }
            threads.withLock { $0.append(thread) }
        }
    }

    /// Lets the threads take turns until the stall watch knows what a turn costs, then makes them
    /// too polite; false if the watch never learnt it.
    func learnCostThenBeTooPolite() -> Bool {
        guard eventuallyKnown(marker) else { return false }
        afterYou.store(true, ordering: .relaxed)
        return true
    }

    private func takeTurns(as me: Int) {
        let other = 1 - me
        while !stopping.load(ordering: .relaxed) {
            waiting.bitwiseOr(1 << me, ordering: .sequentiallyConsistent)
            while !stopping.load(ordering: .relaxed) {
                let otherWaits = waiting.load(ordering: .sequentiallyConsistent) & (1 << other) != 0
                guard turn.load(ordering: .sequentiallyConsistent) == me else {
                    if !otherWaits { turn.store(me, ordering: .sequentiallyConsistent) }
                    continue
                }
                if otherWaits && afterYou.load(ordering: .relaxed) {
                    turn.store(other, ordering: .sequentiallyConsistent)
                    handOverCount.add(1, ordering: .relaxed)
                    continue
                }
                marker.tick()
                waiting.bitwiseAnd(~(1 << me), ordering: .sequentiallyConsistent)
                if otherWaits { turn.store(other, ordering: .sequentiallyConsistent) }
                break
            }
        }
    }

    /// Stops both threads and waits for them.
    func stop() {
        stopping.store(true, ordering: .relaxed)
        for thread in threads.withLock({ $0 }) { thread.join() }
    }
}

/// The exit status of a test program whose expected report never came: 2 when none came at all,
/// else 20 + the kind of the first one, so that the failure says what came instead (an exit
/// test's output is lost when it fails).
func missingReportStatus(_ collector: HazardCollector) -> Int32 {
    let kinds: [HazardReport.Kind] = [.potentialDeadlock, .deadlock, .starvation, .livelock, .hang, .cpuStarvation]
    guard let first = collector.reports.first else { return 2 }
    return 20 + Int32(kinds.firstIndex(of: first.kind) ?? 9)
}
