internal import CSpindle
internal import Glibc

/// Runs a command and tells where its wall time went: what `spindle time -- CMD` does.
///
/// The command runs below a small helper process that is a child subreaper, so the whole tree
/// — children, grandchildren, and orphans whose parent exited — stays below the helper, apart from
/// anything else this process runs. The totals are exact: the helper's `RUSAGE_CHILDREN` covers
/// every process it reaped. The breakdown comes from sampling the tree's threads in /proc.
///
/// ```swift
/// let profile = try CommandTimer.run(["make", "-j4"])
/// print(profile.verdict.text)    // "parallel: 3.1 of 4 CPUs busy"
/// ```
public enum CommandTimer {
    /// How to run and sample the command.
    public struct Options: Sendable {
        /// Time between samples; at least 10 ms. Sampling backs off when one sample costs more than
        /// 2 % of the interval, so the sampler stays near or under 2 % of one CPU.
        public var interval: Duration = .milliseconds(50)
        /// Wait for descendants that outlive the command (orphans) and count them; otherwise stop
        /// when the command exits and name them as still running.
        public var waitsForOrphans = false
        /// Ignore SIGINT and SIGQUIT in this process while the command runs, as a shell's `time`
        /// does, so that Ctrl-C stops the command and the report still appears. The command gets
        /// the dispositions this process had before.
        public var ignoresInterrupts = false

        /// Creates options; the defaults suit most commands.
        public init(
            interval: Duration = .milliseconds(50),
            waitsForOrphans: Bool = false,
            ignoresInterrupts: Bool = false
        ) {
            self.interval = interval
            self.waitsForOrphans = waitsForOrphans
            self.ignoresInterrupts = ignoresInterrupts
        }
    }

