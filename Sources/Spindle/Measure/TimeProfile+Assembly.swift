internal import Glibc

/// The exact totals of a measurement, from the kernel's accounting rather than from samples.
struct ExactTotals {
    var wallNanoseconds: UInt64
    var userMicroseconds: Int64
    var systemMicroseconds: Int64
    var maxResidentKilobytes: Int64 = 0
    var minorFaults: Int64 = 0
    var majorFaults: Int64 = 0
    var voluntarySwitches: Int64 = 0
    var involuntarySwitches: Int64 = 0
    var readBytes: UInt64 = 0
    var writeBytes: UInt64 = 0
    /// Where the CPU figures came from.
    var source: String
}

/// Machine-wide CPU counters at one instant, to tell how much CPU other processes took.
struct MachineSnapshot {
    var busyTicks: UInt64 = 0
    var stealTicks: UInt64 = 0

    static func now() -> MachineSnapshot {
        var reader = ProcReader()
        guard let bytes = reader.read("/proc/stat"), let ticks = MachineCPUTicks(bytes) else { return .init() }
        return MachineSnapshot(busyTicks: ticks.busy, stealTicks: ticks.steal)
    }
}

extension TimeProfile {
    /// Puts exact totals and a sampler's account together, and reads the verdict from them.
    init(
        command: [String]?,
        exit: ExitStatus?,
        totals: ExactTotals,
        callingThread: CPUTime? = nil,
        sampler: ThreadSampler,
        interval: Double,
        machineBefore: MachineSnapshot,
        machineAfter: MachineSnapshot,
        ownCPUSeconds: Double,
        stillRunning: [Int32] = [],
        stillRunningCount: Int = 0
    ) {
        let wall = Double(totals.wallNanoseconds) / 1e9
        let user = Double(totals.userMicroseconds) / 1e6
        let system = Double(totals.systemMicroseconds) / 1e6
        let cpus = AvailableCPUs.count
        let tick = 1 / Double(sysconf(Int32(_SC_CLK_TCK)))

        var total = ThreadTime.zero
        var threadsThatRan = 0
        var threadsThatWantedCPU = 0
        var threadsByProcess: [Int32: [ThreadSummary]] = [:]
        for track in sampler.threads.values {
            let summary = ThreadSummary(
                tid: track.tid,
                name: track.command,
                firstSeen: track.firstSeen,
                lastSeen: track.lastSeen,
                time: ThreadTime(
                    onCPU: Double(track.onCPU) / 1e9,
                    runQueue: Double(track.runQueue) / 1e9,
                    waits: track.waits.mapValues { Double($0) / 1e9 }
                )
            )
            let time = summary.time
            total = total + time
            if time.onCPU >= 0.1 * wall && time.onCPU > 0.01 { threadsThatRan += 1 }
            if time.onCPU + time.runQueue >= 0.2 * wall && time.onCPU > 0.01 { threadsThatWantedCPU += 1 }
            threadsByProcess[track.pid, default: []].append(summary)
        }
        let processes = sampler.processes.values.sorted { ($0.firstSeen, $0.pid) < ($1.firstSeen, $1.pid) }
            .map { process in
                let threads = (threadsByProcess[process.pid] ?? []).sorted {
                    ($0.firstSeen, $0.tid) < ($1.firstSeen, $1.tid)
                }
                return ProcessSummary(
                    pid: process.pid,
                    parent: process.parent,
                    name: process.command,
                    firstSeen: min(process.firstSeen, threads.map(\.firstSeen).min() ?? process.firstSeen),
                    lastSeen: process.lastSeen,
                    time: threads.map(\.time).reduce(.zero, +),
                    peakResidentBytes: process.peakResidentBytes,
                    threads: threads
                )
            }
        let breakdown = Breakdown(
            onCPU: total.onCPU,
            runQueue: total.runQueue,
            waits: total.waits,
            unsampledCPU: max(0, user + system - total.onCPU),
            peakRunnableThreads: sampler.timeline.map { $0.onCPU + $0.runQueue }.max() ?? 0
        )
        let busy = Double(machineAfter.busyTicks &- machineBefore.busyTicks) * tick
        let steal = Double(machineAfter.stealTicks &- machineBefore.stealTicks) * tick
        let otherCPU = max(0, busy - (user + system) - ownCPUSeconds)

        self.command = command
        self.exit = exit
        self.wall = wall
        cpusUsable = cpus
        cpu = CPUTime(
            user: user,
            system: system,
            total: user + system,
            perWall: wall > 0 ? (user + system) / wall : 0,
            source: totals.source
        )
        self.callingThread = callingThread
        self.breakdown = breakdown
        resources = Resources(
            maxResidentBytesOfOneProcess: Int(totals.maxResidentKilobytes) * 1024,
            peakResidentBytesSampled: sampler.timeline.map(\.residentBytes).max() ?? 0,
            minorFaults: Int(totals.minorFaults),
            majorFaults: Int(totals.majorFaults),
            voluntarySwitches: Int(totals.voluntarySwitches),
            involuntarySwitches: Int(totals.involuntarySwitches),
            readBytes: totals.readBytes,
            writeBytes: totals.writeBytes
        )
        var reader = ProcReader()
        let running = stillRunning.map { pid in
            let name = reader.read("/proc/\(pid)/comm").map { String(decoding: $0, as: UTF8.self) } ?? "?"
            return RunningProcess(pid: pid, name: name.hasSuffix("\n") ? String(name.dropLast()) : name)
        }
        population = Population(
            processesSeen: processes.count,
            threadsSeen: sampler.threads.count,
            peakProcesses: sampler.timeline.map(\.processes).max() ?? 0,
            peakThreads: sampler.timeline.map(\.threads).max() ?? 0,
            processes: processes,
            stillRunningCount: max(stillRunningCount, running.count),
            stillRunning: running
        )
        machine = Machine(cpusOnline: AvailableCPUs.onlineCount(), otherCPU: otherCPU, steal: steal)
        let samplerCPU = Double(sampler.ownCPUNanoseconds) / 1e9
        sampling = Sampling(
            interval: interval,
            samples: sampler.timeline.count,
            samplerCPU: samplerCPU,
            samplerShareOfOneCPU: wall > 0 ? samplerCPU / wall : 0,
            diskSource: "samples of threads in state D"
        )
        timeline = sampler.timeline
        verdict = TimeVerdict.decide(
            wall: wall,
            cpu: user + system,
            cpus: cpus,
            breakdown: breakdown,
            threadsThatRan: threadsThatRan,
            threadsThatWantedCPU: threadsThatWantedCPU,
            allowedCPUs: sampler.allowedCPUs.isEmpty ? cpus : sampler.allowedCPUs.count,
            otherCPU: otherCPU,
            steal: steal,
            samples: sampler.timeline.count
        )
        verdict.caveats = caveats()
    }

