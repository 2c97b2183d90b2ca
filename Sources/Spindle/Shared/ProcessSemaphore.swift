/// A counting semaphore that threads of several processes share.
///
/// It holds a count of permits: ``acquire()`` takes one, waiting while there are none, and
/// ``release(_:)`` gives some back, waking as many waiters. It lives in shared memory and crosses a
/// ``ProcessPool``'s messages as a handle to the same memory, so it can be a job's property; on a
/// ``ThreadPool`` the same value works unchanged.
///
/// ```swift
/// // At most two jobs, in whatever processes, use the licence server at once.
/// struct Render: Job {
///     var licences: ProcessSemaphore
///     func run(_ scene: Int) async throws -> Int {
///         try await licences.acquire()
///         defer { licences.release() }
///         return scene
///     }
/// }
/// let licences = try ProcessSemaphore(value: 2)
/// ```
///
/// A semaphore has no owner, as Python's has none: any thread of any process may release what
/// another acquired. So nothing can tell that a process died between its `acquire` and its
/// `release`; its permit is lost. Where that matters, give the waits a timeout.
public struct ProcessSemaphore: Sendable {
    let segment: SharedSegment

    // Layout: the count (futex word) at 0; at 4, how many threads sleep on it, so that a release
    // makes the wake system call only when someone waits. A waiter that dies asleep leaves that
    // number one too high, which costs later releases a needless system call, nothing more.
    private var count: FutexWord { FutexWord(segment.bytes) }
    private var sleepers: FutexWord { FutexWord(segment.bytes + 4) }

    /// How many threads sleep in a wait now (one too many for each that died asleep): for tests.
    var sleeperCount: Int { Int(sleepers.load()) }

    /// The largest count: permits beyond it are a programming error.
    private static let maximum = Int(Int32.max)

    /// Makes a semaphore holding `value` permits.
    ///
    /// - Throws: ``SpindleError/Code/invalidArgument`` for a negative value or one above
    ///   `Int32.max`; ``SpindleError/Code/systemError`` when shared memory cannot be had.
    public init(value: Int = 1) throws {
        guard value >= 0, value <= Self.maximum else {
            throw SpindleError(.invalidArgument, "a semaphore of \(value) permits: it takes 0...\(Self.maximum)")
        }
        segment = try SharedSegment(kind: .semaphore, byteCount: 8)
        count.store(UInt32(value))
    }

    init(segment: SharedSegment) throws(SpindleError) {
        guard segment.byteCount >= 8 else {
            throw SpindleError(.encodingFailed, "a shared semaphore's segment is too small to hold one")
        }
        self.segment = segment
    }

    /// The permits available now; already stale when it returns, if other threads are at work.
    public var value: Int { Int(count.load()) }

    /// Takes a permit if one is available, without waiting; returns whether it did.
    public func tryAcquire() -> Bool {
        var current = count.load()
        while current > 0 {
            if count.compareExchange(current, current - 1) { return true }
            current = count.load()
        }
        return false
    }

    /// Takes a permit, waiting as long as it takes for one.
    ///
    /// The corresponding C function is `futex` with `FUTEX_WAIT`.
    @available(*, noasync, message: "use the async acquire(), which waits off the cooperative pool")
    public func acquire() {
        // Without a deadline or a cancellation flag, the wait cannot fail.
        try? acquire(WaitDeadline(nil), timeout: nil, nil)
    }

    /// Takes a permit, waiting at most `timeout` for one.
    ///
    /// - Throws: ``SpindleError/Code/timedOut`` when no permit came within `timeout`.
    @available(*, noasync, message: "use the async acquire(timeout:), which waits off the cooperative pool")
    public func acquire(timeout: Duration) throws {
        try acquire(WaitDeadline(timeout), timeout: timeout, nil)
    }

    /// Takes a permit without blocking Swift's cooperative pool while it waits: a wait happens on
    /// a thread of its own.
    ///
    /// - Throws: ``SpindleError/Code/cancelled`` when the task is cancelled while waiting.
    public func acquire() async throws {
        try await acquire(deadline: WaitDeadline(nil), timeout: nil)
    }

    /// Takes a permit, waiting at most `timeout` without blocking Swift's cooperative pool.
    ///
    /// - Throws: ``SpindleError/Code/timedOut`` when no permit came within `timeout`,
    ///   ``SpindleError/Code/cancelled`` when the task is cancelled while waiting.
    public func acquire(timeout: Duration) async throws {
        try await acquire(deadline: WaitDeadline(timeout), timeout: timeout)
    }

    /// Gives back `permits` permits (1 by default), waking up to as many waiters.
    ///
    /// - Parameter permits: How many; at least 1. Going past `Int32.max` permits in all traps.
    ///
    /// The corresponding C function is `futex` with `FUTEX_WAKE`.
    public func release(_ permits: Int = 1) {
        precondition(permits >= 1 && permits <= Self.maximum, "ProcessSemaphore.release(\(permits)): at least 1")
        let old = count.add(UInt32(permits))
        precondition(Int(old) + permits <= Self.maximum, "ProcessSemaphore released past Int32.max permits")
        // Sequentially consistent on both sides: a waiter counts itself in `sleepers` and then
        // sleeps only while the count is 0; a releaser adds to the count and then reads `sleepers`.
        // One of the two sees the other's write, so no waiter sleeps through a release.
        if sleepers.load() > 0 { count.wake(Int32(permits)) }
    }

    private func acquire(deadline: WaitDeadline, timeout: Duration?) async throws {
        if tryAcquire() { return }
        try await waitOffPool { cancelled throws(SpindleError) in
            try self.acquire(deadline, timeout: timeout, cancelled)
        }
    }

    /// The wait itself, in slices, on the calling thread.
    private func acquire(
        _ deadline: WaitDeadline,
        timeout: Duration?,
        _ cancelled: CancellationFlag?
    ) throws(SpindleError) {
        while !tryAcquire() {
            if cancelled?.isCancelled == true { throw .waitCancelled("a semaphore's permit") }
            let sleep = deadline.nextSleep
            if sleep == 0 { throw .waitTimedOut("acquiring a semaphore", timeout) }
            sleepers.add(1)
            count.wait(whileEqualTo: 0, nanoseconds: sleep)
            sleepers.subtract(1)
        }
    }
}

extension ProcessSemaphore: Codable {
    /// Writes a handle to the semaphore's shared memory, which only a Spindle pool's messages can
    /// carry.
    ///
    /// - Throws: `EncodingError.invalidValue` for any other encoder: a semaphore is memory, not data.
    public func encode(to encoder: any Encoder) throws {
        try segment.encodeHandle(of: Self.self, to: encoder)
    }

    /// Reads a handle written by ``encode(to:)``: the same semaphore, in the receiving process.
    ///
    /// - Throws: `DecodingError.dataCorrupted` outside a Spindle pool's message, or for a handle
    ///   that names no semaphore.
    public init(from decoder: any Decoder) throws {
        let (segment, _) = try SharedSegment.decodeHandle(kind: .semaphore, of: Self.self, from: decoder)
        try self.init(segment: segment)
    }
}
