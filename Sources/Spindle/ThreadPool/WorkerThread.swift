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

    /// Starts one detached thread that runs `core.serve()` until the pool stops.
    ///
    /// - Throws: ``SpindleError/Code/systemError`` when the system refuses another thread.
    static func start(serving core: ThreadPoolCore, name: String) throws(SpindleError) {
        let key = poolKey
        try startDetachedThread(name: name) {
            pthread_setspecific(key, Unmanaged.passUnretained(core).toOpaque())
            core.serve()
            pthread_setspecific(key, nil)
        }
    }

    /// "prefix-index", cut to the 15 bytes Linux keeps by shortening the prefix, never the index.
    static func name(prefix: String, index: Int) -> String {
        let suffix = "-\(index)"
        var kept = Substring(prefix)
        while kept.utf8.count + suffix.utf8.count > 15 { kept = kept.dropLast() }
        return kept + suffix
    }

    /// Whether the calling thread is a worker of `core`.
    static func isServing(_ core: ThreadPoolCore) -> Bool {
        pthread_getspecific(poolKey) == Unmanaged.passUnretained(core).toOpaque()
    }
}