    /// The limits of the figures that apply to this run.
    private func caveats() -> [String] {
        var caveats: [String] = []
        if (breakdown.waits[.disk] ?? 0) >= 0.01 {
            caveats.append("disk wait is estimated from samples of threads in state D (CPU figures are exact)")
        }
        if breakdown.unsampledCPU >= max(0.02, 0.1 * cpu.total) && verdict.code != .tooShort {
            caveats.append(
                "\(format(breakdown.unsampledCPU)) s of CPU ran in processes or threads too short-lived to sample; the total is exact"
            )
        }
        if machine.steal >= 0.05 * wall && machine.steal > 0 {
            caveats.append(
                "the hypervisor took \(format(machine.steal)) s of CPU from this virtual machine (steal), which no thread's counters show"
            )
        }
        let starvedCodes: Set<TimeVerdict.Code> = [.starved, .starvedByOthers, .starvedByOwnThreads]
        if !starvedCodes.contains(verdict.code) && (verdict.metrics["run_queue_share"] ?? 0) >= 0.2
            && breakdown.runQueue >= 0.1 * wall
        {
            caveats.append(
                "threads also waited \(format(breakdown.runQueue)) s for a CPU, \(percent(verdict.metrics["run_queue_share"] ?? 0)) of the time they were ready to run"
            )
        }
        if verdict.code != .starvedByOthers && wall > 0 && machine.otherCPU / wall >= 0.2 {
            caveats.append("other processes used \(format(machine.otherCPU)) CPU-s meanwhile")
        }
        let running = population.stillRunningCount
        if running > 0 {
            let names = population.stillRunning.prefix(3).map { "\($0.name) (\($0.pid))" }.joined(separator: ", ")
            let verb = running == 1 ? "process was" : "processes were"
            caveats.append(
                "\(running) \(verb) still running when the command exited and not counted: \(names); --wait-all waits for them"
            )
        }
        if sampling.samplerShareOfOneCPU > 0.02 {
            caveats.append("sampling itself cost \(percent(sampling.samplerShareOfOneCPU)) of one CPU")
        }
        return caveats
    }
}
