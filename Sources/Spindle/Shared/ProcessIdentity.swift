internal import Glibc

/// A process named so that a reused pid cannot pass for it: its pid and its start time, packed in
/// one 64-bit word so that shared memory can hold it in one atomic store (a torn pair could make a
/// live process look dead).
///
/// The start time is field 22 of `/proc/PID/stat`, in clock ticks since boot: a pid the kernel hands
/// out again belongs to a process that started later. Pids are below 2^22 (the kernel's limit for
/// `pid_max`), so the pid takes the low 22 bits and the start time the other 42: at 100 ticks a
/// second, 1,394 years of uptime. Zero means nobody.
struct ProcessIdentity: Hashable {
    let packed: UInt64

    init(packed: UInt64) { self.packed = packed }

    init?(pid: Int32, startTicks: UInt64) {
        guard pid > 0, pid < 1 << 22, startTicks < 1 << 42 else { return nil }
        packed = startTicks << 22 | UInt64(pid)
    }

    var pid: Int32 { Int32(packed & (1 << 22 - 1)) }
    var startTicks: UInt64 { packed >> 22 }

    /// The calling process, or `nil` where `/proc` cannot tell its start time.
    ///
    /// Read once per process: the cache is keyed by pid, so a forked child reads its own.
    static var current: ProcessIdentity? {
        let pid = getpid()
        return cache.withLock { cached in
            if let cached, cached.pid == pid { return cached.identity }
            let identity = startTicks(of: pid).flatMap { ProcessIdentity(pid: pid, startTicks: $0) }
            cached = (pid, identity)
            return identity
        }
    }

    private static let cache = Locked<(pid: Int32, identity: ProcessIdentity?)?>(nil)

    /// What `/proc` says about this process now.
    enum Liveness {
        /// It runs (or sleeps, or is stopped).
        case alive
        /// It has exited, is a zombie waiting to be reaped, or its pid now names a later process.
        case dead
        /// `/proc` would not say (no permission, say): to be treated as alive.
        case unknown
    }

    /// Whether the process still runs: a zombie counts as dead, and so does a pid reused by a
    /// process that started later.
    var liveness: Liveness {
        var reader = ProcReader(capacity: 1024)
        guard let bytes = reader.read("/proc/\(pid)/stat") else {
            return errno == ENOENT || errno == ESRCH ? .dead : .unknown
        }
        guard let stat = TaskStat(bytes) else { return .unknown }
        if stat.startTicks != startTicks { return .dead }
        return stat.state == UInt8(ascii: "Z") || stat.state == UInt8(ascii: "X") ? .dead : .alive
    }

    /// A process's start time in clock ticks since boot, from `/proc/PID/stat`.
    private static func startTicks(of pid: Int32) -> UInt64? {
        var reader = ProcReader(capacity: 1024)
        return reader.read("/proc/\(pid)/stat").flatMap(TaskStat.init).map(\.startTicks)
    }
}
