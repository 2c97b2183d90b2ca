internal import CSpindle
internal import Glibc

/// Wall time and CPU time of this process over an interval: what `/usr/bin/time` prints, read correctly.
///
/// CPU seconds per wall second (``cpuPerWall``) is the number to read: about 1 means one busy core,
/// below 1 means the process was mostly waiting, about N means N cores were saturated. On Linux
/// the user+system total is exact; the split between them is sampled at the scheduler tick.
///
/// ```swift
/// let (sum, usage) = try await ResourceUsage.measure {
///     try await collect(pool.map(Work(), 0..<64)).reduce(0, +)
/// }
/// print(usage.cpuPerWall)     // ≈ 2.0 on two saturated cores
/// ```
public struct ResourceUsage: Sendable, Hashable, Codable {
    /// Elapsed real time.
    public var wall: Duration
    /// CPU time spent running the program's own code, all threads together.
    public var user: Duration
    /// CPU time the kernel spent on the program's behalf (system calls, page faults).
    public var system: Duration
    /// How often a thread gave up the CPU to wait (I/O, a lock, a sleep).
    public var voluntaryContextSwitches: Int
    /// How often a thread was preempted while it still wanted to run: a sign of more runnable
    /// threads than CPUs.
    public var involuntaryContextSwitches: Int

    /// Creates a usage record from its parts.
    public init(
        wall: Duration,
        user: Duration,
        system: Duration,
        voluntaryContextSwitches: Int = 0,
        involuntaryContextSwitches: Int = 0
    ) {
        self.wall = wall
        self.user = user
        self.system = system
        self.voluntaryContextSwitches = voluntaryContextSwitches
        self.involuntaryContextSwitches = involuntaryContextSwitches
    }

    /// User plus system time.
    public var cpu: Duration { user + system }

    /// CPU seconds per wall second: ≈1 one busy core, <1 waiting, ≈N N cores saturated. 0 when no time passed.
    public var cpuPerWall: Double {
        let wallSeconds = wall.seconds
        return wallSeconds > 0 ? cpu.seconds / wallSeconds : 0
    }

    /// Measures what `body` costs this whole process (every thread, not just the caller's), plus
    /// the child processes it reaped meanwhile: a ``ProcessPool``'s workers count once the pool
    /// has shut down.
    public static func measure<T>(_ body: () async throws -> T) async rethrows -> (result: T, usage: ResourceUsage) {
        let start = Snapshot.now()
        let result = try await body()
        return (result, Snapshot.now().usage(since: start))
    }

    /// This process's clocks at one instant; subtract two to get a ``ResourceUsage``.
    public struct Snapshot: Sendable, Hashable {
        let wallNanoseconds: UInt64
        let userMicroseconds: Int64
        let systemMicroseconds: Int64
        let voluntary: Int
        let involuntary: Int

        /// The clocks now.
        ///
        /// CPU times include the child processes reaped so far.
        ///
        /// The corresponding C functions are `getrusage(RUSAGE_SELF)` and `getrusage(RUSAGE_CHILDREN)`.
        public static func now() -> Snapshot {
            var own = rusage()
            var children = rusage()
            getrusage(RUSAGE_SELF.rawValue, &own)
            getrusage(RUSAGE_CHILDREN.rawValue, &children)
            return Snapshot(own, plus: children)
        }

        /// The calling thread's own clocks (`getrusage(RUSAGE_THREAD)`).
        static func callingThread() -> Snapshot {
            var own = rusage()
            spindle_thread_rusage(&own)
            return Snapshot(own)
        }

        /// This process's clocks without its children (`getrusage(RUSAGE_SELF)`).
        static func thisProcess() -> Snapshot {
            var own = rusage()
            getrusage(RUSAGE_SELF.rawValue, &own)
            return Snapshot(own)
        }

        private init(_ usage: rusage, plus more: rusage = rusage()) {
            wallNanoseconds = monotonicNanoseconds()
            userMicroseconds = usage.ru_utime.microseconds + more.ru_utime.microseconds
            systemMicroseconds = usage.ru_stime.microseconds + more.ru_stime.microseconds
            voluntary = Int(usage.ru_nvcsw + more.ru_nvcsw)
            involuntary = Int(usage.ru_nivcsw + more.ru_nivcsw)
        }

        /// What passed between `earlier` and this snapshot.
        public func usage(since earlier: Snapshot) -> ResourceUsage {
            ResourceUsage(
                wall: .nanoseconds(Int64(wallNanoseconds &- earlier.wallNanoseconds)),
                user: .microseconds(userMicroseconds - earlier.userMicroseconds),
                system: .microseconds(systemMicroseconds - earlier.systemMicroseconds),
                voluntaryContextSwitches: voluntary - earlier.voluntary,
                involuntaryContextSwitches: involuntary - earlier.involuntary
            )
        }
    }
}

extension timeval {
    /// The time in whole microseconds.
    var microseconds: Int64 { Int64(tv_sec) * 1_000_000 + Int64(tv_usec) }
}
