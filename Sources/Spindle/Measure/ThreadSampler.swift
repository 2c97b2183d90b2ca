internal import CSpindle
internal import Glibc

/// Samples the threads of a process tree (or of this process) from /proc, and keeps a running
/// account of where each thread's time went.
///
/// Per thread and interval, `schedstat` gives the exact time on a CPU and waiting in a run queue;
/// the rest of the interval the thread was off its CPU, and the state it is seen in at the end of
/// the interval (or the start, if it is running at the end) says why: D is disk, S is split by
/// ``WaitKind``. Samples never decide CPU time itself — only the kernel's counters do — because a
/// thread being woken on a halted virtual CPU shows as running while no counter moves.
///
/// Not thread-safe: one thread owns a sampler and calls ``sample()``.
final class ThreadSampler {
    /// Whose threads are sampled.
    enum Scope {
        /// Every descendant of `root`; `root`'s own threads are left out (a helper that only waits).
        case descendants(of: Int32)
        /// This process's threads, but for `excluding` (the sampling thread itself).
        case ownProcess(excluding: Int32)
    }

    let scope: Scope
    /// CLOCK_MONOTONIC at the start of the measurement, in nanoseconds.
    let startNanoseconds: UInt64
    private(set) var timeline: [TimelineSample] = []
    private(set) var threads: [ThreadKey: ThreadTrack] = [:]
    private(set) var processes: [Int32: ProcessTrack] = [:]
    /// CPU time the sampler itself has used, in nanoseconds.
    private(set) var ownCPUNanoseconds: UInt64 = 0
    /// What the last sample cost, in nanoseconds of the sampler's CPU.
    private(set) var lastSampleCost: UInt64 = 0
    /// Bytes read from and written to storage by the sampled processes, summed over the intervals.
    private(set) var ioDelta = ProcessIO()
    /// The union of the CPUs the sampled threads may run on.
    private(set) var allowedCPUs = Set<Int>()
    private var reader = ProcReader()
    private var lastSampleNanoseconds: UInt64
    private let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
    /// CLOCK_MONOTONIC minus CLOCK_BOOTTIME: turns a task's start time (since boot) into our clock.
    private let bootToMonotonic: Int64

    init(scope: Scope, startNanoseconds: UInt64 = monotonicNanoseconds()) {
        self.scope = scope
        self.startNanoseconds = startNanoseconds
        lastSampleNanoseconds = startNanoseconds
        var boot = timespec()
        clock_gettime(CLOCK_BOOTTIME, &boot)
        let bootNanoseconds = Int64(boot.tv_sec) * 1_000_000_000 + Int64(boot.tv_nsec)
        bootToMonotonic = Int64(monotonicNanoseconds()) - bootNanoseconds
    }

    /// Reads every thread now and adds one interval to the timeline.
    func sample() {
        let costStart = threadCPUNanoseconds()
        let now = monotonicNanoseconds()
        var interval = Interval(start: seconds(lastSampleNanoseconds), end: seconds(now))
        walk(now: now, into: &interval)
        // A reaped child's I/O is folded into its parent's counters: take out what was already
        // counted for children that vanished since the last sample, so it is not counted twice.
        for (pid, process) in processes where process.alive && process.lastSeen < interval.end {
            processes[pid]!.alive = false
            if let io = process.lastIO, processes[process.parent]?.alive == true {
                interval.readBytes = interval.readBytes > io.readBytes ? interval.readBytes - io.readBytes : 0
                interval.writeBytes = interval.writeBytes > io.writeBytes ? interval.writeBytes - io.writeBytes : 0
            }
        }
        ioDelta.readBytes &+= interval.readBytes
        ioDelta.writeBytes &+= interval.writeBytes
        if interval.end > interval.start { timeline.append(interval.sample()) }
        lastSampleNanoseconds = now
        lastSampleCost = threadCPUNanoseconds() &- costStart
        ownCPUNanoseconds &+= lastSampleCost
    }

    /// The time to wait before the next sample: `requested`, or longer when sampling has become
    /// expensive (a huge tree), so that the sampler stays at or under 2 % of one CPU.
    func nextInterval(requested: UInt64) -> UInt64 {
        max(requested, lastSampleCost * 50)
    }

