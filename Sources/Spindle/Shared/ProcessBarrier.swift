/// A meeting point for a fixed number of parties in any processes, like Python's
/// `multiprocessing.Barrier`, that breaks rather than hangs when a party dies.
///
/// Each party calls ``wait()``; the call returns once all ``parties`` have called it, and the
/// barrier is then ready for the next round (a *generation*). It lives in shared memory and crosses
/// a ``ProcessPool``'s messages as a handle to the same memory, so it can be a job's property; on a
/// ``ThreadPool`` the same value works unchanged.
///
/// ```swift
/// struct Step: Job {
///     var barrier: ProcessBarrier
///     func run(_ part: Int) async throws -> Int {
///         for _ in 0..<10 {
///             // ... compute this part's step ...
///             try await barrier.wait(timeout: .seconds(30))  // everyone finishes the step first
///         }
///         return part
///     }
/// }
/// let barrier = try ProcessBarrier(parties: 4)
/// let parts = try await pool.map(Step(barrier: barrier), 0..<4).collect()
/// ```
///
/// ## Breaking
///
/// A broken barrier makes every waiting party, and every later ``wait()``, throw
/// ``SpindleError/Code/brokenBarrier`` until ``reset()``. It breaks when:
/// - someone calls ``abort()``;
/// - a wait runs out of time (that party gets ``SpindleError/Code/timedOut``) or, in the async
///   ``wait()``, its task is cancelled (``SpindleError/Code/cancelled``): a party that leaves would
///   otherwise leave the others short of one for ever;
/// - a party died, as far as the waiters can tell (below).
///
/// ## Dead parties
///
/// Each party records its process (pid and start time, so that a reused pid cannot pass for it) in
/// the barrier as it arrives. Waiting parties wake every 50 ms and check, in `/proc`, that:
/// - every party that has arrived in this generation still runs: a party killed while waiting
///   breaks the barrier;
/// - every process that arrived in the previous generation and has not arrived in this one still
///   runs: a party killed between two waits breaks it.
///
/// The limits of what that can see:
/// - A party that never arrived at all, in no generation, is unknown to the others: only a timeout
///   catches its death. Give the first ``wait(timeout:)`` a timeout if a party may die before it.
/// - Identity is the process, not the thread: in one process nothing can be found dead, and the
///   threads of one process count as that process once per party they are.
/// - A process that leaves for good after one generation, even by a clean exit, while the others
///   wait for it in the next, breaks the barrier, even if another process would have come in its
///   place. To go on with other processes, ``reset()`` the barrier first (it forgets the parties).
/// - A party that dies in the instant between counting its arrival and recording its process is
///   not recorded; the check can miss that one.
/// - Parties must share a pid namespace (as a pool's workers do) and see `/proc`; a process whose
///   `/proc` entry cannot be read counts as alive.
public struct ProcessBarrier: Sendable {
    let segment: SharedSegment

    /// How many parties each generation waits for.
    public let parties: Int

    // Layout: the state (futex word) at 0; `parties` at 4; from 64, two lists of `parties` process
    // identities (u64): the arrivals of the even generations and of the odd ones. A generation's
    // list is cleared by the party that trips the one before it.
    //
    // The state word packs everything that changes at once, so that one compare-and-swap moves the
    // barrier from one state to the next:
    // - bits 0...15: parties arrived in this generation;
    // - bits 16...29: the generation, modulo 2^14;
    // - bit 30: this generation began with a reset (the waiters of the one before are broken);
    // - bit 31: broken.
    // Alternatives considered: a glibc condition variable and mutex, which a party killed mid-wait
    // can leave inconsistent; a separate generation and count, which a reset racing a trip could
    // leave disagreeing.
    var state: FutexWord { FutexWord(segment.bytes) }
    static let listsOffset = 64
    static let countMask: UInt32 = 0xFFFF
    static let generationShift: UInt32 = 16
    static let generationMask: UInt32 = 0x3FFF
    static let resetBit: UInt32 = 1 << 30
    static let brokenBit: UInt32 = 1 << 31

    /// The most parties a barrier may have.
    public static let maximumParties = 65_535

    /// Makes a barrier for `parties` parties.
    ///
    /// - Throws: ``SpindleError/Code/invalidArgument`` unless `parties` is in
    ///   1...``maximumParties``; ``SpindleError/Code/systemError`` when shared memory cannot be had.
    public init(parties: Int) throws {
        guard parties >= 1, parties <= Self.maximumParties else {
            throw SpindleError(.invalidArgument, "a barrier of \(parties) parties: it takes 1...\(Self.maximumParties)")
        }
        segment = try SharedSegment(kind: .barrier, byteCount: Self.listsOffset + 16 * parties)
        segment.bytes.storeBytes(of: UInt32(parties), toByteOffset: 4, as: UInt32.self)
        self.parties = parties
    }

    init(segment: SharedSegment) throws(SpindleError) {
        let parties =
            segment.byteCount >= Self.listsOffset ? Int(segment.bytes.load(fromByteOffset: 4, as: UInt32.self)) : 0
        guard parties >= 1, parties <= Self.maximumParties, segment.byteCount >= Self.listsOffset + 16 * parties else {
            throw SpindleError(.encodingFailed, "a shared barrier's segment does not hold a barrier")
        }
        self.segment = segment
        self.parties = parties
    }

