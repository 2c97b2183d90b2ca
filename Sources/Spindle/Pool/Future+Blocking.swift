extension Future {
    /// Blocks the calling thread until the future is done or `timeout` passes; for code that cannot `await`.
    ///
    /// Never call it from a job running on the pool that will run this future: if every worker is
    /// blocked waiting, nothing is left to do the work. Async code awaits ``value`` instead.
    ///
    /// - Parameter timeout: how long to wait at most; `nil` waits as long as it takes.
    /// - Returns: the job's output.
    /// - Throws: ``SpindleError/Code/timedOut`` when the time ran out (the job goes on; cancel it if
    ///   you no longer need it), else what ``value`` throws.
    @available(*, noasync, message: "await the future's value instead")
    public func wait(timeout: Duration? = nil) throws -> Value {
        if let result = currentResult { return try result.get() }
        let signal = OneShotSignal<Result<Value, any Error>>()
        let callback = addCallback { signal.fire($0) }
        let deadline = timeout.map { monotonicNanoseconds() &+ $0.clampedNanoseconds }
        guard let result = signal.wait(untilMonotonicNanoseconds: deadline) else {
            if let callback { removeCallback(callback) }
            throw SpindleError(.timedOut, "the future was not done within \(timeout ?? .zero)")
        }
        return try result.get()
    }
}
