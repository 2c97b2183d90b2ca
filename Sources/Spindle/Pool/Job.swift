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
}
