@testable import Spindle

/// A task executor with one thread of its own, for tests that run long stretches of async code
/// without suspending (consuming millions of ready results, say).
///
/// Swift's cooperative pool has a thread per CPU, two on the machines this suite runs on: a test
/// that keeps one busy for half a minute (longer under ThreadSanitizer) starves every other test,
/// whose time limits then run out for no fault of theirs.
final class DedicatedThreadExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked Sendable: `jobs` and `stopped` are only touched with `condition` locked.
    private let condition = ConditionLock()
    private var jobs: [UnownedJob] = []
    private var stopped = false

    init() {
        startPlainThread { [self] in run() }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.withLock {
            jobs.append(job)
            condition.signal()
        }
    }

    /// Ends the thread once the jobs queued so far have run.
    func stop() {
        condition.withLock {
            stopped = true
            condition.signal()
        }
    }

    private func run() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopped { condition.wait() }
            if jobs.isEmpty {
                condition.unlock()
                return
            }
            let batch = jobs
            jobs.removeAll()
            condition.unlock()
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
        }
    }
}

/// Runs `body` with its task on a thread of its own (see ``DedicatedThreadExecutor``).
func onOwnThread<T: Sendable>(_ body: @Sendable () async throws -> T) async rethrows -> T {
    let executor = DedicatedThreadExecutor()
    defer { executor.stop() }
    return try await withTaskExecutorPreference(executor) { try await body() }
}
