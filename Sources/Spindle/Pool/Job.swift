/// A unit of work that can run anywhere: on a thread, in a worker process, on another MPI rank.
///
/// A job is a *value*. Its stored properties travel with it, the way a closure's captures do, and
/// its `Input` and `Output` cross to the worker and back. A worker process finds the job's type by
/// name in its own copy of the binary, so only job types compiled into the program can ever run:
/// no bytes from a pipe ever become code.
///
/// ```swift
/// struct Square: Job {
///     var offset = 0
///     func run(_ x: Int) async throws -> Int { x * x + offset }
/// }
/// for try await y in pool.map(Square(), 1...1_000) { print(y) }
/// ```
///
/// `run` may block (read a file, sleep) on a ``ThreadPool``: its workers are dedicated threads, not
/// Swift's cooperative pool. Long jobs should check `Task.isCancelled` now and then so that
/// cancellation and timeouts can stop them.
public protocol Job: Codable, Sendable {
    /// What one call of ``run(_:)`` takes.
    associatedtype Input: Codable & Sendable
    /// What one call of ``run(_:)`` returns.
    associatedtype Output: Codable & Sendable

    /// Does the work for one input.
    func run(_ input: Input) async throws -> Output

    /// Runs the job over a chunk of inputs, in order, until one fails: how a worker process runs a
    /// task. Do not implement it: the default implementation is the one that counts.
    ///
    /// It is a requirement, not just an extension method, for speed: a worker process finds the
    /// job's type by name at run time, and a generic loop over an unknown type pays for a type
    /// lookup on every item. Each conformance instead carries this loop compiled for its own types.
    ///
    /// - Parameters:
    ///   - inputs: the chunk.
    ///   - willRun: hears the index of each input before it runs.
    /// - Returns: the outputs before the first failure, that failure, and the nanoseconds spent.
    func _runChunk(
        _ inputs: [Input],
        willRun: (Int) -> Void
    ) async -> (outputs: [Output], failure: (any Error)?, busyNanoseconds: UInt64)
}

extension Job {
    /// The loop every conformance gets; see ``_runChunk(_:willRun:)``.
    @inlinable
    public func _runChunk(
        _ inputs: [Input],
        willRun: (Int) -> Void
    ) async -> (outputs: [Output], failure: (any Error)?, busyNanoseconds: UInt64) {
        let outcome = await ChunkOutcome.run(inputs, willRun: willRun) { try await run($0) }
        return (outcome.outputs, outcome.failure, outcome.busyNanoseconds)
    }
}
