internal import CSpindle
internal import Glibc

/// Starting, watching and reaping child processes, by pid: never `wait(-1)`, which would steal
/// the exit status of children the program started itself.
enum ChildProcess {
    /// Starts `executable` with stdin on /dev/null and the given descriptors installed in the child
    /// (`(parent, child)` pairs); every other descriptor above them is closed in the child.
    ///
    /// - Returns: the child's pid.
    /// - Throws: ``SpindleError/Code/workerStartFailed`` when the executable cannot be started.
    static func spawn(
        executable: String,
        environment: [String],
        descriptors: [(parent: Int32, child: Int32)]
    ) throws(SpindleError) -> pid_t {
        var pid: pid_t = 0
        let err = withCStringArray([executable]) { argv in
            withCStringArray(environment) { envp in
                let parents = descriptors.map(\.parent)
                let children = descriptors.map(\.child)
                return spindle_spawn(executable, argv, envp, parents, children, Int32(descriptors.count), &pid)
            }
        }
        guard err == 0 else {
            throw SpindleError(
                .workerStartFailed,
                "cannot start the worker executable \(executable): \(String(cString: strerror(err)))"
            )
        }
        return pid
    }

    /// A descriptor that becomes readable when `pid` exits (pidfd_open), for `poll`.
    static func exitDescriptor(of pid: pid_t) throws(SpindleError) -> Int32 {
        let fd = spindle_pidfd_open(pid)
        guard fd >= 0 else { throw .system("pidfd_open") }
        return fd
    }

    /// Reaps `pid`, blocking until it has exited, and tells how it ended.
    @discardableResult
    static func reap(_ pid: pid_t) -> SpindleError.Termination {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return SpindleError.Termination(waitStatus: status)
    }

    /// Resident memory of `pid` that is its own, in bytes (see ``parsePrivateResidentBytes(statm:)``),
    /// from /proc/PID/statm; `nil` once it is gone.
    static func privateResidentBytes(of pid: pid_t) -> Int? {
        var reader = ProcReader(capacity: 256)
        return reader.read("/proc/\(pid)/statm").flatMap { parsePrivateResidentBytes(statm: $0) }
    }
}