    /// Runs `arguments` (the command, searched in PATH when it has no "/", then its arguments)
    /// with this process's standard input, output, error and environment, and measures it.
    ///
    /// - Returns: the profile; its ``TimeProfile/exit`` tells how the command ended.
    /// - Throws: ``SpindleError/Code/commandNotFound``, ``SpindleError/Code/commandNotRunnable``,
    ///   ``SpindleError/Code/invalidArgument`` for an empty command, or a system error.
    public static func run(_ arguments: [String], options: Options = .init()) throws(SpindleError) -> TimeProfile {
        guard let name = arguments.first, !name.isEmpty else {
            throw SpindleError(.invalidArgument, "no command to time")
        }
        guard options.interval >= .milliseconds(10) else {
            throw SpindleError(
                .invalidArgument,
                "the sampling interval must be at least 10 ms, not \(options.interval)"
            )
        }
        let path = try resolve(name)
        let interrupts = options.ignoresInterrupts ? IgnoredInterrupts() : nil
        defer { interrupts?.restore() }

        let (reportRead, reportWrite) = try makePipe()
        defer { closeDescriptor(reportRead) }
        setNonBlocking(reportRead)
        let machineBefore = MachineSnapshot.now()
        let ownBefore = ownCPUSeconds()
        let start = monotonicNanoseconds()
        var helper: pid_t = 0
        let err = withCStringArray(arguments) { argv in
            spindle_spawn_timed(
                path,
                argv,
                environ,
                reportWrite,
                options.waitsForOrphans ? 1 : 0,
                interrupts?.restoresInterrupt == true ? 1 : 0,
                interrupts?.restoresQuit == true ? 1 : 0,
                &helper
            )
        }
        closeDescriptor(reportWrite)
        guard err == 0 else { throw .system("fork", err) }
        let helperExit: Int32
        do {
            helperExit = try ChildProcess.exitDescriptor(of: helper)
        } catch {
            ChildProcess.reap(helper)
            throw error
        }
        defer { closeDescriptor(helperExit) }

        let sampler = ThreadSampler(scope: .descendants(of: helper), startNanoseconds: start)
        let requested = UInt64(options.interval.clampedNanoseconds)
        var reports = ReportStream(fd: reportRead)
        var exited: spindle_timed_report?
        var finished: spindle_timed_report?
        var nextSample = start + requested
        while finished == nil {
            let now = monotonicNanoseconds()
            if now >= nextSample {
                sampler.sample()
                nextSample = monotonicNanoseconds() + sampler.nextInterval(requested: requested)
            }
            var fds = [
                pollfd(fd: reportRead, events: Int16(POLLIN), revents: 0),
                pollfd(fd: helperExit, events: Int16(POLLIN), revents: 0),
            ]
            let timeout = Int64(nextSample > now ? nextSample - now : 0)
            _ = spindle_poll(&fds, 2, timeout)
            for report in reports.drain() {
                switch report.kind {
                case Int32(SPINDLE_TIMED_START_FAILED):
                    ChildProcess.reap(helper)
                    throw startError(name: name, path: path, errno: report.status)
                case Int32(SPINDLE_TIMED_EXITED):
                    exited = report
                    if !options.waitsForOrphans { finished = report }
                default:
                    finished = report
                }
            }
            if finished == nil && fds[1].revents != 0 {
                // The helper is gone without a last word (killed from outside): the command's end
                // and status are unknown.
                ChildProcess.reap(helper)
                throw SpindleError(.systemError, "the timing helper (pid \(helper)) died before \(name) ended")
            }
        }
        // No sample after the end: the tree is gone, and an empty interval would only pad the timeline.
        let io = readProcessIO(of: helper)
        ChildProcess.reap(helper)
        let ownAfter = ownCPUSeconds()
        let machineAfter = MachineSnapshot.now()

        guard let finished, let exited else { throw .system("the timing helper", EIO) }
        let end = UInt64(finished.end_ns)
        let totals = ExactTotals(
            wallNanoseconds: end &- start,
            userMicroseconds: finished.user_us,
            systemMicroseconds: finished.system_us,
            maxResidentKilobytes: finished.max_rss_kb,
            minorFaults: finished.minor_faults,
            majorFaults: finished.major_faults,
            voluntarySwitches: finished.voluntary_switches,
            involuntarySwitches: finished.involuntary_switches,
            readBytes: io.readBytes,
            writeBytes: io.writeBytes,
            source: "rusage of every reaped process (exact)"
        )
        let orphans = withUnsafeBytes(of: exited.orphans) { Array($0.bindMemory(to: Int32.self)) }
        let stillRunning = options.waitsForOrphans ? [] : Array(orphans.prefix(Int(min(exited.orphan_count, 15))))
        return TimeProfile(
            command: arguments,
            exit: exitStatus(waitStatus: exited.status),
            totals: totals,
            sampler: sampler,
            interval: Double(requested) / 1e9,
            machineBefore: machineBefore,
            machineAfter: machineAfter,
            ownCPUSeconds: ownAfter - ownBefore,
            stillRunning: stillRunning,
            stillRunningCount: options.waitsForOrphans ? 0 : Int(exited.orphan_count)
        )
    }

    /// Runs and measures a command like ``run(_:options:)-swift.type.method``, from async code: the
    /// command runs, and its thread samples, on a thread of its own, so no thread of Swift's
    /// cooperative pool is blocked while it runs.
    public static func run(_ arguments: [String], options: Options = .init()) async throws(SpindleError) -> TimeProfile
    {
        let result: Result<TimeProfile, SpindleError> = await withCheckedContinuation { continuation in
            do throws(SpindleError) {
                try startDetachedThread(name: "spindle-time") {
                    do throws(SpindleError) {
                        continuation.resume(returning: .success(try run(arguments, options: options)))
                    } catch {
                        continuation.resume(returning: .failure(error))
                    }
                }
            } catch {
                continuation.resume(returning: .failure(error))
            }
        }
        return try result.get()
    }

