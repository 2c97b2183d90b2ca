import Synchronization

/// The eventual result of one task submitted to a ``Pool``: await it, wait for it, cancel it.
///
/// A future is created by `submit` and completed exactly once, by the pool. Any number of tasks may
/// await ``value`` at once; callbacks registered with ``onComplete(_:)`` run once it is done.
///
/// ```swift
/// let future = pool.submit(Square(), 7)
/// future.onComplete { print("done:", $0) }
/// print(try await future.value)       // 49
/// ```
///
/// Awaiting ``value`` behaves like `Task.value`: cancelling the *waiting* task does not cancel the
/// job. Call ``cancel()`` for that.
public final class Future<Value: Sendable>: Sendable {
    /// Where a future is in its life.
    public enum State: Sendable, Hashable {
        /// Submitted, not yet started.
        case pending
        /// A worker is running the job.
        case running
        /// The job returned a value.
        case succeeded
        /// The job threw or timed out, or the pool was shut down before it was submitted.
        case failed
        /// Cancelled before it started, so the job never ran.
        case cancelled
    }

    private enum Phase {
        case pending
        case running
        case done(Result<Value, any Error>, cancelled: Bool)
    }

    private enum Waiter {
        case continuation(UnsafeContinuation<Value, any Error>)
        case callback(@Sendable (Result<Value, any Error>) -> Void)
    }

    private struct Storage {
        var phase: Phase = .pending
        var waiters: [(id: UInt64, waiter: Waiter)] = []
        var nextWaiterID: UInt64 = 0
        var cancelHandler: (@Sendable () -> Void)?

        mutating func add(_ waiter: Waiter) -> UInt64 {
            defer { nextWaiterID += 1 }
            waiters.append((nextWaiterID, waiter))
            return nextWaiterID
        }

        mutating func takeWaiters() -> [Waiter] {
            // Not `map(\.waiter)`: a key path into a generic type is built at run time, on every
            // call, and that cost microseconds on the path that completes every future.
            guard !waiters.isEmpty else { return [] }
            defer { waiters = [] }
            return waiters.map { $0.waiter }
        }
    }

    private let storage = Locked(Storage())
    /// Set once the future is done, so that polling needs no lock: a waiter polling the lock would
    /// contend with the very thread trying to complete the future and push it into the kernel.
    private let isComplete = Atomic(false)

    package init() {}

    /// A future that is already complete with `result`.
    package init(completedWith result: Result<Value, any Error>) {
        complete(with: result)
    }

    // MARK: Reading

    /// The job's output, awaiting it if needed.
    ///
    /// - Throws: the job's own error unchanged, or a ``SpindleError`` (cancelled, timed out, pool shut down).
    public var value: Value {
        get async throws {
            if let result = currentResultAfterBriefSpin() { return try result.get() }
            return try await withUnsafeThrowingContinuation { continuation in
                let ready: Result<Value, any Error>? = storage.withLock { storage in
                    if case .done(let result, _) = storage.phase { return result }
                    _ = storage.add(.continuation(continuation))
                    return nil
                }
                if let ready { continuation.resume(with: ready) }
            }
        }
    }

    /// The job's outcome as a `Result`, awaiting it if needed.
    public var result: Result<Value, any Error> {
        get async {
            do { return .success(try await value) } catch { return .failure(error) }
        }
    }

    /// The outcome if the future is done, else `nil`. Never blocks.
    public var currentResult: Result<Value, any Error>? {
        storage.withLock { storage in
            if case .done(let result, _) = storage.phase { return result }
            return nil
        }
    }

    /// How long ``value`` polls a pending future before it suspends the awaiting task.
    ///
    /// Suspending means the completing thread must later wake a sleeping thread to resume the
    /// awaiter, which costs tens of microseconds on a virtual machine: far more than a short job.
    /// Polling for a few microseconds first lets a quick job's result be picked up directly; a
    /// long job costs the awaiter at most this much CPU.
    static var spinNanoseconds: UInt64 { 10_000 }

    private func currentResultAfterBriefSpin() -> Result<Value, any Error>? {
        let deadline = monotonicNanoseconds() + Self.spinNanoseconds
        repeat {
            for _ in 0..<32 where isComplete.load(ordering: .acquiring) { return currentResult }
        } while monotonicNanoseconds() < deadline
        return nil
    }

    /// Where the future is now.
    public var state: State {
        storage.withLock { storage in
            switch storage.phase {
            case .pending: .pending
            case .running: .running
            case .done(_, cancelled: true): .cancelled
            case .done(.success, _): .succeeded
            case .done(.failure, _): .failed
            }
        }
    }

    /// Whether the future has an outcome (value, error or cancellation). It takes no lock.
    public var isDone: Bool { isComplete.load(ordering: .acquiring) }

    /// Whether the future was cancelled before its job started.
    public var isCancelled: Bool { state == .cancelled }

    /// Registers `callback` to run with the outcome once the future is done.
    ///
    /// A callback on a future that is already done runs at once, on the calling thread; otherwise it
    /// runs on the thread that completes the future, so keep it short and never block in it.
    public func onComplete(_ callback: @escaping @Sendable (Result<Value, any Error>) -> Void) {
        _ = addCallback(callback)
    }

