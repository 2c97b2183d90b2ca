internal import Glibc

/// Starts the dedicated OS threads of a ``ThreadPool`` and tells whether the caller is one of them.
///
/// The threads are plain detached pthreads, not Swift's cooperative pool, so a job may block in a
/// system call without starving the rest of the program. Each is named (`top -H`, `perf`, `gdb`
/// show it) and records which pool it serves in thread-specific storage.
enum WorkerThread {
    /// The thread-specific slot holding the pool a worker thread serves.
    private static let poolKey: pthread_key_t = {
        var key = pthread_key_t()
        let err = pthread_key_create(&key, nil)
        precondition(err == 0, "pthread_key_create failed: \(err)")
        return key
    }()

    /// The thread-specific slot counting the executor jobs a worker thread has run, as pointer bits.
    private static let jobCountKey: pthread_key_t = {
        var key = pthread_key_t()
        let err = pthread_key_create(&key, nil)
        precondition(err == 0, "pthread_key_create failed: \(err)")
        return key
    }()

    /// The thread-specific slot through which ``ThreadPoolCore/start(timeout:label:_:)`` hands the
    /// task it is creating to the `push` that queues the task's first job, on the same thread.
    private static let submissionKey: pthread_key_t = {
        var key = pthread_key_t()
        let err = pthread_key_create(&key, nil)
        precondition(err == 0, "pthread_key_create failed: \(err)")
        return key
    }()

    /// Starts one detached thread that runs `core.serve(worker: index)` until the pool stops.
    ///
    /// - Throws: ``SpindleError/Code/systemError`` when the system refuses another thread.
    static func start(serving core: ThreadPoolCore, index: Int, name: String) throws(SpindleError) {
        let key = poolKey
        try startDetachedThread(name: name) {
            pthread_setspecific(key, Unmanaged.passUnretained(core).toOpaque())
            core.serve(worker: index)
            pthread_setspecific(key, nil)
        }
    }

    /// Runs `body` with `submission` waiting for the first ``takeSubmission()`` on this thread.
    static func handingOver<R>(_ submission: ThreadPoolCore.Submission, _ body: () -> R) -> R {
        withUnsafePointer(to: submission) { pointer in
            pthread_setspecific(submissionKey, pointer)
            defer { pthread_setspecific(submissionKey, nil) }
            return body()
        }
    }

    /// The submission ``handingOver(_:_:)`` offers on this thread, once; `nil` outside it.
    static func takeSubmission() -> ThreadPoolCore.Submission? {
        guard let pointer = pthread_getspecific(submissionKey) else { return nil }
        pthread_setspecific(submissionKey, nil)
        return pointer.assumingMemoryBound(to: ThreadPoolCore.Submission.self).pointee
    }

    /// "prefix-index", cut to the 15 bytes Linux keeps by shortening the prefix, never the index.
    static func name(prefix: String, index: Int) -> String {
        let suffix = "-\(index)"
        var kept = Substring(prefix)
        while kept.utf8.count + suffix.utf8.count > 15 { kept = kept.dropLast() }
        return kept + suffix
    }

    /// Counts one more executor job run on the calling worker thread.
    static func countJob() {
        let count = Int(bitPattern: pthread_getspecific(jobCountKey))
        // Never back to 0, which reads as "no value".
        pthread_setspecific(jobCountKey, UnsafeRawPointer(bitPattern: count == Int.max ? 1 : count + 1))
    }

    /// Which thread is running, how many executor jobs it has run, and its CPU clock: two readings
    /// around a piece of work tell its CPU time exactly when nothing else ran on the thread between.
    struct Stint {
        let thread: pthread_t
        let jobCount: Int
        let cpuNanoseconds: UInt64

        static func now() -> Stint {
            Stint(
                thread: pthread_self(),
                jobCount: Int(bitPattern: pthread_getspecific(jobCountKey)),
                cpuNanoseconds: threadCPUNanoseconds()
            )
        }

        /// The CPU time since `self` if the work stayed on this thread in one executor job, else
        /// `nil`: work that suspended may have resumed elsewhere, or let other work run here.
        func cpuNanosecondsIfUninterrupted() -> UInt64? {
            let end = Stint.now()
            guard pthread_equal(end.thread, thread) != 0, end.jobCount == jobCount else { return nil }
            return end.cpuNanoseconds &- cpuNanoseconds
        }
    }

    /// Whether the calling thread is a worker of `core`.
    static func isServing(_ core: ThreadPoolCore) -> Bool {
        pthread_getspecific(poolKey) == Unmanaged.passUnretained(core).toOpaque()
    }
}
