import Synchronization

/// Runs a blocking wait on a thread of its own, so that an `async` caller never blocks one of the
/// few threads of Swift's cooperative pool (two on a two-core machine: two blocked callers would
/// stall every task in the process).
///
/// The callers try without blocking first and come here only when they must wait. The threads are
/// kept for reuse (see ``WaiterThreads``), so a wait costs a hand-off, not a thread's creation.
/// `body` gets a flag that turns true when the calling task is cancelled; it should wait in slices
/// (say 50 ms) and give up when it sees the flag.
///
/// - Throws: what `body` throws; ``SpindleError/Code/systemError`` when no thread can be started.
func waitOffPool<T: Sendable, E: Error>(
    _ body: @escaping @Sendable (_ cancelled: CancellationFlag) throws(E) -> T
) async throws -> T {
    let flag = CancellationFlag()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            do {
                try WaiterThreads.run {
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

/// Whether the task waiting through ``waitOffPool(_:)`` was cancelled.
final class CancellationFlag: Sendable {
    private let flag = Atomic(false)

    func cancel() { flag.store(true, ordering: .releasing) }

    var isCancelled: Bool { flag.load(ordering: .acquiring) }
}

/// The threads that blocking waits run on for async callers: as many as there are waits at once,
/// each kept for a few seconds after its wait for the next one.
///
/// A new thread per wait would cost tens of microseconds each time a queue runs empty, and a
/// stream of them starves ThreadSanitizer, whose per-thread state is a scarce resource. There is
/// no upper bound, on purpose: a wait may be for another wait to end, and a capped set of threads
/// could then deadlock.
enum WaiterThreads {
    /// Threads waiting for work, most recently parked last.
    private static let idle = Locked<[WaiterThread]>([])
    /// How long a thread waits for more work before it ends.
    static let idleLifetimeNanoseconds: UInt64 = 5_000_000_000

    /// Runs `work` on an idle thread, or on a new one when none is idle.
    static func run(_ work: @escaping @Sendable () -> Void) throws(SpindleError) {
        if let thread = idle.withLock({ $0.popLast() }) {
            thread.assign(work)
        } else {
            let thread = WaiterThread()
            thread.assign(work)
            try startDetachedThread(name: "spindle-wait") { thread.serve() }
        }
    }

    fileprivate static func park(_ thread: WaiterThread) {
        idle.withLock { $0.append(thread) }
    }

    /// Takes an idle thread off the list so that it can end; `false` when someone took it for work.
    fileprivate static func retire(_ thread: WaiterThread) -> Bool {
        idle.withLock { idle in
            guard let index = idle.firstIndex(where: { $0 === thread }) else { return false }
            idle.remove(at: index)
            return true
        }
    }
}

/// One of the ``WaiterThreads``: runs the work it is given, then parks until more comes or its
/// idle lifetime runs out.
private final class WaiterThread: @unchecked Sendable {
    // @unchecked Sendable: `work` is only touched with `condition` locked.
    private let condition = ConditionLock()
    private var work: (@Sendable () -> Void)?

    func assign(_ work: @escaping @Sendable () -> Void) {
        condition.withLock {
            self.work = work
            condition.signal()
        }
    }

    func serve() {
        while true {
            condition.lock()
            while work == nil {
                let deadline = monotonicNanoseconds() &+ WaiterThreads.idleLifetimeNanoseconds
                if !condition.wait(untilMonotonicNanoseconds: deadline) && work == nil {
                    condition.unlock()
                    if WaiterThreads.retire(self) { return }
                    // Someone took this thread for work just now: it is being assigned.
                    condition.lock()
                }
            }
            let next = work!
            work = nil
            condition.unlock()
            next()
            WaiterThreads.park(self)
        }
    }
}
