internal import Glibc

/// Finds progress markers that stopped advancing while threads work toward them, and tells from
/// the threads' scheduler statistics why: busy (livelock), blocked (hang) or runnable but not
/// running (CPU starvation).
///
/// Each look (the watchdog's, four per threshold) notes every watched marker's count; when the
/// count moves, the marker's window starts again, with a reading of its threads' `schedstat`
/// (time on a CPU and waiting in a run queue, in nanoseconds, exact). When a window reaches the
/// stall threshold, the threads' time over it is split into running, waiting for a CPU and off
/// a CPU, and the split decides the verdict. A stall is reported once; the marker is judged
/// afresh once it moves again.
final class StallWatch: Sendable {
    static let shared = StallWatch()

    /// One marker's current window: since the last time its count moved.
    private struct Window {
        let count: Int
        let start: UInt64
        /// The first reading of each thread in the window, and when it was taken.
        var readings: [Int32: (at: UInt64, sched: TaskSchedStat)] = [:]
        var reported = false
        /// CPU nanoseconds the threads spent per tick in the windows before: what one step of
        /// progress costs, once known.
        var cpuPerTick: Double?
    }

    private struct State {
        var markers: [Int: ProgressMarker] = [:]
        var windows: [Int: Window] = [:]
    }
    private let state = Locked(State(), checked: false)

    func watch(_ marker: ProgressMarker) {
        state.withLock { $0.markers[marker.id] = marker }
    }

    /// What one tick of `marker` cost in CPU nanoseconds, as far as the watch has seen.
    func cpuPerTick(of marker: ProgressMarker) -> Double? {
        state.withLock { $0.windows[marker.id]?.cpuPerTick }
    }

    func forget(_ marker: ProgressMarker) {
        state.withLock {
            $0.markers[marker.id] = nil
            $0.windows[marker.id] = nil
        }
    }

    /// Looks at every watched marker; returns the reports of the stalls found, each once.
    func findStalls(threshold: Duration, lockWaits: [Int32: DeadlockWatchdog.Wait]) -> [HazardReport] {
        let markers = state.withLock { Array($0.markers.values) }.sorted { $0.id < $1.id }
        var reader = ProcReader(capacity: 1024)
        let pid = getpid()
        var reports: [HazardReport] = []
        for marker in markers {
            let workers = marker.workers
            guard !workers.isEmpty else { continue }
            let count = marker.count
            let now = monotonicNanoseconds()
            var window = state.withLock { $0.windows[marker.id] }
            if let previous = window, previous.count != count {
                var next = Window(count: count, start: now)
                // The cheapest a tick has been: waiting (spinning, say) can make some dearer.
                let latest = cpuPerTick(since: previous, ticks: count - previous.count, pid: pid, reader: &reader)
                next.cpuPerTick = [latest, previous.cpuPerTick].compactMap { $0 }.min()
                window = next
            } else if window == nil {
                window = Window(count: count, start: now)
            }
            guard var window else { continue }
            for worker in workers where window.readings[worker.id] == nil {
                if let sched = reader.read("/proc/\(pid)/task/\(worker.id)/schedstat").flatMap(TaskSchedStat.init) {
                    window.readings[worker.id] = (now, sched)
                }
            }
            if !window.reported, now - window.start >= threshold.clampedNanoseconds {
                window.reported = true
                if let report = judge(
                    marker,
                    workers,
                    window,
                    now: now,
                    pid: pid,
                    reader: &reader,
                    lockWaits: lockWaits
                ) {
                    reports.append(report)
                }
            }
            state.withLock { state in
                if state.markers[marker.id] != nil { state.windows[marker.id] = window }
            }
        }
        return reports
    }

    /// The CPU time the threads of `window` spent since it began, per tick made meanwhile; or what
    /// the window knew already when that cannot be read.
    private func cpuPerTick(since window: Window, ticks: Int, pid: Int32, reader: inout ProcReader) -> Double? {
        guard ticks > 0, !window.readings.isEmpty else { return window.cpuPerTick }
        var cpu: UInt64 = 0
        for (tid, first) in window.readings {
            if let sched = reader.read("/proc/\(pid)/task/\(tid)/schedstat").flatMap(TaskSchedStat.init) {
                cpu &+= sched.runNanoseconds &- first.sched.runNanoseconds
            }
        }
        return Double(cpu) / Double(ticks)
    }

    /// What the marker's threads did over the window.
    private struct ThreadShare {
        let name: String
        let seconds: Double
        let running: Double
        var waitingForCPU: Double
        var blockedOn: String?

        var off: Double { max(0, 1 - running - waitingForCPU) }
    }

