/// Where the wall time of a command, or of a block of code, went: exact totals, a breakdown of
/// every thread's time by state, a timeline, and a verdict in plain words.
///
/// `spindle time -- CMD` prints one (``CommandTimer``); ``TimeProfile/measure(interval:_:)`` makes one
/// for a block of code in this process. All times are in seconds. Thread-seconds add up over
/// threads: two threads busy for one second are 2 thread-seconds on CPU in one second of wall.
public struct TimeProfile: Sendable, Codable, Hashable {
    /// The version of this layout, for readers of the JSON.
    public static let currentSchema = "spindle.time/1"

    /// Always ``currentSchema`` for profiles this version makes.
    public var schema = TimeProfile.currentSchema
    /// The command and its arguments; `nil` for a block of code measured in-process.
    public var command: [String]?
    /// How the command ended; `nil` in-process.
    public var exit: ExitStatus?
    /// Elapsed real time.
    public var wall: Double
    /// The CPUs this process may use (affinity mask, capped by a cgroup quota).
    public var cpusUsable: Int
    /// CPU time of the whole command tree (or of this whole process), exact.
    public var cpu: CPUTime
    /// CPU time of the calling thread alone; only for a synchronous block measured in-process.
    public var callingThread: CPUTime?
    /// Every sampled thread's time, by state, in thread-seconds.
    public var breakdown: Breakdown
    /// Memory, faults, context switches and I/O.
    public var resources: Resources
    /// Processes and threads seen.
    public var population: Population
    /// What the rest of the machine did meanwhile.
    public var machine: Machine
    /// How the breakdown was sampled, and what sampling cost.
    public var sampling: Sampling
    /// The breakdown interval by interval, as average threads in each state.
    public var timeline: [TimelineSample]
    /// The plain-words reading of the figures, and the figures that decided it.
    public var verdict: TimeVerdict

    /// How a timed command ended.
    public struct ExitStatus: Sendable, Codable, Hashable {
        /// The exit code, when it exited.
        public var code: Int32?
        /// The signal that killed it, when one did.
        public var signal: Int32?
        /// The status `spindle time` exits with: the code, or 128 + the signal. (A command that cannot
        /// start throws instead; the CLI exits 127 when it was not found, 126 when it cannot run.)
        public var shellStatus: Int32
    }

    /// User, system and total CPU time, and CPU seconds per wall second.
    public struct CPUTime: Sendable, Codable, Hashable {
        public var user: Double
        public var system: Double
        /// User + system: exact (the kernel's `sum_exec_runtime`); the split is sampled at the tick.
        public var total: Double
        /// ≈1: one busy core; <1: waiting; ≈N: N cores saturated.
        public var perWall: Double
        /// Where the figure came from.
        public var source: String

    }

    /// Thread-seconds by state over every sampled thread, and what sampling could not see.
    ///
    /// Reads like the ``ThreadTime`` it holds: `breakdown.onCPU`, `breakdown.waits[.lock]`.
    @dynamicMemberLookup
    public struct Breakdown: Sendable, Codable, Hashable {
        /// On a CPU and waiting for one (schedstat, exact per thread), and off it by kind of wait
        /// (sampled state).
        public var time: ThreadTime
        /// CPU the exact total has but no sample saw: processes and threads too short-lived to sample.
        public var unsampledCPU: Double
        /// The largest number of threads that were runnable (on a CPU or waiting for one) on average over an interval.
        public var peakRunnableThreads: Double

        /// Creates a breakdown from its parts.
        public init(
            onCPU: Double,
            runQueue: Double,
            waits: [WaitKind: Double],
            unsampledCPU: Double,
            peakRunnableThreads: Double
        ) {
            time = ThreadTime(onCPU: onCPU, runQueue: runQueue, waits: waits)
            self.unsampledCPU = unsampledCPU
            self.peakRunnableThreads = peakRunnableThreads
        }

        public subscript<T>(dynamicMember keyPath: KeyPath<ThreadTime, T>) -> T { time[keyPath: keyPath] }
    }

    /// Memory, faults, switches and I/O of the command tree.
    public struct Resources: Sendable, Codable, Hashable {
        /// Peak resident memory of the largest single process (rusage `ru_maxrss`).
        public var maxResidentBytesOfOneProcess: Int
        /// Peak of the whole tree's resident memory at one sample (approximate).
        public var peakResidentBytesSampled: Int
        public var minorFaults: Int
        public var majorFaults: Int
        public var voluntarySwitches: Int
        public var involuntarySwitches: Int
        /// Bytes read from storage (`read_bytes`: page-cache misses and direct I/O).
        public var readBytes: UInt64
        /// Bytes written to storage (`write_bytes`).
        public var writeBytes: UInt64
    }

