/// A set of workers that run ``Job``s: threads, worker processes or MPI ranks, behind one interface.
///
/// This is Swift's answer to Python's `concurrent.futures.Executor`: ``submit(_:_:timeout:)`` runs
/// one job and returns a ``Future``; ``map(_:_:options:)`` runs a job over many inputs and streams
/// the outputs; ``shutdown(_:)`` ends the pool.
///
/// ```swift
/// let pool = try ThreadPool(workers: 4)
/// let future = pool.submit(Square(), 7)
/// for try await y in pool.map(Square(), 1...1_000) { print(y) }   // in input order
/// print(try await future.value)                                     // 49
/// await pool.shutdown()
/// ```
///
/// Every backend passes the same conformance suite, so code written against `Pool` behaves the same
/// whichever backend runs it; only cost and isolation differ.
public protocol Pool: Sendable {
    /// How many jobs the pool runs at once.
    var workerCount: Int { get }

    /// Runs `job` on `input` on some worker and returns its future at once.
    ///
    /// Submitting to a pool that was shut down returns a future already failed with
    /// ``SpindleError/Code/poolShutDown``.
    ///
    /// - Parameters:
    ///   - job: the job; its stored properties travel with it.
    ///   - input: what the job runs on.
    ///   - timeout: when set, the future fails with ``SpindleError/Code/timedOut`` if the job has not
    ///     finished this long after it started running (time spent queued does not count), and the
    ///     job is stopped as well as the backend can: cancelled cooperatively on threads, killed in
    ///     a worker process. To bound the wait instead, use ``Future/wait(_:until:timeout:)``.
    func submit<J: Job>(_ job: J, _ input: J.Input, timeout: Duration?) -> Future<J.Output>

    /// Runs `job` over every input and streams the outputs, in input order unless told otherwise.
    ///
    /// Inputs are read lazily, at most ``MapOptions/runAhead`` chunks ahead of the consumer, so a
    /// huge or endless sequence keeps memory flat. Items are grouped into chunks (sized
    /// automatically unless forced) so that a million tiny items are not a million queue operations.
    /// A job's error is thrown at its position (in input order) and ends the sequence; stopping the
    /// iteration early cancels everything that has not started.
    func map<J: Job, Inputs: Sequence>(
        _ job: J,
        _ inputs: Inputs,
        options: MapOptions
    ) -> MapResults<J.Output> where Inputs.Element == J.Input

    /// How the pool's work has gone so far: how long tasks waited in its queue before a worker
    /// started them, which task waits longest now, and how busy each worker is. Readable from any
    /// thread at any time, while the pool runs and after it has shut down; see ``PoolStatistics``.
    var statistics: PoolStatistics { get }

    /// Stops the pool: with `.graceful` (the default) queued work still runs; `.immediate` cancels
    /// whatever has not started. Returns when the pool's workers are gone, except when called from
    /// the pool's own workers (a job shutting down its pool): then it returns at once, and the
    /// workers go as soon as that job has returned.
    ///
    /// Further submissions fail with ``SpindleError/Code/poolShutDown``. Calling it again is harmless.
    func shutdown(_ mode: ShutdownMode) async
}

/// How ``Pool/shutdown(_:)`` treats work that has not finished.
public enum ShutdownMode: Sendable, Hashable {
    /// Finish every task already submitted, then stop.
    case graceful
    /// Cancel every task that has not started, at once (its future fails with
    /// ``SpindleError/Code/cancelled``), let running ones finish, then stop.
    case immediate
}

extension Pool {
    /// Runs `job` on `input` on some worker, with no timeout.
    public func submit<J: Job>(_ job: J, _ input: J.Input) -> Future<J.Output> {
        submit(job, input, timeout: nil)
    }

    /// Runs `job` over every input and streams the outputs; see ``map(_:_:options:)``.
    ///
    /// - Parameters:
    ///   - order: `.input` (the default) yields outputs in input order; `.completion` as they finish.
    ///   - chunkSize: forces this many items per task; `nil` sizes chunks automatically.
    ///   - runAhead: how many chunks may be submitted ahead of the consumer; `nil` picks a default.
    ///   - timeout: a per-item timeout; setting one makes every item its own task.
    public func map<J: Job, Inputs: Sequence>(
        _ job: J,
        _ inputs: Inputs,
        order: MapOptions.Order = .input,
        chunkSize: Int? = nil,
        runAhead: Int? = nil,
        timeout: Duration? = nil
    ) -> MapResults<J.Output> where Inputs.Element == J.Input {
        let options = MapOptions(
            order: order,
            chunking: chunkSize.map { .fixed($0) } ?? .automatic,
            runAhead: runAhead,
            timeout: timeout
        )
        return map(job, inputs, options: options)
    }

    /// Stops the pool gracefully: queued work still runs. See ``shutdown(_:)``.
    public func shutdown() async {
        await shutdown(.graceful)
    }
}