    private func judge(
        _ marker: ProgressMarker,
        _ workers: [(id: Int32, name: String)],
        _ window: Window,
        now: UInt64,
        pid: Int32,
        reader: inout ProcReader,
        lockWaits: [Int32: DeadlockWatchdog.Wait]
    ) -> HazardReport? {
        let threadsOfProcess = Set(ProcReader.numericEntries("/proc/\(pid)/task"))
        var shares: [ThreadShare] = []
        for worker in workers {
            guard let first = window.readings[worker.id], now > first.at,
                let sched = reader.read("/proc/\(pid)/task/\(worker.id)/schedstat").flatMap(TaskSchedStat.init)
            else { continue }
            let elapsed = Double(now - first.at)
            var share = ThreadShare(
                name: worker.name,
                seconds: elapsed / 1e9,
                running: min(1, Double(sched.runNanoseconds &- first.sched.runNanoseconds) / elapsed),
                waitingForCPU: min(1, Double(sched.waitNanoseconds &- first.sched.waitNanoseconds) / elapsed)
            )
            if let lockWait = lockWaits[worker.id] {
                let holder = lockWait.lock.owner.load(ordering: .relaxed)
                let holderName = holder == 0 ? nil : ThreadLocks.thread(holder)?.name ?? "thread \(holder)"
                share.blockedOn =
                    "waits for the checked lock `\(lockWait.lock.name)` at \(lockWait.site)"
                    + (holderName.map { ", which thread \($0) holds" } ?? "")
            } else if let stat = reader.read("/proc/\(pid)/task/\(worker.id)/stat").flatMap(TaskStat.init) {
                if let kind = reader.currentWait(
                    stat: stat,
                    pid: pid,
                    tid: worker.id,
                    threadsOfProcess: threadsOfProcess
                ) {
                    share.blockedOn = Self.phrase(kind)
                } else if stat.state == UInt8(ascii: "R") {
                    // schedstat adds a wait in the run queue only when it ends, as the thread gets
                    // a CPU: a runnable thread's time off a CPU is a wait for one still going on.
                    share.waitingForCPU = 1 - share.running
                }
            }
            shares.append(share)
        }
        guard !shares.isEmpty else { return nil }
        let count = Double(shares.count)
        let running = shares.map(\.running).reduce(0, +) / count
        let waitingForCPU = shares.map(\.waitingForCPU).reduce(0, +) / count
        let off = max(0, 1 - running - waitingForCPU)
        let seconds = formatFixed((Double(now - window.start) / 1e9), digits: 1)
        let who = shares.count == 1 ? "its thread" : "its \(shares.count) threads"
        let cpuSpent = shares.map { $0.running * $0.seconds * 1e9 }.reduce(0, +)
        // Threads seldom off a CPU were busy or wanted to be. On a CPU half the time or more is
        // busy. Below that, whether they were busy without progress (livelock) or had too little
        // CPU to progress (starved of it) is told by what a tick cost before: ten ticks' worth of
        // CPU spent without one is busy. Before the first ticks it is a guess: a tenth of the time
        // on a CPU, or 10 ms of CPU per thread, is busy.
        let busy: Bool
        if running >= 0.5 {
            busy = true
        } else if let cpuPerTick = window.cpuPerTick {
            busy = cpuSpent >= max(10 * cpuPerTick, 1e6)
        } else {
            busy = running >= 0.1 || cpuSpent / count >= 10e6
        }
        let kind: HazardReport.Kind
        let summary: String
        if off < 0.5 && busy {
            kind = .livelock
            summary =
                "`\(marker.name)` has not advanced in \(seconds) s, yet \(who) kept running (\(percent(running)) of the time on a CPU"
                + (waitingForCPU >= 0.2 ? ", \(percent(waitingForCPU)) waiting for one" : "") + "): "
                + "busy without progress, a livelock or a spin (threads that keep retrying, yielding to each other, or polling)"
        } else if waitingForCPU >= off {
            kind = .cpuStarvation
            summary =
                "`\(marker.name)` has not advanced in \(seconds) s: \(who) were ready to run but waited for a CPU \(percent(waitingForCPU)) of the time "
                + "and ran \(percent(running)): starved of CPU (more runnable threads than CPUs, or a low priority)"
        } else {
            kind = .hang
            summary =
                "`\(marker.name)` has not advanced in \(seconds) s, and \(who) were blocked (off a CPU \(percent(off)) of the time): "
                + "a hang, such as a deadlock or a wait for a wake-up that never comes"
        }
        let details = shares.map { share in
            "thread \(share.name): on a CPU \(percent(share.running)), waiting for a CPU \(percent(share.waitingForCPU)), "
                + "off a CPU \(percent(share.off)) over \(formatFixed(share.seconds, digits: 1)) s"
                + (share.blockedOn.map { "; now it \($0)" } ?? "")
        }
        return HazardReport(kind: kind, summary: summary, details: details, locks: [], threads: shares.map(\.name))
    }

    private func percent(_ share: Double) -> String { "\(Int((share * 100).rounded())) %" }

    /// What a thread blocked in `kind` does, after "now it".
    static func phrase(_ kind: WaitKind) -> String {
        switch kind {
        case .disk: "waits for the disk"
        case .lock: "waits for a lock"
        case .condition: "waits for a signal (a condition variable, a semaphore, a futex)"
        case .sleep: "sleeps"
        case .pipe: "waits on a pipe"
        case .network: "waits on a socket"
        case .terminal: "waits for input from a terminal"
        case .poll: "waits in poll or epoll"
        case .children: "waits for a child process"
        case .join: "waits for another thread to finish"
        case .other: "is blocked"
        }
    }
}
