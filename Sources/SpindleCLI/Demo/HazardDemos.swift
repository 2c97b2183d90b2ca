import ArgumentParser
import CSpindle
import Foundation
import Spindle
import Synchronization

/// The hazards `spindle demo` shows: each happens for real, is named, and then runs fixed.
enum HazardDemo: String, CaseIterable, ExpressibleByArgument {
    case race, deadlock, starvation, livelock

    /// Runs the demo and returns what it prints, line by line.
    func run() -> [String] {
        switch self {
        case .race: RaceDemo.run()
        case .deadlock: DeadlockDemo.run()
        case .starvation: StarvationDemo.run()
        case .livelock: LivelockDemo.run()
        }
    }
}

/// An integer that threads share with no synchronisation at all: the race's victim.
private final class UnguardedCounter: @unchecked Sendable {
    // @unchecked Sendable on purpose: this is the bug the demo shows.
    private var value = 0

    /// Reads, adds one, writes back: three steps another thread can come between.
    @inline(never)
    func increment() {
        let read = load()
        store(read + 1)
    }

    @inline(never) func load() -> Int { value }
    @inline(never) func store(_ newValue: Int) { value = newValue }
}

/// Two threads add to one counter; without a lock, updates are lost.
enum RaceDemo {
    static let perThread = 10_000_000

    static func run() -> [String] {
        var out = [
            "race: two threads each add 1 to a shared counter \(perThread.formatted()) times.",
            "  counter += 1 is three steps (read, add, write); when both threads read the same value,",
            "  both write value + 1, and one of the two additions is lost.",
        ]
        let unguarded = UnguardedCounter()
        bothThreads { unguarded.increment() }
        let expected = 2 * perThread
        let lost = expected - unguarded.load()
        out.append(
            "without a lock:  \(unguarded.load().formatted()) instead of \(expected.formatted()): \(lost.formatted()) updates lost"
                + (lost == 0 ? " (none this time: the threads happened not to overlap; run it again)" : "")
        )
        out.append("  What names a race is ThreadSanitizer: `swift run --sanitize=thread spindle demo race`")
        out.append("  stops at the first one and shows both threads' stacks, the read and the write.")
        let guarded = CheckedLock(0, name: "counter")
        bothThreads { guarded.withLock { $0 += 1 } }
        out.append("fixed, with a lock:  \(guarded.withLock { $0 }.formatted()): every update counted")
        let atomic = Atomic(0)
        bothThreads { atomic.add(1, ordering: .relaxed) }
        out.append(
            "fixed, with an atomic:  \(atomic.load(ordering: .relaxed).formatted()): one indivisible read-add-write per update"
        )
        return out
    }

    /// Runs `body` `perThread` times on each of two threads, started together.
    private static func bothThreads(_ body: @escaping @Sendable () -> Void) {
        let ready = DispatchGroup(), done = DispatchGroup()
        for index in 1...2 {
            ready.enter()
            done.enter()
            startThread(named: "adder-\(index)") {
                ready.leave()
                ready.wait()
                for _ in 0..<perThread { body() }
                done.leave()
            }
        }
        done.wait()
    }
}

/// Starts a thread named `name` (as `top -H` and the reports show it) running `body`.
func startThread(named name: String, _ body: @escaping @Sendable () -> Void) {
    // Named by the thread itself, before it takes any lock: Foundation's `Thread.name` reaches
    // the OS thread only some of the time, and the reports must name it every time.
    Thread.detachNewThread {
        _ = spindle_set_thread_name(name)
        body()
    }
}

/// Two transfers lock the same two accounts in opposite orders, and deadlock.
enum DeadlockDemo {
    /// An account: a balance behind a checked lock.
    final class Account: Sendable {
        let number: Int
        let balance: CheckedLock<Int>
        init(_ number: Int, balance: Int) {
            self.number = number
            self.balance = CheckedLock(balance, name: "account \(number)")
        }
    }

    /// Locks the account money leaves, then the one it goes to: the order depends on the direction.
    static func transfer(_ amount: Int, from source: Account, to target: Account, meanwhile: () -> Void = {}) {
        source.balance.withLock { from in
            meanwhile()
            target.balance.withLock { to in
                from -= amount
                to += amount
            }
        }
    }

    /// Locks the lower-numbered account first, whichever way the money goes: one order for all.
    static func orderedTransfer(_ amount: Int, from source: Account, to target: Account) {
        let (first, second) = source.number < target.number ? (source, target) : (target, source)
        first.balance.withLock { firstBalance in
            second.balance.withLock { secondBalance in
                if first === source {
                    firstBalance -= amount
                    secondBalance += amount
                } else {
                    secondBalance -= amount
                    firstBalance += amount
                }
            }
        }
    }

