/// What a thread that was off its CPU was waiting for.
///
/// Decided, for a sleeping thread, from the system call it is blocked in (`/proc/TID/syscall`) and,
/// for calls on a descriptor, from what the descriptor is (`/proc/PID/fd/N`); the kernel function it
/// sleeps in (`/proc/TID/wchan`) is the fallback where the call cannot be read. A thread in
/// uninterruptible sleep (state D) counts as waiting on disk.
public enum WaitKind: String, Sendable, Codable, CaseIterable, Comparable {
    /// Blocked on storage: uninterruptible sleep (state D), such as a read that missed the page cache.
    case disk
    /// Waiting to take a lock another thread holds (a contended mutex).
    case lock
    /// Waiting for a signal that has not come: a condition variable, a semaphore, an idle worker.
    case condition
    /// Sleeping for a set time (`sleep`, `nanosleep`).
    case sleep
    /// Reading from or writing to a pipe.
    case pipe
    /// Waiting on a socket.
    case network
    /// Waiting for input from a terminal.
    case terminal
    /// Waiting in `poll`, `select` or `epoll` for any of several descriptors: an event loop.
    case poll
    /// A parent waiting for its child processes to exit (`wait`): structure, not a bottleneck.
    case children
    /// A thread waiting for another thread to finish (`pthread_join`): structure, not a bottleneck.
    case join
    /// Anything else, including waits that could not be read.
    case other

    /// Waits that only mirror work done elsewhere (a parent waiting for its children, a thread
    /// joining another): they never make a program slow on their own, so verdicts ignore them.
    public var isStructural: Bool { self == .children || self == .join }

    /// A short name for tables and charts.
    public var label: String {
        switch self {
        case .disk: "disk I/O"
        case .children: "waiting on children"
        case .join: "joining threads"
        default: rawValue
        }
    }

    public static func < (lhs: WaitKind, rhs: WaitKind) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

extension WaitKind {
    /// Classifies a blocked system call; `descriptorTarget` tells what a descriptor argument is,
    /// `isThreadOfProcess` whether a number is the id of a thread in the same process.
    static func classify(
        _ call: TaskSyscall,
        descriptorTarget: (Int) -> String?,
        isThreadOfProcess: (UInt64) -> Bool
    ) -> WaitKind {
        let numbers = SyscallNumbers.current
        let arguments = call.arguments + Array(repeating: 0, count: max(0, 3 - call.arguments.count))
        switch call.number {
        case numbers.futex:
            return classifyFutex(operation: arguments[1], expected: arguments[2], isThreadOfProcess: isThreadOfProcess)
        case numbers.futexWaitv: return .condition
        case numbers.wait4, numbers.waitid: return .children
        case numbers.nanosleep, numbers.clockNanosleep: return .sleep
        case _ where numbers.polls.contains(call.number): return .poll
        case _ where numbers.descriptorCalls.contains(call.number):
            return classifyDescriptor(descriptorTarget(Int(arguments[0])))
        default: return .other
        }
    }

    /// A futex wait is a lock when it is a priority-inheritance lock or waits for the value 2
    /// (glibc's and most other mutexes mark "locked, with waiters" so); a join when the value is
    /// the id of a thread of the same process (glibc's `pthread_join` waits on the joined thread's
    /// tid field); otherwise a condition (condition variables, semaphores, idle pools).
    static func classifyFutex(operation: UInt64, expected: UInt64, isThreadOfProcess: (UInt64) -> Bool) -> WaitKind {
        let command = operation & 0x7f  // without FUTEX_PRIVATE_FLAG and FUTEX_CLOCK_REALTIME
        let lockPI: UInt64 = 6
        let lockPI2: UInt64 = 13
        if command == lockPI || command == lockPI2 { return .lock }
        if expected == 2 { return .lock }
        if expected > 2 && isThreadOfProcess(expected) { return .join }
        return .condition
    }

    /// A read or write blocks on what its descriptor is.
    static func classifyDescriptor(_ target: String?) -> WaitKind {
        guard let target else { return .other }
        if target.hasPrefix("pipe:") { return .pipe }
        if target.hasPrefix("socket:") { return .network }
        if target.hasPrefix("/dev/pts/") || target.hasPrefix("/dev/tty") || target == "/dev/console" {
            return .terminal
        }
        if target.hasPrefix("anon_inode:[eventfd") { return .condition }
        if target.hasPrefix("/") { return .disk }
        return .other
    }

