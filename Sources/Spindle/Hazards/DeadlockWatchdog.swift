internal import Glibc

/// Finds deadlocks that really happen (and, on the same thread, starvation: ``StarvationWatch``):
/// threads blocked in a cycle, each waiting for a checked lock
/// that the next one holds, for longer than the threshold (the wait-for graph, as Java's
/// `ThreadMXBean.findDeadlockedThreads` has it).
///
/// Threads record their waits here (only checks-on acquisitions that had to wait); a thread of its
/// own looks four times per threshold and reports each cycle once, when two looks in a row find it.
final class DeadlockWatchdog: Sendable {
    static let shared = DeadlockWatchdog()

    /// A thread waiting for a lock: which, since when (monotonic nanoseconds), from where, and how
    /// many times the lock had been taken when the wait began.
    struct Wait: Sendable {
        let lock: LockIdentity
        let since: UInt64
        let site: CallSite
        let acquisitionsBefore: Int
    }

    private struct State {
        var waits: [Int32: Wait] = [:]
        var reported: Set<Set<Int32>> = []
        /// Cycles seen in the last scan, by their threads and when each began to wait: a cycle is
        /// reported only when the next scan sees the very same waits again.
        var candidates: Set<[CycleMember]> = []
        var started = false
    }

    /// One thread of a cycle, and when its wait began: the same wait in two scans is still the
    /// same wait, while a thread that got its lock and waits again has a new `since`.
    private struct CycleMember: Hashable {
        let thread: Int32
        let since: UInt64
    }
    private let state = Locked(State(), checked: false)

    func reset() {
        state.withLock { $0.reported = [] }
    }

    /// Records that the thread `id` starts waiting for `lock`.
    func beginWait(thread id: Int32, for lock: LockIdentity, at site: CallSite) {
        let acquisitions = lock.acquisitions.load(ordering: .relaxed)
        state.withLock {
            $0.waits[id] = Wait(lock: lock, since: monotonicNanoseconds(), site: site, acquisitionsBefore: acquisitions)
        }
    }

    /// The threads waiting now, and what for.
    var waits: [Int32: Wait] { state.withLock { $0.waits } }

    /// Records that the thread `id` no longer waits.
    func endWait(thread id: Int32) {
        state.withLock { $0.waits[id] = nil }
    }

    /// Starts the watchdog's thread, once.
    func start() {
        let startNow = state.withLock { state -> Bool in
            defer { state.started = true }
            return !state.started
        }
        guard startNow else { return }
        do {
            try startDetachedThread(name: "spindle-hazards") { [self] in watch() }
        } catch {
            state.withLock { $0.started = false }
            writeToStandardError("spindle: cannot start the deadlock watchdog: \(error)\n")
        }
    }

    private func watch() {
        while true {
            let threshold = HazardChecks.deadlockThreshold
            let stallThreshold = HazardChecks.stallThreshold
            usleep(UInt32(min(min(threshold, stallThreshold).clampedNanoseconds / 4_000, 1_000_000)))
            guard HazardChecks.isEnabled else { continue }
            // One snapshot of the waits for every check of this look.
            let waits = waits
            for report in findDeadlocks(in: waits, olderThan: threshold.clampedNanoseconds) {
                HazardChecks.report(report)
            }
            for report in StarvationWatch.shared.findStarvedThreads(waiting: waits) {
                HazardChecks.report(report)
            }
            for report in StallWatch.shared.findStalls(threshold: stallThreshold, lockWaits: waits) {
                HazardChecks.report(report)
            }
        }
    }

    /// The cycles of `waits` in which every wait is older than `threshold` nanoseconds and which the
    /// previous scan saw too, each reported once.
    ///
    /// The waits are a snapshot but the owners are read live, so one scan can stitch together a
    /// cycle that never existed (a waiter that got its lock meanwhile now owns it). A real deadlock
    /// stays put: requiring the same cycle, with the same waits, in two scans a quarter threshold
    /// apart rules such phantoms out.
    func findDeadlocks(in waits: [Int32: Wait], olderThan threshold: UInt64) -> [HazardReport] {
        let now = monotonicNanoseconds()
        func waited(_ wait: Wait) -> UInt64 { now > wait.since ? now - wait.since : 0 }
        var found: Set<[CycleMember]> = []
        var reports: [HazardReport] = []
        for (start, wait) in waits where waited(wait) >= threshold {
            // Follow waiter → holder of the lock it wants → the lock that one wants → …
            var chain = [start]
            var current = wait
            while true {
                let holder = current.lock.owner.load(ordering: .relaxed)
                guard holder != 0, let next = waits[holder], waited(next) >= threshold else { break }
                if let loopStart = chain.firstIndex(of: holder) {
                    let cycle = Array(chain[loopStart...])
                    // One form per cycle, whichever thread it was entered by.
                    let members = cycle.map { CycleMember(thread: $0, since: waits[$0]?.since ?? 0) }
                        .sorted { $0.thread < $1.thread }
                    found.insert(members)
                    let confirmed = state.withLock { state in
                        state.candidates.contains(members) && state.reported.insert(Set(cycle)).inserted
                    }
                    if confirmed { reports.append(report(cycle, waits, now: now)) }
                    break
                }
                chain.append(holder)
                current = next
            }
        }
        state.withLock { $0.candidates = found }
        return reports
    }

    private func report(_ cycle: [Int32], _ waits: [Int32: Wait], now: UInt64) -> HazardReport {
        var details: [String] = []
        var threads: [String] = []
        var locks: [String] = []
        for id in cycle {
            guard let wait = waits[id] else { continue }
            let thread = ThreadLocks.thread(id)
            let name = thread?.name ?? "thread \(id)"
            threads.append(name)
            locks.append(wait.lock.name)
            let holds = (thread?.held ?? []).map { "`\($0.lock.name)` (taken at \($0.site))" }
            let waited = Duration.nanoseconds(now > wait.since ? now - wait.since : 0)
            details.append(
                "thread \(name) holds \(holds.isEmpty ? "no checked lock" : holds.joined(separator: ", ")) "
                    + "and has waited \(formatFixed(waited.seconds, digits: 2)) s for `\(wait.lock.name)` at \(wait.site)"
            )
        }
        let summary =
            cycle.count == 1
            ? "thread \(threads[0]) waits for a lock it holds itself: it can never go on"
            : "\(cycle.count) threads wait for each other in a cycle (\(threads.joined(separator: " → ")) → \(threads[0])): none can go on"
        return HazardReport(
            kind: .deadlock,
            summary: summary,
            details: details,
            locks: locks,
            threads: threads
        )
    }
}