    /// Seconds since the start of the measurement.
    func seconds(_ nanoseconds: UInt64) -> Double {
        Double(Int64(bitPattern: nanoseconds &- startNanoseconds)) / 1e9
    }

    // MARK: - Walking the tree

    private func walk(now: UInt64, into interval: inout Interval) {
        switch scope {
        case .ownProcess(let excluded):
            let pid = getpid()
            visit(
                process: pid,
                threads: ProcReader.numericEntries("/proc/\(pid)/task"),
                skippingThread: excluded,
                now: now,
                interval: &interval
            )
        case .descendants(let root):
            var stack = children(of: root, threads: ProcReader.numericEntries("/proc/\(root)/task"))
            var visited = Set<Int32>()
            while let pid = stack.popLast() {
                guard visited.insert(pid).inserted else { continue }
                // One listing of the task folder serves both the threads and their children.
                let tids = ProcReader.numericEntries("/proc/\(pid)/task")
                visit(process: pid, threads: tids, skippingThread: nil, now: now, interval: &interval)
                stack += children(of: pid, threads: tids)
            }
        }
    }

    /// The child processes that the threads `tids` of `pid` started.
    private func children(of pid: Int32, threads tids: [Int32]) -> [Int32] {
        var result: [Int32] = []
        for tid in tids {
            guard let bytes = reader.read("/proc/\(pid)/task/\(tid)/children") else { continue }
            for field in bytes.split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\n") }) {
                if let child = parseDecimal(field) { result.append(Int32(truncatingIfNeeded: child)) }
            }
        }
        return result
    }

    private func visit(
        process pid: Int32,
        threads tids: [Int32],
        skippingThread excluded: Int32?,
        now: UInt64,
        interval: inout Interval
    ) {
        guard !tids.isEmpty else { return }
        let tidSet = Set(tids)
        var process = processes[pid] ?? newProcess(pid, at: interval.end)
        process.lastSeen = interval.end
        var liveThreads = 0
        for tid in tids where tid != excluded {
            let base = "/proc/\(pid)/task/\(tid)"
            guard let statBytes = reader.read(base + "/stat"), let stat = TaskStat(statBytes),
                stat.state != UInt8(ascii: "Z"),
                let schedBytes = reader.read(base + "/schedstat"), let sched = TaskSchedStat(schedBytes)
            else { continue }
            if process.command.isEmpty {
                process.command = stat.command
                process.parent = stat.parent
            }
            let key = ThreadKey(tid: tid, startTicks: stat.startTicks)
            liveThreads += 1
            var track = threads[key] ?? newTrack(key: key, pid: pid, stat: stat, sched: sched, now: now)
            let elapsed = now &- track.lastReading
            let run = sched.runNanoseconds &- track.lastRun
            let wait = sched.waitNanoseconds &- track.lastWait
            let off = elapsed > run &+ wait ? elapsed - run - wait : 0
            let kind =
                reader.currentWait(stat: stat, pid: pid, tid: tid, threadsOfProcess: tidSet) ?? track.lastWaitKind
            track.onCPU &+= run
            track.runQueue &+= wait
            if off > 0 { track.waits[kind ?? .other, default: 0] &+= off }
            track.lastWaitKind = kind
            track.lastRun = sched.runNanoseconds
            track.lastWait = sched.waitNanoseconds
            track.lastReading = now
            track.lastSeen = interval.end
            track.command = stat.command
            threads[key] = track
            interval.add(run: run, wait: wait, off: off, kind: kind ?? .other, elapsed: elapsed)
            noteAffinity(of: tid)
        }
        if let bytes = reader.read("/proc/\(pid)/io"), let io = ProcessIO(bytes) {
            if let last = process.lastIO {
                interval.readBytes &+= io.readBytes &- last.readBytes
                interval.writeBytes &+= io.writeBytes &- last.writeBytes
            }
            process.lastIO = io
        }
        if let resident = reader.read("/proc/\(pid)/statm").flatMap(parseResidentBytes(statm:)) {
            interval.residentBytes += resident
            process.peakResidentBytes = max(process.peakResidentBytes, resident)
        }
        processes[pid] = process
        interval.processes += 1
        interval.threads += liveThreads
    }

    private func newProcess(_ pid: Int32, at time: Double) -> ProcessTrack {
        var process = ProcessTrack(pid: pid, firstSeen: time)
        // Every process of a measured tree was born during the measurement: its I/O counts from 0.
        if case .descendants = scope { process.lastIO = ProcessIO() }
        return process
    }

    private func newTrack(key: ThreadKey, pid: Int32, stat: TaskStat, sched: TaskSchedStat, now: UInt64)
        -> ThreadTrack
    {
        let bornNanoseconds = Int64(Double(stat.startTicks) / ticksPerSecond * 1e9) + bootToMonotonic
        // A thread born during the measurement counts from its birth; one that already existed
        // (this process's own threads) counts from the first reading.
        let bornDuring = bornNanoseconds >= Int64(startNanoseconds) - 10_000_000
        let born = UInt64(max(bornNanoseconds, Int64(startNanoseconds)))
        return ThreadTrack(
            tid: key.tid,
            pid: pid,
            command: stat.command,
            firstSeen: seconds(min(born, now)),
            lastSeen: seconds(now),
            lastReading: bornDuring ? min(born, now) : now,
            lastRun: bornDuring ? 0 : sched.runNanoseconds,
            lastWait: bornDuring ? 0 : sched.waitNanoseconds
        )
    }

    /// Adds the CPUs thread `tid` may run on to those the command may use.
    private func noteAffinity(of tid: Int32) {
        allowedCPUs.formUnion(AvailableCPUs.allowed(forThread: tid))
    }
}

