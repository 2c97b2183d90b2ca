import Synchronization

extension Future {
    /// When ``wait(_:until:timeout:)`` returns, as in Python's `concurrent.futures.wait`.
    public enum WaitCondition: Sendable, Hashable {
        /// As soon as any future is done.
        case firstCompleted
        /// As soon as any future fails (cancellation is not a failure); if none fails, when all are done.
        case firstFailure
        /// When every future is done.
        case allCompleted
    }

    /// Waits until `condition` holds for `futures` or `timeout` passes, and tells which are done.
    ///
    /// It never throws: on timeout, or when the waiting task is cancelled, it simply returns with the
    /// futures that are not done yet in `pending`. Both lists keep the order of `futures`.
    ///
    /// ```swift
    /// let futures = (1...8).map { pool.submit(Square(), $0) }
    /// let (done, pending) = await Future.wait(futures, until: .firstFailure, timeout: .seconds(5))
    /// ```
    ///
    /// - Parameters:
    ///   - futures: the futures to watch.
    ///   - condition: when to return; all of them done, by default.
    ///   - timeout: how long to wait at most; `nil` waits as long as it takes.
    public static func wait(
        _ futures: [Future],
        until condition: WaitCondition = .allCompleted,
        timeout: Duration? = nil
    ) async -> (done: [Future], pending: [Future]) {
        let latch = Latch()
        let remaining = Atomic(futures.count)
        if futures.isEmpty { latch.open() }
        let callbacks = futures.map { future in
            future.addCallback { result in
                let left = remaining.subtract(1, ordering: .acquiringAndReleasing).newValue
                switch condition {
                case .firstCompleted: latch.open()
                case .firstFailure:
                    if case .failure = result, !future.isCancelled { latch.open() }
                    if left == 0 { latch.open() }
                case .allCompleted:
                    if left == 0 { latch.open() }
                }
            }
        }
        let timer = timeout.map { OneShotTimer(after: $0) { latch.open() } }
        await withTaskCancellationHandler {
            await latch.wait()
        } onCancel: {
            latch.open()
        }
        // Leave nothing behind on futures that are still running, nor a timer that would fire later.
        timer?.cancel()
        for (future, callback) in zip(futures, callbacks) {
            if let callback { future.removeCallback(callback) }
        }
        var done: [Future] = []
        var pending: [Future] = []
        for future in futures {
            if future.isDone { done.append(future) } else { pending.append(future) }
        }
        return (done, pending)
    }

    /// The futures, each yielded as soon as it is done: Python's `as_completed`.
    ///
    /// ```swift
    /// for try await future in Future.asCompleted(futures) {
    ///     print(try await future.value)    // done already, so this does not wait
    /// }
    /// ```
    ///
    /// - Parameters:
    ///   - futures: the futures to watch.
    ///   - timeout: when set, the sequence throws ``SpindleError/Code/timedOut`` if some future is
    ///     still not done after this long.
    /// - Returns: a sequence that yields every future once, in the order they completed.
    public static func asCompleted(
        _ futures: [Future],
        timeout: Duration? = nil
    ) -> AsyncThrowingStream<Future, any Error> {
        let (stream, continuation) = AsyncThrowingStream<Future, any Error>.makeStream(
            bufferingPolicy: .unbounded
        )
        let remaining = Atomic(futures.count)
        if futures.isEmpty { continuation.finish() }
        let callbacks = futures.map { future in
            future.addCallback { _ in
                continuation.yield(future)
                if remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
                    continuation.finish()
                }
            }
        }
        let timer = timeout.map { timeout in
            OneShotTimer(after: timeout) {
                continuation.finish(
                    throwing: SpindleError(.timedOut, "not every future was done within \(timeout)")
                )
            }
        }
        // When the sequence ends (all done, timed out, or its consumer went away), release what
        // it left on the futures and the timer.
        continuation.onTermination = { _ in
            timer?.cancel()
            for (future, callback) in zip(futures, callbacks) {
                if let callback { future.removeCallback(callback) }
            }
        }
        return stream
    }
}