    /// CPU seconds the calling thread has used: the sampling loop's. (Other threads of this
    /// process count as other work on the machine, as any other process would.)
    private static func ownCPUSeconds() -> Double {
        let now = ResourceUsage.Snapshot.callingThread()
        return Double(now.userMicroseconds + now.systemMicroseconds) / 1e6
    }

    /// Finds the executable the way a shell does: a name with a "/" is a path, any other name is
    /// looked up in PATH.
    static func resolve(_ name: String) throws(SpindleError) -> String {
        if name.contains("/") {
            guard access(name, F_OK) == 0 else {
                throw SpindleError(.commandNotFound, "\(name): no such file")
            }
            return name
        }
        let searchPath = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
        var found: String?
        for directory in searchPath.split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = (directory.isEmpty ? "." : String(directory)) + "/" + name
            var info = stat()
            guard stat(candidate, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
            if access(candidate, X_OK) == 0 { return candidate }
            found = found ?? candidate
        }
        if let found { return found }  // exists but is not executable: execve says why (126)
        throw SpindleError(.commandNotFound, "\(name): command not found")
    }

    private static func startError(name: String, path: String, errno err: Int32) -> SpindleError {
        let reason = String(cString: strerror(err))
        if err == ENOENT || err == ENOTDIR {
            return SpindleError(.commandNotFound, "\(name): \(reason)")
        }
        if err == EACCES || err == ENOEXEC || err == EPERM || err == EISDIR || err == ETXTBSY {
            return SpindleError(.commandNotRunnable, "\(path): cannot run it: \(reason)")
        }
        return .system("starting \(path)", err)
    }

    static func exitStatus(waitStatus status: Int32) -> TimeProfile.ExitStatus {
        switch SpindleError.Termination(waitStatus: status) {
        case .exited(let code): .init(code: code, signal: nil, shellStatus: code)
        case .signalled(let signal): .init(code: nil, signal: signal, shellStatus: 128 + signal)
        }
    }

    /// The helper's I/O counters, read while it is a zombie: they include every process it reaped.
    private static func readProcessIO(of pid: pid_t) -> ProcessIO {
        var info = siginfo_t()
        _ = waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT)
        var reader = ProcReader()
        return reader.read("/proc/\(pid)/io").flatMap(ProcessIO.init) ?? ProcessIO()
    }
}

/// Reads whole report records from the helper's non-blocking pipe.
private struct ReportStream {
    let fd: Int32
    private var pending: [UInt8] = []

    init(fd: Int32) { self.fd = fd }

    mutating func drain() -> [spindle_timed_report] {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { readRetrying(fd, $0.baseAddress!, $0.count) }
            guard n > 0 else { break }
            pending += buffer[..<n]
        }
        let size = MemoryLayout<spindle_timed_report>.size
        var reports: [spindle_timed_report] = []
        while pending.count >= size {
            reports.append(pending.withUnsafeBytes { $0.loadUnaligned(as: spindle_timed_report.self) })
            pending.removeFirst(size)
        }
        return reports
    }
}

/// SIGINT and SIGQUIT ignored in this process while a command runs; the command gets the old ones.
private final class IgnoredInterrupts {
    private var oldInterrupt = sigaction()
    private var oldQuit = sigaction()
    /// Whether the command should get the default action back (it had not been ignored before).
    let restoresInterrupt: Bool
    let restoresQuit: Bool

    init() {
        var ignore = sigaction()
        ignore.__sigaction_handler.sa_handler = SIG_IGN
        sigaction(SIGINT, &ignore, &oldInterrupt)
        sigaction(SIGQUIT, &ignore, &oldQuit)
        func isIgnored(_ action: sigaction) -> Bool {
            unsafeBitCast(action.__sigaction_handler.sa_handler, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self)
        }
        restoresInterrupt = !isIgnored(oldInterrupt)
        restoresQuit = !isIgnored(oldQuit)
    }

    func restore() {
        sigaction(SIGINT, &oldInterrupt, nil)
        sigaction(SIGQUIT, &oldQuit, nil)
    }
}