    static func run() -> [String] {
        let threshold = Duration.milliseconds(500)
        let reports = HazardCollector()
        HazardChecks.enable(reportingTo: .collect(into: reports), deadlockThreshold: threshold)
        defer { HazardChecks.disable() }
        var out = [
            "deadlock: two threads move money between accounts 1 and 2 at the same time, one each way.",
            "  A transfer locks the account the money leaves, then the one it goes to: 1 → 2 locks 1",
            "  then 2; 2 → 1 locks 2 then 1. Each thread can take its first lock and wait for ever",
            "  for its second, which the other holds. Spindle's checks are on (HazardChecks.enable).",
        ]
        let one = Account(1, balance: 100), two = Account(2, balance: 100)
        let bothHoldOne = DispatchGroup()
        bothHoldOne.enter()
        bothHoldOne.enter()
        let meet: @Sendable () -> Void = {
            bothHoldOne.leave()
            bothHoldOne.wait()
        }
        startThread(named: "transfer 1→2") { transfer(10, from: one, to: two, meanwhile: meet) }
        startThread(named: "transfer 2→1") { transfer(20, from: two, to: one, meanwhile: meet) }
        let start = ContinuousClock.now
        guard let potential = reports.waitForReport(of: .potentialDeadlock, timeout: .seconds(30)) else {
            return out + ["(no report came: the checks did not see both orders)"]
        }
        out.append("")
        out.append("At the second lock, before anything hangs, the lock-order graph sees both orders:")
        out += potential.description.split(separator: "\n").map { "  " + $0 }
        guard let deadlock = reports.waitForReport(of: .deadlock, timeout: .seconds(30)) else {
            return out + ["(the watchdog did not report: did the threads not deadlock?)"]
        }
        let after = ContinuousClock.now - start
        out.append("")
        out.append(
            "\(Verdict.format(after.seconds)) s later (threshold \(Verdict.format(threshold.seconds)) s), the watchdog finds them stuck for real:"
        )
        out += deadlock.description.split(separator: "\n").map { "  " + $0 }
        out.append("  They stay stuck: a deadlock never resolves itself. (A handler of .stop would end")
        out.append("  the program here with this report, instead of letting it hang.)")

        // The fix: one order for everyone. (The stuck threads stay stuck; the checks stay on.)
        let three = Account(3, balance: 100), four = Account(4, balance: 100)
        let fixedRuns = 10_000
        let done = DispatchGroup()
        for (source, target) in [(three, four), (four, three)] {
            done.enter()
            startThread(named: "transfer \(source.number)→\(target.number)") {
                for _ in 0..<fixedRuns { orderedTransfer(1, from: source, to: target) }
                done.leave()
            }
        }
        done.wait()
        let total = three.balance.withLock { $0 } + four.balance.withLock { $0 }
        let newReports = reports.reports.filter { report in
            report.locks.contains { $0 == three.balance.name || $0 == four.balance.name }
        }
        // The fix is about deadlocks. Two threads hammering one plain lock can also starve one of
        // them on a slow, loaded machine (under ThreadSanitizer it happened); that is named, not
        // hidden, but it is another hazard.
        let others = newReports.filter { $0.kind != .deadlock && $0.kind != .potentialDeadlock }
        let deadlocks = newReports.count - others.count
        out.append("")
        out.append(
            "Fixed: lock the lower-numbered account first, whichever way the money goes. \(fixedRuns.formatted()) transfers each way"
        )
        out.append(
            "  at once: they finish, the total is still \(total), and the checks report \(deadlocks == 0 ? "no deadlock" : "\(deadlocks) deadlock hazards")."
        )
        if !others.isEmpty {
            out.append(
                "  They also report, on this run: \(others.map { $0.kind.description }.joined(separator: ", "))."
            )
        }
        return out
    }
}

/// A greedy thread that retakes a lock the moment it lets go starves a polite one; a fair lock
/// serves both in turn.
enum StarvationDemo {
    static let greedyHold = Duration.microseconds(500)
    /// How long each contest lasts.
    static let contestLength = Duration.milliseconds(1_500)

    /// What one contest gave.
    struct Contest {
        var politeTurns = 0
        var greedyTurns = 0
        var elapsed = Duration.zero
    }

