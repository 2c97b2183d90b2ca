import Spindle
import Synchronization

/// `spindle bench --only hazards`: what a ``CheckedLock`` costs, uncontended, against
/// `Synchronization.Mutex`: with the checks off (the goal is within 1.2×), and with them on, alone
/// and nested inside another checked lock (the lock-order graph is consulted, then remembered per
/// thread).
enum HazardBench {
    static func run(rounds: Int = 7) -> [[String]] {
        LockBenchmark.startIdleThread()
        let mutex = Mutex(0)
        let checked = CheckedLock(0, name: "bench")
        let outer = CheckedLock(0, name: "outer")
        var best = [Double](repeating: .infinity, count: 4)
        for _ in 0..<rounds {
            HazardChecks.disable()
            best[0] = min(best[0], LockBenchmark.nanosecondsPerPair { mutex.withLock { $0 &+= 1 } })
            best[1] = min(best[1], LockBenchmark.nanosecondsPerPair { checked.withLock { $0 &+= 1 } })
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
            ]
        )
    }
}