/// A thread, told apart from a later thread that reuses its id by its start time.
struct ThreadKey: Hashable {
    var tid: Int32
    var startTicks: UInt64
}

/// What the sampler knows about one thread.
struct ThreadTrack {
    var tid: Int32
    var pid: Int32
    var command: String
    var firstSeen: Double
    var lastSeen: Double
    var lastReading: UInt64
    var lastRun: UInt64
    var lastWait: UInt64
    var onCPU: UInt64 = 0
    var runQueue: UInt64 = 0
    var waits: [WaitKind: UInt64] = [:]
    var lastWaitKind: WaitKind?
}

/// What the sampler knows about one process.
struct ProcessTrack {
    var pid: Int32
    var parent: Int32 = 0
    var command = ""
    var firstSeen: Double
    var lastSeen: Double = 0
    var peakResidentBytes = 0
    var lastIO: ProcessIO?
    var alive = true

    init(pid: Int32, firstSeen: Double) {
        self.pid = pid
        self.firstSeen = firstSeen
        lastSeen = firstSeen
    }
}

/// One interval being summed up, thread by thread.
private struct Interval {
    var start: Double
    var end: Double
    var onCPU: UInt64 = 0
    var runQueue: UInt64 = 0
    var waits: [WaitKind: UInt64] = [:]
    var processes = 0
    var threads = 0
    var readBytes: UInt64 = 0
    var writeBytes: UInt64 = 0
    var residentBytes = 0

    init(start: Double, end: Double) {
        self.start = start
        self.end = end
    }

    /// Adds one thread's share. The kernel books a run-queue wait when the wait ends, so a thread
    /// that waited seconds for a CPU shows it all in one interval; on the timeline a thread counts
    /// at most once per interval (`elapsed`), while its totals keep the whole wait.
    mutating func add(run: UInt64, wait: UInt64, off: UInt64, kind: WaitKind, elapsed: UInt64) {
        let shownRun = min(run, elapsed)
        onCPU &+= shownRun
        runQueue &+= min(wait, elapsed - shownRun)
        if off > 0 { waits[kind, default: 0] &+= off }
    }

    func sample() -> TimelineSample {
        let length = end - start
        func average(_ nanoseconds: UInt64) -> Double { Double(nanoseconds) / 1e9 / length }
        return TimelineSample(
            start: start,
            end: end,
            onCPU: average(onCPU),
            runQueue: average(runQueue),
            waits: waits.mapValues(average),
            processes: processes,
            threads: threads,
            readBytesPerSecond: Double(readBytes) / length,
            writeBytesPerSecond: Double(writeBytes) / length,
            residentBytes: residentBytes
        )
    }
}