    static func run() -> [String] {
        let reports = HazardCollector()
        HazardChecks.enable(reportingTo: .collect(into: reports), deadlockThreshold: .milliseconds(200))
        defer { HazardChecks.disable() }
        let cpus = AvailableCPUs.allowedForCallingThread()
        let placement = cpus.count >= 2 ? (greedy: cpus[0], polite: cpus[1]) : nil
        var out = [
            "starvation: a greedy thread holds a lock for \(Int(greedyHold / .microseconds(1))) µs of work, lets go, and takes it straight back.",
            "  A polite thread\(placement == nil ? "" : " on another CPU") wants the lock too, resting 1 ms after each turn.",
            "  A plain mutex goes to whichever thread asks first after a release: the greedy one, already",
            "  running, asks within nanoseconds; the polite one must first be woken, which takes microseconds.",
        ]
        var politeTurns: [Int] = []
        for fair in [false, true] {
            let lock = CheckedLock(0, name: fair ? "fair lock" : "plain lock", fair: fair)
            let contest = contend(lock, placement: placement)
            politeTurns.append(contest.politeTurns)
            let polite = lock.statistics.waits(of: "polite")
            out.append("")
            if fair {
                out.append(
                    "With a fair lock (CheckedLock(…, fair: true)), which serves threads in the order they asked:"
                )
            } else {
                out.append("With a plain lock (CheckedLock's default, a pthread mutex):")
            }
            out.append(
                "  in \(Verdict.format(contest.elapsed.seconds)) s the polite thread had \(contest.politeTurns.formatted()) turns, the greedy one \(contest.greedyTurns.formatted())"
            )
            out.append("  the polite thread's waits: \(polite.map { "\($0.wait)" } ?? "none")")
            // The watchdog looks every 50 ms; give it one more look at the finished contest.
            usleep(100_000)
            let starved = reports.reports.filter { $0.kind == .starvation && $0.locks.contains(lock.name) }
            if let report = starved.first {
                out.append("  The checks' watchdog names it:")
                out += report.description.split(separator: "\n").map { "    " + $0 }
            } else {
                out.append("  The checks report no starvation.")
            }
        }
        if politeTurns[0] > 0 {
            out.append("")
            out.append(
                "The fair lock gave the polite thread \(Verdict.format(Double(politeTurns[1]) / Double(politeTurns[0])))× the turns."
            )
        }
        return out
    }

    /// Runs the greedy thread and the polite one on `lock` for ``contestLength``.
    static func contend(_ lock: CheckedLock<Int>, placement: (greedy: Int, polite: Int)?) -> Contest {
        let stop = Atomic(false)
        let greedyTurns = Atomic(0), politeTurns = Atomic(0)
        let done = DispatchGroup()
        done.enter()
        startThread(named: "greedy") {
            if let placement { try? AvailableCPUs.pinCallingThread(to: placement.greedy) }
            while !stop.load(ordering: .relaxed) {
                lock.withLock { _ in
                    let end = ContinuousClock.now + greedyHold
                    while ContinuousClock.now < end {}
                    greedyTurns.add(1, ordering: .relaxed)
                }
            }
            done.leave()
        }
        // The contest begins once the greedy thread is under way (a new thread can take a while
        // to start, under ThreadSanitizer especially).
        while greedyTurns.load(ordering: .relaxed) < 3 { usleep(100) }
        done.enter()
        let start = ContinuousClock.now
        startThread(named: "polite") {
            if let placement { try? AvailableCPUs.pinCallingThread(to: placement.polite) }
            while !stop.load(ordering: .relaxed) {
                lock.withLock { $0 += 1 }
                politeTurns.add(1, ordering: .relaxed)
                usleep(1_000)
            }
            done.leave()
        }
        usleep(UInt32(contestLength / .microseconds(1)))
        stop.store(true, ordering: .relaxed)
        done.wait()
        return Contest(
            politeTurns: politeTurns.load(ordering: .relaxed),
            greedyTurns: greedyTurns.load(ordering: .relaxed),
            elapsed: ContinuousClock.now - start
        )
    }
}

/// Two threads share a printer, one turn at a time, and are so polite that neither ever prints.
enum LivelockDemo {
    static let pagesEach = 1_000
    static let stallThreshold = Duration.milliseconds(500)

    /// How a thread whose turn it is behaves when the other waits too.
    enum Manners {
        /// Hands the turn over at once: "after you".
        case afterYou
        /// Prints one page, then hands the turn over.
        case onePageThenHandOver
    }

