
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
        /// The job threw, timed out, or its worker failed.
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
        var waiters: [Waiter] = []
        var cancelHandler: (@Sendable () -> Void)?
    }

    private let storage = Locked(Storage())

    package init() {}

    /// A future that is already complete with `result`.
    package init(completedWith result: Result<Value, any Error>) {
        storage.withLock { $0.phase = .done(result, cancelled: false) }
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
                    storage.waiters.append(.continuation(continuation))
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
            if let result = currentResult { return result }
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

    /// Whether the future has an outcome (value, error or cancellation).
    public var isDone: Bool {
        switch state {
        case .pending, .running: false
        case .succeeded, .failed, .cancelled: true
        }
    }

    /// Whether the future was cancelled before its job started.
    public var isCancelled: Bool { state == .cancelled }

    /// Registers `callback` to run with the outcome once the future is done.
    ///
    /// A callback on a future that is already done runs at once, on the calling thread; otherwise it
    /// runs on the thread that completes the future, so keep it short and never block in it.
    public func onComplete(_ callback: @escaping @Sendable (Result<Value, any Error>) -> Void) {
        let ready: Result<Value, any Error>? = storage.withLock { storage in
            if case .done(let result, _) = storage.phase { return result }
            storage.waiters.append(.callback(callback))
            return nil
        }
        if let ready { callback(ready) }
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
        let (handler, waiters, stoppedBeforeStart): ((@Sendable () -> Void)?, [Waiter], Bool) =
            storage.withLock { storage in
                switch storage.phase {
                case .pending:
                    storage.phase = .done(.failure(SpindleError.cancelled()), cancelled: true)
                    defer { storage.waiters = []; storage.cancelHandler = nil }
                    return (storage.cancelHandler, storage.waiters, true)
                case .running:
                    return (storage.cancelHandler, [], false)
                case .done:
                    return (nil, [], false)
                }
            }
        handler?()
        if stoppedBeforeStart { Self.resume(waiters, with: .failure(SpindleError.cancelled())) }
        return stoppedBeforeStart
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
        let waiters: [Waiter]? = storage.withLock { storage in
            if case .done = storage.phase { return nil }
            storage.phase = .done(result, cancelled: false)
            storage.cancelHandler = nil
            defer { storage.waiters = [] }
            return storage.waiters
        }
        guard let waiters else { return false }
        Self.resume(waiters, with: result)
        return true
    }

    /// Fails the future unless it is already done, then calls the cancel handler so the job stops.
    ///
    /// This is how a timeout ends a task: the caller sees `error` at once, and the job, if it is
    /// running, is asked to stop.
    @discardableResult
    package func abandon(with error: any Error) -> Bool {
        let handler = storage.withLock { $0.cancelHandler }
        guard complete(with: .failure(error)) else { return false }
        handler?()
        return true
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

extension Future: CustomStringConvertible {
    public var description: String { "Future<\(Value.self)>(\(state))" }
}
