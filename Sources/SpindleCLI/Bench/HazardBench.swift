import Spindle
import Synchronization

/// `spindle bench --only hazards`: what a ``CheckedLock`` costs, uncontended, against
/// `Synchronization.Mutex`: with the checks off (the goal is within 1.2×), and with them on, alone
/// and nested inside another checked lock (the lock-order graph is consulted, then remembered per
/// thread); what a fair lock costs uncontended; and how long a polite thread takes for its turns
/// against a greedy one, behind a plain lock and behind a fair one (``StarvationDemo``'s contest).
enum HazardBench {
    static func run(rounds: Int = 7) -> [[String]] {
        LockBenchmark.startIdleThread()
        let mutex = Mutex(0)
        let checked = CheckedLock(0, name: "bench")
        let outer = CheckedLock(0, name: "outer")
        let fair = CheckedLock(0, name: "fair", fair: true)
        var best = [Double](repeating: .infinity, count: 5)
        for _ in 0..<rounds {
            HazardChecks.disable()
            best[0] = min(best[0], LockBenchmark.nanosecondsPerPair { mutex.withLock { $0 &+= 1 } })
            best[1] = min(best[1], LockBenchmark.nanosecondsPerPair { checked.withLock { $0 &+= 1 } })
            best[4] = min(best[4], LockBenchmark.nanosecondsPerPair { fair.withLock { $0 &+= 1 } })
            HazardChecks.enable(reportingTo: .log)
            best[2] = min(best[2], LockBenchmark.nanosecondsPerPair { checked.withLock { $0 &+= 1 } })
            best[3] = outer.withLock { _ in
                min(best[3], LockBenchmark.nanosecondsPerPair { checked.withLock { $0 &+= 1 } })
            }
        }
        HazardChecks.disable()
        return LockBenchmark.rows(
            "checked lock, uncontended",
            [
                ("Synchronization.Mutex", best[0], ""), ("CheckedLock, checks off", best[1], "≤ ×1.2"),
                ("CheckedLock, checks on", best[2], "(report)"),
                ("  … inside another checked lock", best[3], "(report)"),
                ("CheckedLock(fair: true), checks off", best[4], "(report)"),
            ]
        ) + starvationRows()
    }

    /// The polite thread's turns beside the greedy one, plain lock then fair lock, best of three.
    static func starvationRows() -> [[String]] {
        let cpus = AvailableCPUs.allowedForCallingThread()
        let placement = cpus.count >= 2 ? (greedy: cpus[0], polite: cpus[1]) : nil
        var best = [0.0, 0.0]
        for _ in 0..<3 {
            for (index, fair) in [false, true].enumerated() {
                let contest = StarvationDemo.contend(CheckedLock(0, fair: fair), placement: placement)
                best[index] = max(best[index], Double(contest.politeTurns) / contest.elapsed.seconds)
            }
        }
        func row(_ what: String, _ index: Int, ratio: String) -> [String] {
            [
                index == 0 ? "starvation: polite thread's turns" : "", what, Verdict.format(best[index]) + " /s", ratio,
                "",
            ]
        }
        return [
            row("plain lock, greedy neighbour", 0, ratio: ""),
            row("fair lock, greedy neighbour", 1, ratio: "×" + Verdict.format(best[1] / max(best[0], 1e-9))),
        ]
    }
}
