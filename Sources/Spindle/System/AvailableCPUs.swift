internal import CSpindle
internal import Glibc

/// How many CPUs this process may use: its affinity mask, capped by a cgroup CPU quota when one is set.
///
/// This is the default worker count of a pool, the "N" in "CPU seconds per wall second ≈ N means N
/// cores saturated". `nproc`-style counting (online CPUs) over-counts inside containers and under
/// `taskset`, which is why both limits are read.
public enum AvailableCPUs {
    /// The CPUs this process may run on, capped by its cgroup quota, at least 1.
    public static var count: Int {
        let affinity = affinityCount() ?? onlineCount()
        guard let quota = cgroupQuota() else { return max(1, affinity) }
        return max(1, min(affinity, quota))
    }

    /// The number of CPUs in this process's affinity mask, or `nil` when it cannot be read.
    ///
    /// The corresponding C function is `sched_getaffinity`.
    static func affinityCount() -> Int? {
        let count = spindle_affinity_count()
        return count > 0 ? Int(count) : nil
    }

    static func onlineCount() -> Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// The numbers of the CPUs the calling thread may run on (its affinity mask), lowest first.
    public static func allowedForCallingThread() -> [Int] {
        allowed(forThread: 0)
    }

    /// The numbers of the CPUs thread `tid` (0: the calling thread) may run on, lowest first;
    /// empty when its mask cannot be read.
    static func allowed(forThread tid: Int32) -> [Int] {
        var mask = [UInt64](repeating: 0, count: 16)
        guard spindle_thread_affinity(tid, &mask, Int32(mask.count)) > 0 else { return [] }
        return (0..<(mask.count * 64)).filter { mask[$0 / 64] & (1 << UInt64($0 % 64)) != 0 }
    }

    /// Keeps the calling thread on CPU number `cpu` from now on (`sched_setaffinity`): for
    /// experiments and demos that must place threads, such as a waiter on another CPU than the
    /// thread it waits for.
    ///
    /// - Throws: ``SpindleError/Code/systemError`` when the CPU is not one the thread may use.
    public static func pinCallingThread(to cpu: Int) throws(SpindleError) {
        guard spindle_pin_to_cpu(Int32(cpu)) == 0 else { throw .system("sched_setaffinity to CPU \(cpu)", errno) }
    }

    /// The tightest cgroup CPU quota on the way from this process's cgroup up to the root, rounded
    /// up to whole CPUs, or `nil` when none is set.
    ///
    /// A quota may sit on an ancestor rather than on the process's own group: a systemd slice's
    /// `CPUQuota=`, a Kubernetes pod around its containers. Each level caps everything below it.
    static func cgroupQuota() -> Int? {
        let membership = readSmallFile("/proc/self/cgroup") ?? ""
        var tightest: Int?
        func consider(_ cpus: Int?) {
            guard let cpus else { return }
            tightest = min(tightest ?? cpus, cpus)
        }
        for line in membership.split(separator: "\n") {
            // "0::/path" is cgroup v2; "N:cpu,cpuacct:/path" is the v1 cpu controller.
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            for path in selfAndAncestors(of: String(fields[2])) {
                if fields[1].isEmpty {
                    for root in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
                        consider(readSmallFile("\(root)\(path)/cpu.max").flatMap(parseCPUMax))
                    }
                } else if fields[1].split(separator: ",").contains("cpu") {
                    for root in ["/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpu"] {
                        if let quota = readSmallFile("\(root)\(path)/cpu.cfs_quota_us"),
                            let period = readSmallFile("\(root)\(path)/cpu.cfs_period_us")
                        {
                            consider(quotaCPUs(quota: quota, period: period))
                        }
                    }
                }
            }
        }
        return tightest
    }

    /// "/a/b" → ["/a/b", "/a", ""]: a cgroup path and every group above it ("" is the root).
    static func selfAndAncestors(of path: String) -> [String] {
        var components = path.split(separator: "/").map(String.init)
        var paths: [String] = []
        while true {
            paths.append(components.isEmpty ? "" : "/" + components.joined(separator: "/"))
            guard !components.isEmpty else { return paths }
            components.removeLast()
        }
    }

    /// Parses cgroup v2 `cpu.max` ("max 100000" or "150000 100000") into whole CPUs.
    static func parseCPUMax(_ text: String) -> Int? {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard parts.count >= 2 else { return nil }
        return quotaCPUs(quota: String(parts[0]), period: String(parts[1]))
    }

    /// A quota over a period, rounded up to whole CPUs; `nil` for "max", -1 or nonsense.
    static func quotaCPUs(quota: String, period: String) -> Int? {
        let trimmedQuota = quota.filter { !$0.isWhitespace }
        let trimmedPeriod = period.filter { !$0.isWhitespace }
        guard let q = Int(trimmedQuota), let p = Int(trimmedPeriod), q > 0, p > 0 else { return nil }
        return q / p + (q % p == 0 ? 0 : 1)  // rounds up without overflowing near Int.max
    }
}
