internal import Glibc

/// Now on `CLOCK_MONOTONIC`, in nanoseconds: the clock ``ConditionLock`` deadlines use.
@usableFromInline
package func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// CPU time of the whole process so far (every thread), in nanoseconds; exact, not tick-sampled.
package func processCPUNanoseconds() -> UInt64 {
    cpuClockNanoseconds(CLOCK_PROCESS_CPUTIME_ID)
}

/// CPU time of the calling thread so far, in nanoseconds; exact, not tick-sampled.
package func threadCPUNanoseconds() -> UInt64 {
    cpuClockNanoseconds(CLOCK_THREAD_CPUTIME_ID)
}

private func cpuClockNanoseconds(_ clock: clockid_t) -> UInt64 {
    var now = timespec()
    clock_gettime(clock, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

extension Duration {
    /// The duration in whole nanoseconds, clamped to zero below and to `UInt64.max / 2` above.
    package var clampedNanoseconds: UInt64 {
        // A negative duration can have a zero `seconds` and negative attoseconds (-1 ms is (0, -1e15)).
        guard self > .zero else { return 0 }
        let (seconds, attoseconds) = components
        if seconds >= Int64(UInt64.max / 4_000_000_000) { return UInt64.max / 2 }
        return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }

    /// The duration in seconds, as a `Double`.
    package var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }
}