    /// The printer's turn, and who waits for it.
    final class Printer: Sendable {
        /// Whose turn it is: 0 or 1.
        let turn = Atomic(0)
        /// Bit `i` set while thread `i` waits for its turn.
        let waiting = Atomic(0)
        let handOvers = Atomic(0)
        let stop = Atomic(false)
        let printed = ProgressMarker("pages printed")

        /// Thread `me` prints `pages` pages, one per turn.
        func printPages(_ pages: Int, as me: Int, manners: Manners) {
            let other = 1 - me
            printed.working {
                for _ in 0..<pages {
                    waiting.bitwiseOr(1 << me, ordering: .sequentiallyConsistent)
                    while !stop.load(ordering: .relaxed) {
                        let otherWaits = waiting.load(ordering: .sequentiallyConsistent) & (1 << other) != 0
                        guard turn.load(ordering: .sequentiallyConsistent) == me else {
                            // The turn is the other's; take it if the other does not want it.
                            if !otherWaits { turn.store(me, ordering: .sequentiallyConsistent) }
                            continue
                        }
                        if otherWaits && manners == .afterYou {
                            turn.store(other, ordering: .sequentiallyConsistent)
                            handOvers.add(1, ordering: .relaxed)
                            continue
                        }
                        // A page takes 20 µs to print.
                        let end = ContinuousClock.now + .microseconds(20)
                        while ContinuousClock.now < end {}
                        printed.tick()
                        waiting.bitwiseAnd(~(1 << me), ordering: .sequentiallyConsistent)
                        if otherWaits {
                            turn.store(other, ordering: .sequentiallyConsistent)
                            handOvers.add(1, ordering: .relaxed)
                        }
                        break
                    }
                }
            }
        }

        /// Runs both threads until each has printed `pages` pages or `patience` has run out.
        func run(pages: Int, manners: Manners, patience: Duration) -> Duration {
            let done = DispatchGroup()
            let start = ContinuousClock.now
            for me in 0..<2 {
                done.enter()
                startThread(named: "printer-\(me + 1)") {
                    self.printPages(pages, as: me, manners: manners)
                    done.leave()
                }
            }
            if done.wait(timeout: .now() + .milliseconds(Int(patience / .milliseconds(1)))) == .timedOut {
                stop.store(true, ordering: .relaxed)
                done.wait()
            }
            return ContinuousClock.now - start
        }
    }

    static func run() -> [String] {
        let reports = HazardCollector()
        HazardChecks.enable(reportingTo: .collect(into: reports), stallThreshold: stallThreshold)
        defer { HazardChecks.disable() }
        var out = [
            "livelock: two threads share a printer, one turn at a time, \(pagesEach.formatted()) pages of 20 µs each. Both are polite:",
            "  when the turn comes to a thread while the other waits too, it hands the turn over (\"after you\").",
            "  Once both wait, the turn goes back and forth for ever and nobody prints. Each page printed",
            "  ticks a ProgressMarker, which the checks watch (HazardChecks.enable, stall threshold \(Verdict.format(stallThreshold.seconds)) s).",
            "",
            "Polite (\"after you\"):",
        ]
        let polite = Printer()
        let elapsed = polite.run(pages: pagesEach, manners: .afterYou, patience: stallThreshold * 3)
        out.append(
            "  in \(Verdict.format(elapsed.seconds)) s the threads printed \(polite.printed.count.formatted()) of \((2 * pagesEach).formatted()) pages "
                + "and handed the turn over \(polite.handOvers.load(ordering: .relaxed).formatted()) times"
        )
        if let report = reports.reports.first(where: { $0.kind == .livelock }) {
            out.append("  The checks' watchdog names it:")
            out += report.description.split(separator: "\n").map { "    " + $0 }
        } else {
            out.append("  (no livelock report: the threads happened not to wait at the same time; run it again)")
        }
        let before = reports.reports.count
        let fixed = Printer()
        let fixedElapsed = fixed.run(pages: pagesEach, manners: .onePageThenHandOver, patience: .seconds(30))
        out.append("")
        out.append("Fixed: print one page, then hand the turn over if the other waits (progress before politeness):")
        out.append(
            "  the threads printed \(fixed.printed.count.formatted()) pages in \(Verdict.format(fixedElapsed.seconds)) s, taking turns "
                + "(\(fixed.handOvers.load(ordering: .relaxed).formatted()) hand-overs), and the checks report \(reports.reports.count == before ? "nothing" : "\(reports.reports.count - before) hazards")."
        )
        return out
    }
}
