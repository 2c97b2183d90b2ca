/// A flag that threads of several processes wait on until one of them sets it, like Python's
/// `multiprocessing.Event`.
///
/// ``set()`` raises the flag and wakes every waiter; ``clear()`` lowers it; ``wait()`` returns at
/// once while it is up, and otherwise waits for the next ``set()``, even if someone clears it again
/// before the waiter runs. It lives in shared memory and crosses a ``ProcessPool``'s messages as a
/// handle to the same memory, so it can be a job's property; on a ``ThreadPool`` the same value
/// works unchanged.
///
/// ```swift
/// struct Worker: Job {
///     var start: ProcessEvent
///     func run(_ x: Int) async throws -> Int {
///         try await start.wait(timeout: .seconds(10))
///         return x * 2
///     }
/// }
/// let start = try ProcessEvent()
/// let results = pool.map(Worker(start: start), 0..<8)
/// start.set()
/// ```
///
/// The flag has no owner, so a process that dies never leaves it in a bad state; a process meant to
/// set it that dies first leaves the waiters waiting, which is what timeouts are for.
public struct ProcessEvent: Sendable {
    let segment: SharedSegment

    // Layout: the state (futex word) at 0: bit 0 is the flag, bits 1...31 count the sets, so that
    // a waiter knows it was set even if it was cleared before the waiter woke. At 4, how many
    // threads sleep on it, so that `set` makes the wake system call only when someone waits.
    private var state: FutexWord { FutexWord(segment.bytes) }
    private var sleepers: FutexWord { FutexWord(segment.bytes + 4) }

    /// How many threads sleep in a wait now (one too many for each that died asleep): for tests.
    var sleeperCount: Int { Int(sleepers.load()) }

    /// Makes an event whose flag is down.
    ///
    /// - Throws: ``SpindleError/Code/systemError`` when shared memory cannot be had.
    public init() throws {
        segment = try SharedSegment(kind: .event, byteCount: 8)
    }

    init(segment: SharedSegment) throws(SpindleError) {
        guard segment.byteCount >= 8 else {
            throw SpindleError(.encodingFailed, "a shared event's segment is too small to hold one")
        }
        self.segment = segment
    }

    /// Whether the flag is up.
    public var isSet: Bool { state.load() & 1 != 0 }

    /// Raises the flag and wakes every thread waiting for it, in every process.
    ///
    /// The corresponding C function is `futex` with `FUTEX_WAKE`.
    public func set() {
        var current = state.load()
        while current & 1 == 0 {
            // The set count wraps after 2^31 sets, harmlessly: a waiter compares it for change only.
            if state.compareExchange(current, (current &+ 2) | 1) {
                // Sequentially consistent on both sides, as in `ProcessSemaphore.release`.
                if sleepers.load() > 0 { state.wake() }
                return
            }
            current = state.load()
        }
    }

    /// Lowers the flag; later waits wait for the next ``set()``.
    public func clear() {
        var current = state.load()
        while current & 1 != 0 {
            if state.compareExchange(current, current & ~1) { return }
            current = state.load()
        }
    }

    /// Waits until the flag is up, as long as it takes.
    ///
    /// The corresponding C function is `futex` with `FUTEX_WAIT`.
    @available(*, noasync, message: "use the async wait(), which waits off the cooperative pool")
    public func wait() {
        try? wait(from: state.load(), WaitDeadline(nil), timeout: nil, nil)
    }

    /// Waits until the flag is up, at most `timeout`.
    ///
    /// - Throws: ``SpindleError/Code/timedOut`` when it stayed down for `timeout`.
    @available(*, noasync, message: "use the async wait(timeout:), which waits off the cooperative pool")
    public func wait(timeout: Duration) throws {
        try wait(from: state.load(), WaitDeadline(timeout), timeout: timeout, nil)
    }

    /// Waits until the flag is up without blocking Swift's cooperative pool: a wait happens on a
    /// thread of its own.
    ///
    /// - Throws: ``SpindleError/Code/cancelled`` when the task is cancelled while waiting.
    public func wait() async throws {
        try await wait(deadline: WaitDeadline(nil), timeout: nil)
    }

    /// Waits until the flag is up, at most `timeout`, without blocking Swift's cooperative pool.
    ///
    /// - Throws: ``SpindleError/Code/timedOut`` when it stayed down for `timeout`,
    ///   ``SpindleError/Code/cancelled`` when the task is cancelled while waiting.
    public func wait(timeout: Duration) async throws {
        try await wait(deadline: WaitDeadline(timeout), timeout: timeout)
    }

    private func wait(deadline: WaitDeadline, timeout: Duration?) async throws {
        let start = state.load()
        if start & 1 != 0 { return }
        try await waitOffPool { cancelled throws(SpindleError) in
            try self.wait(from: start, deadline, timeout: timeout, cancelled)
        }
    }

    /// Waits, in slices, until the flag is up or has been set since the state was `start`.
    private func wait(
        from start: UInt32,
        _ deadline: WaitDeadline,
        timeout: Duration?,
        _ cancelled: CancellationFlag?
    ) throws(SpindleError) {
        var current = start
        while current & 1 == 0 && current == start {
            if cancelled?.isCancelled == true { throw .waitCancelled("an event") }
            let sleep = deadline.nextSleep
            if sleep == 0 { throw .waitTimedOut("an event's set", timeout) }
            sleepers.add(1)
            state.wait(whileEqualTo: current, nanoseconds: sleep)
            sleepers.subtract(1)
            current = state.load()
        }
    }
}

extension ProcessEvent: Codable {
    /// Writes a handle to the event's shared memory, which only a Spindle pool's messages can carry.
    ///
    /// - Throws: `EncodingError.invalidValue` for any other encoder: an event is memory, not data.
    public func encode(to encoder: any Encoder) throws {
        try segment.encodeHandle(of: Self.self, to: encoder)
    }

    /// Reads a handle written by ``encode(to:)``: the same event, in the receiving process.
    ///
    /// - Throws: `DecodingError.dataCorrupted` outside a Spindle pool's message, or for a handle
    ///   that names no event.
    public init(from decoder: any Decoder) throws {
        let (segment, _) = try SharedSegment.decodeHandle(kind: .event, of: Self.self, from: decoder)
        try self.init(segment: segment)
    }
}
