import Glibc
import Spindle
import Synchronization

/// Times an uncontended acquire and release of ``ProcessLock`` against `Synchronization.Mutex` and
/// plain pthread mutexes, side by side.
///
/// Each round times a few million lock-and-unlock pairs of every lock in turn, so that a noisy
/// neighbour slows them alike; the best round of each counts. The goal (issue 5) is a
/// `ProcessLock` within 2× of a `Mutex`. The raw robust pthread row shows how much of the cost is
/// glibc's: a robust mutex takes glibc's slow path (`__pthread_mutex_lock_full`), which records the
/// lock in the thread's robust list around the atomic swap, and then unlocks through
/// `__pthread_mutex_unlock_full`, which takes it out again.
enum LockBenchmark {
    /// Lock-and-unlock pairs per round.
    static let pairs = 2_000_000

    /// Runs the benchmark and returns its rows: benchmark, what, measured, ratio to `Mutex`, goal.
    ///
    /// - Parameter rounds: Rounds per lock; the best is reported.
    static func run(rounds: Int = 7) -> [[String]] {
        // glibc takes a shortcut without atomics for a private mutex while a process has a single
        // thread; a real program has several (a pool's, Swift's cooperative pool), so make sure of one.
        startIdleThread()
        let mutex = Mutex(0)
        let processLock: ProcessLock
        do {
            processLock = try ProcessLock()
        } catch {
            return [["lock+unlock, uncontended", "ProcessLock", "failed: \(error)", "", ""]]
        }
        let plain = PthreadMutex(robustShared: false)
        let robust = PthreadMutex(robustShared: true)
        defer {
            plain.destroy()
            robust.destroy()
        }

        var best = [Double](repeating: .infinity, count: 5)
        for _ in 0..<rounds {
            best[0] = min(best[0], nanosecondsPerPair { mutex.withLock { $0 &+= 1 } })
            best[1] = min(
                best[1],
                nanosecondsPerPair {
                    try? processLock.lock()
                    processLock.unlock()
                }
            )
            best[2] = min(best[2], nanosecondsPerPair { _ = try? processLock.withLock { 1 } })
            best[3] = min(
                best[3],
                nanosecondsPerPair {
                    pthread_mutex_lock(robust.pointer)
                    pthread_mutex_unlock(robust.pointer)
                }
            )
            best[4] = min(
                best[4],
                nanosecondsPerPair {
                    pthread_mutex_lock(plain.pointer)
                    pthread_mutex_unlock(plain.pointer)
                }
            )
        }
        return rows(
            "lock+unlock, uncontended",
            [
                ("Synchronization.Mutex", best[0], ""), ("ProcessLock lock()/unlock()", best[1], "≤ ×2"),
                ("ProcessLock.withLock", best[2], "(report)"), ("pthread_mutex robust, shared", best[3], "(report)"),
                ("pthread_mutex default", best[4], "(report)"),
            ]
        )
    }

    /// Table rows for nanoseconds per pair: the first entry is the baseline the others are
    /// divided by.
    static func rows(_ benchmark: String, _ entries: [(what: String, nanoseconds: Double, goal: String)]) -> [[String]]
    {
        let baseline = entries[0].nanoseconds
        return entries.enumerated().map { index, entry in
            [
                index == 0 ? benchmark : "", entry.what, Verdict.format(entry.nanoseconds) + " ns",
                index == 0 ? "" : "×" + Verdict.format(entry.nanoseconds / baseline), entry.goal,
            ]
        }
    }

    /// Nanoseconds per call of `body`, over ``pairs`` calls.
    static func nanosecondsPerPair(_ body: () -> Void) -> Double {
        let start = ContinuousClock.now
        for _ in 0..<pairs { body() }
        return (ContinuousClock.now - start).seconds * 1e9 / Double(pairs)
    }

    /// Starts a thread that sleeps until the process exits.
    static func startIdleThread() {
        var thread = pthread_t()
        if pthread_create(
            &thread,
            nil,
            { _ in
                while true { pause() }
            },
            nil
        ) == 0 {
            pthread_detach(thread)
        }
    }

    /// A pthread mutex on the heap: default, or robust and process-shared as ``ProcessLock``'s is.
    private struct PthreadMutex {
        let pointer: UnsafeMutablePointer<pthread_mutex_t>

        init(robustShared: Bool) {
            pointer = .allocate(capacity: 1)
            var attributes = pthread_mutexattr_t()
            pthread_mutexattr_init(&attributes)
            if robustShared {
                pthread_mutexattr_setpshared(&attributes, Int32(PTHREAD_PROCESS_SHARED))
                pthread_mutexattr_setrobust(&attributes, Int32(PTHREAD_MUTEX_ROBUST))
                pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ERRORCHECK))
            }
            pthread_mutex_init(pointer, &attributes)
            pthread_mutexattr_destroy(&attributes)
        }

        func destroy() {
            pthread_mutex_destroy(pointer)
            pointer.deallocate()
        }
    }
}
