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

    /// Measures what `body` costs this whole process (every thread, not just the caller's).
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
        /// The corresponding C function is `getrusage(RUSAGE_SELF)`.
        public static func now() -> Snapshot {
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            return Snapshot(
                wallNanoseconds: monotonicNanoseconds(),
                userMicroseconds: Int64(usage.ru_utime.tv_sec) * 1_000_000 + Int64(usage.ru_utime.tv_usec),
                systemMicroseconds: Int64(usage.ru_stime.tv_sec) * 1_000_000 + Int64(usage.ru_stime.tv_usec),
                voluntary: Int(usage.ru_nvcsw),
                involuntary: Int(usage.ru_nivcsw)
            )
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
