import Synchronization

/// Runs a blocking wait on a thread of its own, so that an `async` caller never blocks one of the
/// few threads of Swift's cooperative pool (two on a two-core machine: two blocked callers would
/// stall every task in the process).
///
/// The callers try without blocking first and come here only when they must wait, so a thread is
/// started only for a wait that lasts anyway. `body` gets a flag that turns true when the calling
/// task is cancelled; it should wait in slices (say 50 ms) and give up when it sees the flag.
///
/// - Throws: what `body` throws; ``SpindleError/Code/systemError`` when no thread can be started.
func waitOffPool<T: Sendable, E: Error>(
    _ name: String,
    _ body: @escaping @Sendable (_ cancelled: CancellationFlag) throws(E) -> T
) async throws -> T {
    let flag = CancellationFlag()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            do {
                try startDetachedThread(name: name) {
                    let result = Result<T, E> { () throws(E) -> T in try body(flag) }
                    continuation.resume(with: result.mapError { $0 as any Error })
                }
            } catch {
                continuation.resume(throwing: error)
            }
        }
    } onCancel: {
        flag.cancel()
    }
}

/// Whether the task waiting through ``waitOffPool(_:_:)`` was cancelled.
final class CancellationFlag: Sendable {
    private let flag = Atomic(false)

    func cancel() { flag.store(true, ordering: .releasing) }

    var isCancelled: Bool { flag.load(ordering: .acquiring) }
}
