internal import CSpindle
internal import Glibc

extension TimeProfile {
    /// Measures a block of code in this process: wall, user, sys and CPU per wall second for the
    /// whole process and for the calling thread, where every thread's time went, and a verdict.
    ///
    /// A sampling thread reads this process's threads from /proc every `interval` while `body`
    /// runs; its own cost is reported in ``sampling``. CPU totals are exact (`getrusage`); they
    /// cover every thread of the process, including ones that have nothing to do with `body`.
    ///
    /// ```swift
    /// let (sum, profile) = try TimeProfile.measure {
    ///     (0..<50_000_000).reduce(0, &+)
    /// }
    /// print(profile.verdict.text)    // "CPU-bound on one core"
    /// ```
    public static func measure<T, E: Error>(
        interval: Duration = .milliseconds(50),
        _ body: () throws(E) -> T
    ) throws(E) -> (result: T, profile: TimeProfile) {
        let session = MeasuringSession(interval: interval)
        let threadBefore = ResourceUsage.Snapshot.callingThread()
        let result: T
        do {
            result = try body()
        } catch {
            _ = session.finish(callingThread: nil)
            throw error
        }
        let threadUsage = ResourceUsage.Snapshot.callingThread().usage(since: threadBefore)
        return (
            result,
            session.finish(
                callingThread: TimeProfile.CPUTime(
                    threadUsage,
                    source: "getrusage of the calling thread (exact total; the user/sys split is sampled at the tick)"
                )
            )
        )
    }

    /// Measures an asynchronous block of code in this process, like ``measure(interval:_:)-swift.type.method``;
    /// since the block may move between threads at each `await`, there is no per-thread figure.
    public static func measure<T>(
        interval: Duration = .milliseconds(50),
        _ body: () async throws -> T
    ) async rethrows -> (result: T, profile: TimeProfile) {
        let session = MeasuringSession(interval: interval)
        let result: T
        do {
            result = try await body()
        } catch {
            _ = session.finish(callingThread: nil)
            throw error
        }
        return (result, session.finish(callingThread: nil))
    }
}

/// A sampling thread over this process, from the start of a measured block to its end.
private final class MeasuringSession: @unchecked Sendable {
    private let interval: UInt64
    private let start = monotonicNanoseconds()
    private let machineBefore = MachineSnapshot.now()
    private let before: rusage
    private let lock = ConditionLock()
    // Guarded by `lock`.
    private var stopping = false
    private var sampler: ThreadSampler?
    private var done = false

    init(interval: Duration) {
        self.interval = max(10_000_000, interval.clampedNanoseconds)
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        before = usage
        do {
            try startDetachedThread(name: "spindle-sampler") { [self] in run() }
        } catch {
            // No thread for sampling: the totals are still exact, the breakdown stays empty.
            done = true
        }
    }

    private func run() {
        let sampler = ThreadSampler(scope: .ownProcess(excluding: spindle_gettid()), startNanoseconds: start)
        sampler.sample()
        var next = monotonicNanoseconds() + interval
        lock.lock()
        while !stopping {
            if !lock.wait(untilMonotonicNanoseconds: next) {
                lock.unlock()
                sampler.sample()
                next = monotonicNanoseconds() + sampler.nextInterval(requested: interval)
                lock.lock()
            }
        }
        lock.unlock()
        sampler.sample()
        lock.withLock {
            self.sampler = sampler
            done = true
            lock.broadcast()
        }
    }

    /// Stops sampling and puts the profile together.
    func finish(callingThread: TimeProfile.CPUTime?) -> TimeProfile {
        var after = rusage()
        getrusage(RUSAGE_SELF.rawValue, &after)
        let end = monotonicNanoseconds()
        let sampler =
            lock.withLock {
                stopping = true
                lock.broadcast()
                while !done { lock.wait() }
                return self.sampler
            } ?? ThreadSampler(scope: .ownProcess(excluding: 0), startNanoseconds: start)
        let samplerCPU = Double(sampler.ownCPUNanoseconds) / 1e9
        let totals = ExactTotals(
            wallNanoseconds: end &- start,
            userMicroseconds: after.ru_utime.microseconds - before.ru_utime.microseconds,
            systemMicroseconds: after.ru_stime.microseconds - before.ru_stime.microseconds,
            maxResidentKilobytes: Int64(after.ru_maxrss),
            minorFaults: Int64(after.ru_minflt - before.ru_minflt),
            majorFaults: Int64(after.ru_majflt - before.ru_majflt),
            voluntarySwitches: Int64(after.ru_nvcsw - before.ru_nvcsw),
            involuntarySwitches: Int64(after.ru_nivcsw - before.ru_nivcsw),
            readBytes: sampler.ioDelta.readBytes,
            writeBytes: sampler.ioDelta.writeBytes,
            source:
                "getrusage of this process (exact; includes the sampler's own \(formatFixed(samplerCPU * 1000, digits: 1)) ms)"
        )
        return TimeProfile(
            command: nil,
            exit: nil,
            totals: totals,
            callingThread: callingThread,
            sampler: sampler,
            interval: Double(interval) / 1e9,
            machineBefore: machineBefore,
            machineAfter: MachineSnapshot.now(),
            ownCPUSeconds: 0
        )
    }
}