    /// How many parties are waiting in the current generation.
    public var waitingCount: Int { Int(state.load() & Self.countMask) }

    /// Whether the barrier is broken: every wait throws ``SpindleError/Code/brokenBarrier`` until
    /// ``reset()``.
    public var isBroken: Bool { state.load() & Self.brokenBit != 0 }

    /// Waits until all ``parties`` have called `wait`, as long as it takes.
    ///
    /// - Returns: this party's place in the generation's arrivals, 0 for the first and
    ///   `parties - 1` for the last, which is the one that released the others.
    /// - Throws: ``SpindleError/Code/brokenBarrier`` when the barrier is or becomes broken.
    @available(*, noasync, message: "use the async wait(), which waits off the cooperative pool")
    @discardableResult
    public func wait() throws -> Int {
        let arrival = try arrive()
        guard case .waiting(let generation, let index) = arrival else { return arrival.index }
        return try awaitRelease(generation, index, WaitDeadline(nil), timeout: nil, nil)
    }

    /// Waits until all ``parties`` have called `wait`, at most `timeout`; on timeout, breaks the
    /// barrier for the others.
    ///
    /// - Returns: this party's place in the generation's arrivals, as ``wait()`` does.
    /// - Throws: ``SpindleError/Code/timedOut`` when the others did not all come within `timeout`;
    ///   ``SpindleError/Code/brokenBarrier`` when the barrier is or becomes broken.
    @available(*, noasync, message: "use the async wait(timeout:), which waits off the cooperative pool")
    @discardableResult
    public func wait(timeout: Duration) throws -> Int {
        let deadline = WaitDeadline(timeout)
        let arrival = try arrive()
        guard case .waiting(let generation, let index) = arrival else { return arrival.index }
        return try awaitRelease(generation, index, deadline, timeout: timeout, nil)
    }

    /// Waits until all ``parties`` have called `wait`, without blocking Swift's cooperative pool: a
    /// wait happens on a thread of its own.
    ///
    /// - Returns: this party's place in the generation's arrivals, as ``wait()`` does.
    /// - Throws: ``SpindleError/Code/brokenBarrier`` when the barrier is or becomes broken;
    ///   ``SpindleError/Code/cancelled`` when the task is cancelled while waiting, which breaks it.
    @discardableResult
    public func wait() async throws -> Int {
        try await wait(deadline: WaitDeadline(nil), timeout: nil)
    }

    /// Waits until all ``parties`` have called `wait`, at most `timeout`, without blocking Swift's
    /// cooperative pool; on timeout or cancellation, breaks the barrier for the others.
    ///
    /// - Returns: this party's place in the generation's arrivals, as ``wait()`` does.
    /// - Throws: ``SpindleError/Code/timedOut``, ``SpindleError/Code/brokenBarrier`` or
    ///   ``SpindleError/Code/cancelled``.
    @discardableResult
    public func wait(timeout: Duration) async throws -> Int {
        try await wait(deadline: WaitDeadline(timeout), timeout: timeout)
    }

    private func wait(deadline: WaitDeadline, timeout: Duration?) async throws -> Int {
        let arrival = try arrive()
        guard case .waiting(let generation, let index) = arrival else { return arrival.index }
        return try await waitOffPool { cancelled throws(SpindleError) in
            try self.awaitRelease(generation, index, deadline, timeout: timeout, cancelled)
        }
    }

    /// Breaks the barrier: every waiting party, and every later wait, throws
    /// ``SpindleError/Code/brokenBarrier`` until ``reset()``.
    public func abort() {
        var current = state.load()
        while current & Self.brokenBit == 0 {
            if state.compareExchange(current, current | Self.brokenBit) {
                state.wake()
                return
            }
            current = state.load()
        }
    }

    /// Empties the barrier and mends it if broken, and forgets its parties' processes; parties
    /// waiting in it throw ``SpindleError/Code/brokenBarrier``.
    public func reset() {
        clearList(0)
        clearList(1)
        while true {
            let current = state.load()
            let next = Self.nextGeneration(of: current) | Self.resetBit
            if state.compareExchange(current, next) {
                state.wake()
                return
            }
        }
    }
}

extension ProcessBarrier: Codable {
    /// Writes a handle to the barrier's shared memory, which only a Spindle pool's messages can
    /// carry.
    ///
    /// - Throws: `EncodingError.invalidValue` for any other encoder: a barrier is memory, not data.
    public func encode(to encoder: any Encoder) throws {
        try segment.encodeHandle(of: Self.self, to: encoder)
    }

    /// Reads a handle written by ``encode(to:)``: the same barrier, in the receiving process.
    ///
    /// - Throws: `DecodingError.dataCorrupted` outside a Spindle pool's message, or for a handle
    ///   that names no barrier.
    public init(from decoder: any Decoder) throws {
        let (segment, _) = try SharedSegment.decodeHandle(kind: .barrier, of: Self.self, from: decoder)
        try self.init(segment: segment)
    }
}