    /// Like ``onComplete(_:)``, but returns an identifier that ``removeCallback(_:)`` takes, or
    /// `nil` when the future was done and the callback has already run.
    package func addCallback(_ callback: @escaping @Sendable (Result<Value, any Error>) -> Void) -> UInt64? {
        let (ready, id): (Result<Value, any Error>?, UInt64?) = storage.withLock { storage in
            if case .done(let result, _) = storage.phase { return (result, nil) }
            return (nil, storage.add(.callback(callback)))
        }
        if let ready { callback(ready) }
        return id
    }

    /// Forgets a callback that is no longer wanted, such as that of a wait that timed out; waiting
    /// on a long job with short timeouts, again and again, must not pile callbacks up.
    package func removeCallback(_ id: UInt64) {
        storage.withLock { storage in
            storage.waiters.removeAll { $0.id == id }
        }
    }

    // MARK: Cancelling

    /// Cancels the task: a job that has not started never runs; a running one sees Swift task cancellation.
    ///
    /// A cancelled pending future fails at once with ``SpindleError/Code/cancelled``. A running job
    /// is asked to stop (`Task.isCancelled` becomes true, `Task.checkCancellation()` throws); what it
    /// then returns or throws becomes the future's outcome.
    ///
    /// - Returns: `true` when the job was stopped before it started, the way Python's
    ///   `Future.cancel()` answers; `false` when it was already running or done.
    @discardableResult
    public func cancel() -> Bool {
        if cancelIfPending() { return true }
        let handler = storage.withLock { storage -> (@Sendable () -> Void)? in
            if case .running = storage.phase { return storage.cancelHandler }
            return nil
        }
        handler?()
        return false
    }

    /// Cancels the future only if its job has not started, and tells whether it did; a running
    /// job is left alone. An immediate shutdown uses it: queued work is cancelled at once, running
    /// work finishes.
    @discardableResult
    package func cancelIfPending() -> Bool {
        let (finished, handler) = finish(with: .failure(SpindleError.cancelled()), cancelled: true)
        handler?()
        return finished
    }

    // MARK: Completing (for pools)

    /// Sets what ``cancel()`` calls to stop the underlying work, such as `Task.cancel`.
    package func setCancelHandler(_ handler: @escaping @Sendable () -> Void) {
        storage.withLock { storage in
            if case .done = storage.phase { return }
            storage.cancelHandler = handler
        }
    }

    /// Moves a pending future to running. Returns `false` when it was cancelled or completed, in which
    /// case the job must not run.
    package func markRunning() -> Bool {
        storage.withLock { storage in
            guard case .pending = storage.phase else { return false }
            storage.phase = .running
            return true
        }
    }

    /// Completes the future unless it is already done. Returns whether this call completed it.
    @discardableResult
    package func complete(with result: Result<Value, any Error>) -> Bool {
        finish(with: result, cancelled: false).finished
    }

    /// Fails the future unless it is already done, then calls the cancel handler so the job stops.
    ///
    /// This is how a timeout ends a task: the caller sees `error` at once, and the job, if it is
    /// running, is asked to stop.
    @discardableResult
    package func abandon(with error: any Error) -> Bool {
        let (finished, handler) = finish(with: .failure(error), cancelled: false)
        handler?()
        return finished
    }

    /// The one way a future becomes done: sets the outcome, wakes every waiter, and hands back the
    /// cancel handler it cleared, for callers that must stop the work.
    ///
    /// - Parameter cancelled: `true` to cancel, which only a pending future allows (a job that has
    ///   started is never marked cancelled); otherwise any future not yet done is completed.
    private func finish(
        with result: Result<Value, any Error>,
        cancelled: Bool
    ) -> (finished: Bool, cancelHandler: (@Sendable () -> Void)?) {
        let taken: (waiters: [Waiter], handler: (@Sendable () -> Void)?)? = storage.withLock { storage in
            switch storage.phase {
            case .done: return nil
            case .running where cancelled: return nil
            case .pending, .running: break
            }
            storage.phase = .done(result, cancelled: cancelled)
            isComplete.store(true, ordering: .releasing)
            defer { storage.cancelHandler = nil }
            return (storage.takeWaiters(), storage.cancelHandler)
        }
        guard let taken else { return (false, nil) }
        Self.resume(taken.waiters, with: result)
        return (true, taken.handler)
    }

    private static func resume(_ waiters: [Waiter], with result: Result<Value, any Error>) {
        for waiter in waiters {
            switch waiter {
            case .continuation(let continuation): continuation.resume(with: result)
            case .callback(let callback): callback(result)
            }
        }
    }
}

/// Something whose work can be cancelled if it has not started: what a pool keeps of the futures
/// it has handed out, whatever their value type.
protocol CancellableIfPending: AnyObject, Sendable {
    @discardableResult
    func cancelIfPending() -> Bool

    /// Whether it has an outcome already, read without taking its lock.
    var isDone: Bool { get }
}

extension Future: CancellableIfPending {}

extension Future: CustomStringConvertible {
    public var description: String { "Future<\(Value.self)>(\(state))" }
}
