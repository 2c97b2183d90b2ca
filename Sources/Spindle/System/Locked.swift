internal import Glibc

/// A value guarded by a pthread mutex that is allocated in the same block as the value.
///
/// Why not `Synchronization.Mutex`: on Linux its lock lives in uninstrumented standard-library
/// code, so ThreadSanitizer cannot see it and reports every access it guards as a race (a
/// two-thread counter under `Mutex.withLock` is enough to show it with Swift 6.3). The suite must
/// run clean under ThreadSanitizer, and a pthread mutex is one it understands. In debug builds the
/// mutex checks for misuse (`PTHREAD_MUTEX_ERRORCHECK`), as `ConditionLock` does.
///
/// ```swift
/// let counter = Locked(0)
/// counter.withLock { $0 += 1 }
/// ```
///
/// With ``HazardChecks`` on when it is made (`SPINDLE_HAZARD_CHECKS` in the environment turns
/// them on from the start), it joins the lock-order graph and the deadlock watchdog like a
/// ``CheckedLock``, as one lock class per place of creation; the locks of the checks themselves
/// are made with `checked: false`.
@usableFromInline
package struct Locked<Value>: @unchecked Sendable {
    // @unchecked Sendable because every access to the value goes through the mutex.
    private let storage: Storage

    package init(_ value: Value, checked: Bool = true, fileID: String = #fileID, line: Int = #line) {
        let identity = checked ? LockChecking.internalIdentity(fileID: fileID, line: line) : nil
        let buffer = Storage.create(minimumCapacity: 1) { _ in Header(value: value, identity: identity) }
        storage = unsafeDowncast(buffer, to: Storage.self)
        storage.withUnsafeMutablePointerToElements { initializeMutex($0) }
    }

    /// Runs `body` with exclusive access to the value.
    package func withLock<R, E: Error>(
        fileID: String = #fileID,
        line: Int = #line,
        _ body: (inout Value) throws(E) -> R
    ) throws(E) -> R {
        try storage.withUnsafeMutablePointers { (header, mutex) throws(E) -> R in
            if let identity = header.pointee.identity, HazardChecks.isEnabled {
                LockChecking.lock(
                    identity,
                    fileID: fileID,
                    line: line,
                    tryLock: { pthread_mutex_trylock(mutex) == 0 },
                    lock: { Self.lock(mutex) }
                )
                defer {
                    LockChecking.willRelease(identity)
                    Self.unlock(mutex)
                }
                return try body(&header.pointee.value)
            }
            Self.lock(mutex)
            defer { Self.unlock(mutex) }
            return try body(&header.pointee.value)
        }
    }

    private static func lock(_ mutex: UnsafeMutablePointer<pthread_mutex_t>) {
        let err = pthread_mutex_lock(mutex)
        precondition(err == 0, "pthread_mutex_lock failed: \(err)")
    }

    private static func unlock(_ mutex: UnsafeMutablePointer<pthread_mutex_t>) {
        let err = pthread_mutex_unlock(mutex)
        precondition(err == 0, "pthread_mutex_unlock failed: \(err)")
    }

    private struct Header {
        var value: Value
        let identity: LockIdentity?
    }

    private final class Storage: ManagedBuffer<Header, pthread_mutex_t> {
        deinit {
            _ = withUnsafeMutablePointerToElements { pthread_mutex_destroy($0) }
        }
    }
}

/// Initialises a pthread mutex that checks for misuse (relocking, unlocking from another thread)
/// in debug builds.
func initializeMutex(_ mutex: UnsafeMutablePointer<pthread_mutex_t>) {
    var attributes = pthread_mutexattr_t()
    pthread_mutexattr_init(&attributes)
    #if DEBUG
    pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ERRORCHECK))
    #endif
    let err = pthread_mutex_init(mutex, &attributes)
    precondition(err == 0, "pthread_mutex_init failed: \(err)")
    pthread_mutexattr_destroy(&attributes)
}

/// Initialises a pthread mutex that lives in memory processes share: process-shared and robust (a
/// taker after a holder died gets `EOWNERDEAD` instead of waiting for ever), and error-checking,
/// which costs nothing more on a robust mutex (both take glibc's slow path) and turns a relock by
/// the holder into `EDEADLK` rather than a silent deadlock.
///
/// - Throws: ``SpindleError/Code/systemError`` when `pthread_mutex_init` fails.
func initializeRobustSharedMutex(_ mutex: UnsafeMutablePointer<pthread_mutex_t>) throws(SpindleError) {
    var attributes = pthread_mutexattr_t()
    pthread_mutexattr_init(&attributes)
    defer { pthread_mutexattr_destroy(&attributes) }
    pthread_mutexattr_setpshared(&attributes, Int32(PTHREAD_PROCESS_SHARED))
    pthread_mutexattr_setrobust(&attributes, Int32(PTHREAD_MUTEX_ROBUST))
    pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ERRORCHECK))
    let err = pthread_mutex_init(mutex, &attributes)
    guard err == 0 else { throw .system("pthread_mutex_init of a process-shared mutex", err) }
}
