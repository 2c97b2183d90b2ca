internal import CSpindle
internal import Glibc

/// Reads and parses the /proc files that tell what a process and its threads are doing.
///
/// Every read opens, reads and closes the file: the cost is a few microseconds per file, and no
/// descriptor is held between samples (a tree of a thousand threads would otherwise need two
/// thousand). One reader owns one scratch buffer, so a reader belongs to one thread at a time.
struct ProcReader {
    private var buffer: [UInt8]

    /// A reader for files of up to `capacity` bytes; longer files are cut there.
    init(capacity: Int = 8192) {
        buffer = [UInt8](repeating: 0, count: capacity)
    }

    /// The bytes of `path`, or `nil` when it cannot be read (the task is gone, or no permission).
    /// The result is valid until the next read.
    mutating func read(_ path: String) -> ArraySlice<UInt8>? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var total = 0
        while total < buffer.count {
            let n = buffer.withUnsafeMutableBytes { readRetrying(fd, $0.baseAddress! + total, $0.count - total) }
            guard n > 0 else { break }
            total += n
        }
        return total > 0 ? buffer[..<total] : nil
    }

    /// The numbers in the directory `path` (pids in /proc, tids in /proc/PID/task).
    static func numericEntries(_ path: String) -> [Int32] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var entries: [Int32] = []
        while let entry = readdir(directory) {
            let value = withUnsafeBytes(of: entry.pointee.d_name) { name -> Int32? in
                var number: Int32 = 0
                for byte in name {
                    if byte == 0 { break }
                    guard byte >= 48 && byte <= 57 else { return nil }
                    number = number &* 10 &+ Int32(byte - 48)
                }
                return name.first == 0 ? nil : number
            }
            if let value { entries.append(value) }
        }
        return entries
    }

    /// Where `/proc/PID/fd/FD` points ("pipe:[123]", "socket:[456]", "/dev/pts/0"), or `nil`.
    static func descriptorTarget(pid: Int32, fd: Int) -> String? {
        var target = [CChar](repeating: 0, count: 256)
        let n = readlink("/proc/\(pid)/fd/\(fd)", &target, target.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: target[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Resident memory in bytes from `/proc/PID/statm` ("size resident shared ..." in pages).
func parseResidentBytes(statm bytes: ArraySlice<UInt8>) -> Int? {
    let fields = bytes.split(separator: UInt8(ascii: " "))
    guard fields.count > 1, let pages = parseDecimal(fields[1]) else { return nil }
    return Int(pages) * systemPageSize
}

/// The resident bytes of a process that are its own, from the text of `/proc/PID/statm`: resident
/// minus shared (file pages, such as its program's code, and shared memory it maps, such as a
/// `SharedArray` its caller made).
func parsePrivateResidentBytes(statm bytes: ArraySlice<UInt8>) -> Int? {
    let fields = bytes.split(separator: UInt8(ascii: " "))
    guard fields.count > 2, let resident = parseDecimal(fields[1]), let shared = parseDecimal(fields[2]) else {
        return nil
    }
    return Int(resident > shared ? resident - shared : 0) * systemPageSize
}

/// The size of a memory page.
let systemPageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

/// The fields of `/proc/PID/task/TID/stat` that the sampler uses.
struct TaskStat: Equatable {
    /// R running or runnable, S sleeping, D uninterruptible (usually disk), Z zombie, T stopped, I idle kernel thread.
    var state: UInt8
    var parent: Int32
    var command: String
    /// Clock ticks (USER_HZ) since boot when the task started.
    var startTicks: UInt64
    /// Clock ticks spent blocked on block I/O; stays 0 unless `kernel.task_delayacct` is 1.
    var blockIOTicks: UInt64

    /// Parses a stat line. The command sits in parentheses and may itself hold spaces and
    /// parentheses, so the fields are counted from the last ")".
    init?(_ bytes: ArraySlice<UInt8>) {
        guard let open = bytes.firstIndex(of: UInt8(ascii: "(")),
            let close = bytes.lastIndex(of: UInt8(ascii: ")")), close > open
        else { return nil }
        command = String(decoding: bytes[(open + 1)..<close], as: UTF8.self)
        var fields: [ArraySlice<UInt8>] = []
        fields.reserveCapacity(40)
        for field in bytes[(close + 1)...].split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true) {
            fields.append(field)
        }
        // fields[0] is field 3 of proc(5): state; [1] ppid; [19] starttime (22); [39] blkio (42).
        guard fields.count >= 20, let first = fields[0].first else { return nil }
        state = first
        parent = Int32(truncatingIfNeeded: parseDecimal(fields[1]) ?? 0)
        startTicks = parseDecimal(fields[19]) ?? 0
        blockIOTicks = fields.count > 39 ? parseDecimal(fields[39]) ?? 0 : 0
    }
}

/// `/proc/PID/task/TID/schedstat`: the kernel's exact count of a thread's time on a CPU and
/// waiting in a run queue (CONFIG_SCHED_INFO).
struct TaskSchedStat: Equatable {
    var runNanoseconds: UInt64
    var waitNanoseconds: UInt64
    var timeslices: UInt64

    init?(_ bytes: ArraySlice<UInt8>) {
        let fields = bytes.split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\n") })
        guard fields.count >= 3, let run = parseDecimal(fields[0]), let wait = parseDecimal(fields[1]),
            let slices = parseDecimal(fields[2])
        else { return nil }
        runNanoseconds = run
        waitNanoseconds = wait
        timeslices = slices
    }
}

extension TaskSchedStat {
    /// The calling thread's, from `/proc/thread-self/schedstat`; nil when it cannot be read.
    static func callingThread() -> TaskSchedStat? {
        var reader = ProcReader(capacity: 128)
        return reader.read("/proc/thread-self/schedstat").flatMap(TaskSchedStat.init)
    }
}

/// The peak resident memory of this process so far (`VmHWM` in `/proc/self/status`), in bytes;
/// 0 when it cannot be read.
package func peakResidentBytes() -> Int {
    var reader = ProcReader()
    guard let status = reader.read("/proc/self/status") else { return 0 }
    let line = status.split(separator: UInt8(ascii: "\n")).first { $0.starts(with: "VmHWM:".utf8) }
    return line.flatMap { parseDecimal($0.filter { $0 >= 48 && $0 <= 57 }) }.map { Int($0) * 1024 } ?? 0
}

/// Starts the kernel's count of peak resident memory afresh, from the current resident size
/// (writes 5 to `/proc/self/clear_refs`).
package func resetPeakResident() {
    let fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else { return }
    _ = write(fd, "5", 1)
    close(fd)
}

/// `/proc/PID/io`: bytes that reached the storage layer, and bytes passed to read/write calls.
struct ProcessIO: Equatable {
    var readBytes: UInt64 = 0
    var writeBytes: UInt64 = 0
    var readChars: UInt64 = 0
    var writeChars: UInt64 = 0

    init() {}

    init?(_ bytes: ArraySlice<UInt8>) {
        var found = 0
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let key = String(decoding: line[..<colon], as: UTF8.self)
            guard let value = parseDecimal(line[(colon + 1)...].drop(while: { $0 == UInt8(ascii: " ") })) else {
                continue
            }
            switch key {
            case "read_bytes": readBytes = value
            case "write_bytes": writeBytes = value
            case "rchar": readChars = value
            case "wchar": writeChars = value
            default: continue
            }
            found += 1
        }
        if found == 0 { return nil }
    }
}

/// A blocked thread's system call, from `/proc/PID/task/TID/syscall`: its number and arguments.
struct TaskSyscall: Equatable {
    var number: Int
    var arguments: [UInt64]

    /// `nil` for "running", for a thread that is not in a system call ("-1 ..."), or for garbage.
    init?(_ bytes: ArraySlice<UInt8>) {
        let fields = bytes.split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\n") })
        guard let first = fields.first, let number = parseDecimal(first) else { return nil }
        self.number = Int(number)
        arguments = fields.dropFirst().prefix(6).map { field in
            let digits = field.starts(with: "0x".utf8) ? field.dropFirst(2) : field[...]
            return parseHexadecimal(digits) ?? 0
        }
    }
}

/// The machine-wide CPU counters of the first line of `/proc/stat`, in clock ticks (USER_HZ).
struct MachineCPUTicks: Equatable {
    /// Ticks some CPU spent running anything (user, nice, system, irq, softirq).
    var busy: UInt64
    /// Ticks the hypervisor ran something else while a virtual CPU wanted to run (steal).
    var steal: UInt64

    init?(_ bytes: ArraySlice<UInt8>) {
        guard let line = bytes.split(separator: UInt8(ascii: "\n")).first, line.starts(with: "cpu ".utf8) else {
            return nil
        }
        let values = line.dropFirst(4).split(separator: UInt8(ascii: " ")).compactMap { parseDecimal($0) }
        guard values.count >= 8 else { return nil }
        // user nice system idle iowait irq softirq steal
        busy = values[0] + values[1] + values[2] + values[5] + values[6]
        steal = values[7]
    }
}

/// Parses an unsigned decimal number; `nil` for an empty or non-numeric field.
func parseDecimal(_ bytes: some Collection<UInt8>) -> UInt64? {
    guard !bytes.isEmpty else { return nil }
    var value: UInt64 = 0
    for byte in bytes {
        guard byte >= 48 && byte <= 57 else { return nil }
        value = value &* 10 &+ UInt64(byte - 48)
    }
    return value
}

/// Parses an unsigned hexadecimal number without its "0x"; `nil` for an empty or invalid field.
func parseHexadecimal(_ bytes: some Collection<UInt8>) -> UInt64? {
    guard !bytes.isEmpty else { return nil }
    var value: UInt64 = 0
    for byte in bytes {
        let digit: UInt8
        switch byte {
        case 48...57: digit = byte - 48
        case 97...102: digit = byte - 87
        case 65...70: digit = byte - 55
        default: return nil
        }
        value = value &<< 4 | UInt64(digit)
    }
    return value
}