    /// Processes and threads the sampler saw.
    public struct Population: Sendable, Codable, Hashable {
        public var processesSeen: Int
        public var threadsSeen: Int
        public var peakProcesses: Int
        public var peakThreads: Int
        /// Per-process figures, in order of first sight.
        public var processes: [ProcessSummary]
        /// How many descendants were still running when the command exited; they are not counted
        /// in the totals (``CommandTimer/Options/waitsForOrphans`` waits for them).
        public var stillRunningCount: Int
        /// The first of them.
        public var stillRunning: [RunningProcess]
    }

    /// A process by pid and name.
    public struct RunningProcess: Sendable, Codable, Hashable {
        public var pid: Int32
        public var name: String
    }

    /// One process of the tree.
    public struct ProcessSummary: Sendable, Codable, Hashable {
        public var pid: Int32
        public var parent: Int32
        public var name: String
        public var firstSeen: Double
        public var lastSeen: Double
        /// The sum over its threads.
        public var time: ThreadTime
        public var peakResidentBytes: Int
        public var threads: [ThreadSummary]
    }

    /// One thread of a process.
    public struct ThreadSummary: Sendable, Codable, Hashable {
        public var tid: Int32
        public var name: String
        public var firstSeen: Double
        public var lastSeen: Double
        public var time: ThreadTime
    }

    /// The rest of the machine during the measurement.
    public struct Machine: Sendable, Codable, Hashable {
        /// CPUs online.
        public var cpusOnline: Int
        /// CPU seconds that other processes used (machine busy time minus ours), from /proc/stat.
        public var otherCPU: Double
        /// CPU seconds the hypervisor gave to someone else while a virtual CPU wanted to run.
        public var steal: Double
    }

    /// How sampling went.
    public struct Sampling: Sendable, Codable, Hashable {
        /// The requested interval between samples.
        public var interval: Double
        public var samples: Int
        /// CPU time the sampler used.
        public var samplerCPU: Double
        /// The sampler's CPU as a share of one CPU over the wall time.
        public var samplerShareOfOneCPU: Double
        /// Where the disk wait came from.
        public var diskSource: String
    }
}

/// Thread-seconds by state: on a CPU, ready but waiting for one, and off it by kind of wait. The
/// unit of every breakdown — per thread, per process, and over the whole run — so sums add up.
public struct ThreadTime: Sendable, Codable, Hashable {
    /// On a CPU (schedstat, exact per thread).
    public var onCPU: Double
    /// Ready to run but waiting for a CPU (schedstat run-queue delay, exact per thread).
    public var runQueue: Double
    /// Off the CPU, by what the thread waited for (sampled state).
    public var waits: [WaitKind: Double]

    /// No time at all.
    public static let zero = ThreadTime(onCPU: 0, runQueue: 0, waits: [:])

    /// Creates a record from its parts.
    public init(onCPU: Double, runQueue: Double, waits: [WaitKind: Double]) {
        self.onCPU = onCPU
        self.runQueue = runQueue
        self.waits = waits
    }

    /// The time of both, state by state.
    public static func + (lhs: ThreadTime, rhs: ThreadTime) -> ThreadTime {
        ThreadTime(
            onCPU: lhs.onCPU + rhs.onCPU,
            runQueue: lhs.runQueue + rhs.runQueue,
            waits: lhs.waits.merging(rhs.waits, uniquingKeysWith: +)
        )
    }

    /// Off-CPU time that is not structural (a parent waiting for children, a join).
    public var nonStructuralWaits: Double {
        waits.filter { !$0.key.isStructural }.values.reduce(0, +)
    }

    /// The kind of wait with the most time, if any has at least `minimum` seconds; ties go to the
    /// kind listed first in ``WaitKind``. Structural waits count only when `structural` is true.
    public func largestWait(structural: Bool = true, minimum: Double = 0.005) -> WaitKind? {
        waits.filter { $0.value >= minimum && $0.value > 0 && (structural || !$0.key.isStructural) }
            .max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }?.key
    }
}

/// One interval of the timeline: how many threads, on average, were in each state.
public struct TimelineSample: Sendable, Codable, Hashable {
    /// Seconds since the start.
    public var start: Double
    public var end: Double
    public var onCPU: Double
    public var runQueue: Double
    public var waits: [WaitKind: Double]
    public var processes: Int
    public var threads: Int
    public var readBytesPerSecond: Double
    public var writeBytesPerSecond: Double
    public var residentBytes: Int
}

extension WaitKind: CodingKeyRepresentable {}

extension TimeProfile.CPUTime {
    /// The CPU figures of a ``ResourceUsage``.
    init(_ usage: ResourceUsage, source: String) {
        self.init(
            user: usage.user.seconds,
            system: usage.system.seconds,
            total: usage.cpu.seconds,
            perWall: usage.cpuPerWall,
            source: source
        )
    }
}