    /// Classifies by the kernel function a thread sleeps in, for when its system call is unreadable;
    /// `nil` for "0", a thread that is running again.
    static func classify(kernelFunction name: String) -> WaitKind? {
        if name.isEmpty || name == "0" { return nil }
        if name.hasPrefix("futex") { return .lock }
        if name == "do_wait" { return .children }
        if name.contains("nanosleep") { return .sleep }
        if name.contains("pipe") { return .pipe }
        if name.hasPrefix("sk_") || name.hasPrefix("inet_") || name.hasPrefix("unix_") || name.hasPrefix("tcp_") {
            return .network
        }
        if name.contains("poll") || name.contains("select") { return .poll }
        if name.contains("tty") { return .terminal }
        return .other
    }
}

/// The system call numbers the classification needs, for this machine's architecture.
struct SyscallNumbers {
    var futex, futexWaitv, wait4, waitid, nanosleep, clockNanosleep: Int
    var polls: Set<Int>
    var descriptorCalls: Set<Int>

    #if arch(x86_64)
    static let current = SyscallNumbers(
        futex: 202,
        futexWaitv: 449,
        wait4: 61,
        waitid: 247,
        nanosleep: 35,
        clockNanosleep: 230,
        // poll, select, pselect6, ppoll, epoll_wait, epoll_pwait, epoll_pwait2
        polls: [7, 23, 270, 271, 232, 281, 441],
        // read, write, pread64, pwrite64, readv, writev, accept, connect, sendto, recvfrom,
        // sendmsg, recvmsg, splice, accept4, preadv, pwritev
        descriptorCalls: [0, 1, 17, 18, 19, 20, 43, 42, 44, 45, 46, 47, 275, 288, 295, 296]
    )
    #elseif arch(arm64)
    static let current = SyscallNumbers(
        futex: 98,
        futexWaitv: 449,
        wait4: 260,
        waitid: 95,
        nanosleep: 101,
        clockNanosleep: 115,
        // pselect6, ppoll, epoll_pwait, epoll_pwait2
        polls: [72, 73, 22, 441],
        // read, write, readv, writev, pread64, pwrite64, accept, connect, sendto, recvfrom,
        // sendmsg, recvmsg, splice, accept4, preadv, pwritev
        descriptorCalls: [63, 64, 65, 66, 67, 68, 202, 203, 206, 207, 211, 212, 76, 242, 69, 70]
    )
    #else
    static let current = SyscallNumbers(
        futex: -1,
        futexWaitv: -1,
        wait4: -1,
        waitid: -1,
        nanosleep: -1,
        clockNanosleep: -1,
        polls: [],
        descriptorCalls: []
    )
    #endif
}

extension ProcReader {
    /// What the thread `tid` of process `pid` waits for now, from its `stat` and, when it sleeps,
    /// its blocked system call; `nil` when it is running (or woke between the reads).
    mutating func currentWait(stat: TaskStat, pid: Int32, tid: Int32, threadsOfProcess: Set<Int32>) -> WaitKind? {
        switch stat.state {
        case UInt8(ascii: "D"): return .disk
        case UInt8(ascii: "S"):
            let base = "/proc/\(pid)/task/\(tid)"
            if let bytes = read(base + "/syscall"), let call = TaskSyscall(bytes) {
                return WaitKind.classify(
                    call,
                    descriptorTarget: { ProcReader.descriptorTarget(pid: pid, fd: $0) },
                    isThreadOfProcess: { threadsOfProcess.contains(Int32(truncatingIfNeeded: $0)) }
                )
            }
            // Unreadable, or the thread woke between the reads: it is running again.
            guard let bytes = read(base + "/wchan") else { return nil }
            return WaitKind.classify(kernelFunction: String(decoding: bytes, as: UTF8.self))
        case UInt8(ascii: "T"), UInt8(ascii: "t"): return .other
        default: return nil
        }
    }
}
