/// A bounded first-in, first-out queue of `Codable` values that several processes can put into and
/// take from at once: Python's `multiprocessing.Queue`, in shared memory.
///
/// Make a queue in one process and hand it to jobs as a property: it crosses to a pool's worker
/// as a handle to the same memory, never as a copy, so every process puts into and takes from the
/// one queue. On a ``ThreadPool`` the jobs simply share the object.
///
/// ```swift
/// struct Produce: Job {
///     var results: ProcessQueue<Int>
///     func run(_ n: Int) async throws -> Bool {
///         for i in 0..<n { try await results.put(i) }
///         return true
///     }
/// }
///
/// let results = try ProcessQueue<Int>(capacity: 1_000)
/// let done = pool.submit(Produce(results: results), 100)
/// for _ in 0..<100 { print(try await results.get()) }
/// ```
///
/// Values are encoded with Spindle's binary wire coder and copied into a ring of `byteCapacity`
/// bytes; the queue holds at most `capacity` values and at most `byteCapacity` bytes of them
/// (each value takes its encoding and 4 bytes more). A value whose encoding can never fit is an
/// error, not a wait. Values that are themselves shared memory (a ``ProcessQueue``, say) cannot be
/// sent through a queue: only a pool's own messages carry shared memory.
///
/// ## Blocking and waiting
///
/// `put` waits while the queue is full and `get` while it is empty, for at most their `timeout`
/// (then they throw ``SpindleError/Code/timedOut``, as Python's `queue.Full` and `queue.Empty`).
/// The `async` versions never block a thread of Swift's cooperative pool for longer than a short
/// spin: when they must really wait, they wait on a thread of their own, and cancelling the task
/// ends the wait with ``SpindleError/Code/cancelled``. ``tryPut(_:)`` and ``tryGet()`` never wait.
///
/// ## Closing
///
/// ``close()`` is for every process at once: after it, puts throw ``SpindleError/Code/closed``,
/// and gets still take what is left, then throw ``SpindleError/Code/closed`` (``tryGet()`` too),
/// rather than returning `nil`, so that "empty for now" and "empty for ever" never look alike.
/// Waiters on either side wake up at once.
///
/// ## Processes that die
///
/// A process killed in the middle of a put or a get, even with `SIGKILL`, never leaves the queue
/// corrupt: every operation takes effect with one final store (see `QueueRing`), so a value half
/// put by a dead process is never seen, and one half taken is still there for the others. A value
/// that a process had taken entirely when it died is gone with it.
public final class ProcessQueue<Element: Codable & Sendable>: Sendable {
    @usableFromInline let ring: QueueRing

    /// Makes an empty queue in new shared memory.
    ///
    /// - Parameters:
    ///   - capacity: the most values the queue holds at once; a put waits for room beyond that.
    ///   - byteCapacity: the size of the ring that holds the encoded values, each with 4 bytes
    ///     more; the largest value that can ever be put is 4 bytes smaller.
    /// - Throws: ``SpindleError/Code/invalidArgument`` for a capacity under 1 or a byte capacity
    ///   under 16 (either at most 2³⁰); ``SpindleError/Code/systemError`` when no shared memory
    ///   can be had.
    public init(capacity: Int = 1_000, byteCapacity: Int = 1 << 20) throws {
        ring = try QueueRing(messageCapacity: capacity, byteCapacity: byteCapacity, fingerprint: Self.fingerprint)
    }

    init(ring: QueueRing) { self.ring = ring }

    /// The most values the queue holds at once.
    public var capacity: Int { ring.messageCapacity }

    /// The size in bytes of the ring that holds the encoded values.
    public var byteCapacity: Int { ring.ringBytes }

    /// The number of values in the queue now; other processes may change it at any moment.
    public var count: Int { ring.count }

    /// Whether the queue holds no value now; other processes may change that at any moment.
    public var isEmpty: Bool { count == 0 }

    /// Whether ``close()`` was called, in any process.
    public var isClosed: Bool { ring.isClosed }

    /// Closes the queue for every process: puts throw ``SpindleError/Code/closed`` from now on,
    /// gets take what is left and then throw it. Closing a closed queue does nothing.
    public func close() { ring.close() }

    // MARK: Putting
    //
    // `put` and `get` are inlinable, so that they are specialized for the element type where they
    // are called: generic code looks up the metadata of every type built on `Element` at run time,
    // which cost a tenth of a small message's round trip. Their bodies only encode or decode, and
    // hand bytes to the ring, which does the rest.

    /// Puts `element` at the end of the queue if there is room now.
    ///
    /// - Returns: `false` when the queue is full.
    /// - Throws: ``SpindleError/Code/closed`` when the queue is closed;
    ///   ``SpindleError/Code/encodingFailed`` when `element` cannot be encoded;
    ///   ``SpindleError/Code/invalidArgument`` when it is too large for the queue ever to hold.
    /// - Complexity: O(encoded size), with a process-shared mutex held for the copy.
    @inlinable
    public func tryPut(_ element: Element) throws -> Bool {
        try ring.put(encode(element), deadline: monotonicNanoseconds(), sleeping: false)
    }

    /// Puts `element` at the end of the queue, blocking while it is full, at most for `timeout`.
    ///
    /// - Parameter timeout: how long to wait for room at most; `nil` waits as long as it takes.
    /// - Throws: ``SpindleError/Code/timedOut`` when the queue stayed full for `timeout`, and the
    ///   errors of ``tryPut(_:)``.
    /// - Complexity: O(encoded size), with a process-shared mutex held for the copy.
    @available(*, noasync, message: "use the async put, which does not block a thread of the cooperative pool")
    @inlinable
    public func put(_ element: Element, timeout: Duration? = nil) throws {
        if try !ring.put(encode(element), deadline: Self.deadline(timeout), sleeping: true) {
            throw Self.timedOut("full", timeout)
        }
    }

    /// Puts `element` at the end of the queue, waiting while it is full, at most for `timeout`.
    ///
    /// - Parameter timeout: how long to wait for room at most; `nil` waits as long as it takes.
    /// - Throws: ``SpindleError/Code/cancelled`` when the task was cancelled while waiting,
    ///   ``SpindleError/Code/timedOut`` when the queue stayed full for `timeout`, and the errors
    ///   of ``tryPut(_:)``.
    /// - Complexity: O(encoded size), with a process-shared mutex held for the copy.
    @inlinable
    public func put(_ element: Element, timeout: Duration? = nil) async throws {
        let message = try encode(element)
        let deadline = Self.deadline(timeout)
        // Try, and spin a moment, on this thread; sleep only on a thread of its own.
        if try !ring.put(message, deadline: deadline, sleeping: false) {
            try await putWaiting(message, deadline: deadline, timeout: timeout)
        }
    }

    /// Puts `message` from a thread of its own, once a spin found no room.
    @usableFromInline
    func putWaiting(_ message: [UInt8], deadline: UInt64?, timeout: Duration?) async throws {
        try Self.checkWaiting(deadline: deadline)
        let done = try await waitOffPool { cancelled throws(SpindleError) in
            try self.ring.put(message, deadline: deadline, cancelled: cancelled, sleeping: true)
        }
        guard done else { throw Self.timedOut("full", timeout) }
    }

    // MARK: Getting

    /// Takes the value at the front of the queue if there is one now.
    ///
    /// - Returns: the value, or `nil` when the queue is empty but open.
    /// - Throws: ``SpindleError/Code/closed`` when the queue is closed and empty;
    ///   ``SpindleError/Code/encodingFailed`` when the value cannot be decoded as an `Element`
    ///   (it is taken all the same).
    /// - Complexity: O(encoded size), with a process-shared mutex held for the copy.
    @inlinable
    public func tryGet() throws -> Element? {
        switch try take(deadline: monotonicNanoseconds(), sleeping: false) {
        case (.message, let element): return element
        case (.closed, _): throw QueueRing.closedError
        case (.nothing, _): return nil
        }
    }

    /// Takes the value at the front of the queue, blocking while it is empty, at most for `timeout`.
    ///
    /// - Parameter timeout: how long to wait for a value at most; `nil` waits as long as it takes.
    /// - Throws: ``SpindleError/Code/timedOut`` when the queue stayed empty for `timeout`, and the
    ///   errors of ``tryGet()``.
    /// - Complexity: O(encoded size), with a process-shared mutex held for the copy.
    @available(*, noasync, message: "use the async get, which does not block a thread of the cooperative pool")
    @inlinable
    public func get(timeout: Duration? = nil) throws -> Element {
        switch try take(deadline: Self.deadline(timeout), sleeping: true) {
        case (.message, let element): return element!
        case (.closed, _): throw QueueRing.closedError
        case (.nothing, _): throw Self.timedOut("empty", timeout)
        }
    }

    /// Takes the value at the front of the queue, waiting while it is empty, at most for `timeout`.
    ///
    /// - Parameter timeout: how long to wait for a value at most; `nil` waits as long as it takes.
    /// - Throws: ``SpindleError/Code/cancelled`` when the task was cancelled while waiting,
    ///   ``SpindleError/Code/timedOut`` when the queue stayed empty for `timeout`, and the errors
    ///   of ``tryGet()``.
    /// - Complexity: O(encoded size), with a process-shared mutex held for the copy.
    @inlinable
    public func get(timeout: Duration? = nil) async throws -> Element {
        let deadline = Self.deadline(timeout)
        switch try take(deadline: deadline, sleeping: false) {
        case (.message, let element): return element!
        case (.closed, _): throw QueueRing.closedError
        case (.nothing, _): break
        }
        guard let element = try await receiveWaiting(deadline: deadline, timeout: timeout) else {
            throw QueueRing.closedError
        }
        return element
    }

    /// Takes the next value, waiting for it off the cooperative pool if need be; `nil` once the
    /// queue is closed and empty. `poll` runs between sleeps of the wait, and may end it by throwing.
    func receive(
        deadline: UInt64?,
        poll: (@Sendable () throws -> Void)? = nil
    ) async throws -> Element? {
        switch try take(deadline: deadline, sleeping: false) {
        case (.message, let element): return element
        case (.closed, _): return nil
        case (.nothing, _): return try await receiveWaiting(deadline: deadline, poll: poll)
        }
    }

    /// Takes the next message and decodes it, waiting as the ring's `take` does: what was found,
    /// and the element when it was a message.
    @inlinable
    func take(deadline: UInt64?, sleeping: Bool) throws -> (QueueRing.Taken, Element?) {
        var element: Element?
        let found = try ring.take(deadline: deadline, sleeping: sleeping) { element = try Self.decode($0) }
        return (found, element)
    }

    /// Takes the next value from a thread of its own, once a spin found none; `nil` once the queue
    /// is closed and empty.
    @usableFromInline
    func receiveWaiting(
        deadline: UInt64?,
        timeout: Duration? = nil,
        poll: (@Sendable () throws -> Void)? = nil
    ) async throws -> Element? {
        try Self.checkWaiting(deadline: deadline)
        return try await waitOffPool { cancelled throws -> Element? in
            var element: Element?
            let taken = try self.ring.take(
                deadline: deadline,
                cancelled: cancelled,
                sleeping: true,
                poll: poll,
                decode: { element = try Self.decode($0) }
            )
            switch taken {
            case .message: return element
            case .closed: return nil
            case .nothing: throw Self.timedOut("empty", timeout)
            }
        }
    }

    // MARK: Encoding

    @usableFromInline
    func encode(_ element: Element) throws(SpindleError) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(64)
        do {
            try WireEncoder.encode(element, into: &bytes)
        } catch {
            throw SpindleError(.encodingFailed, "a value for a process queue cannot be encoded: \(error)")
        }
        guard bytes.count + 4 <= ring.ringBytes else {
            throw SpindleError(
                .invalidArgument,
                "a value of \(bytes.count) encoded bytes can never fit a process queue of \(ring.ringBytes) bytes"
            )
        }
        return bytes
    }

    @usableFromInline
    static func decode(_ bytes: UnsafeRawBufferPointer) throws(SpindleError) -> Element {
        do {
            return try WireDecoder.decode(Element.self, from: bytes)
        } catch {
            throw SpindleError(.encodingFailed, "a value taken from a process queue cannot be decoded: \(error)")
        }
    }

    @usableFromInline
    static func deadline(_ timeout: Duration?) -> UInt64? {
        timeout.map { monotonicNanoseconds() &+ $0.clampedNanoseconds }
    }

    /// The error of a put or get whose `timeout` passed while the queue stayed `state`.
    @usableFromInline
    static func timedOut(_ state: String, _ timeout: Duration?) -> SpindleError {
        SpindleError(.timedOut, "the process queue stayed \(state) for \(timeout ?? .zero)")
    }

    /// Before starting a thread to wait on: throws if there is no time left, or the task is cancelled.
    private static func checkWaiting(deadline: UInt64?) throws(SpindleError) {
        if let deadline, monotonicNanoseconds() >= deadline {
            throw SpindleError(.timedOut, "the process queue did not become ready in time")
        }
        if Task.isCancelled { throw SpindleError(.cancelled, "the wait on a process queue was cancelled") }
    }

    /// What tells a queue of this element type from one of another: a hash of the type's name.
    static var fingerprint: UInt64 {
        let name = _mangledTypeName(Element.self) ?? String(reflecting: Element.self)
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }

    // MARK: For tests

    /// Puts `element`, but kills this process with `SIGKILL` at `crash`, mutex held.
    package func _putAndDie(_ element: Element, at crash: QueueCrashPoint) throws -> Never {
        _ = try ring.put(encode(element), deadline: nil, cancelled: nil, sleeping: true, crash: crash)
        fatalError("unreachable: the put should have killed its process")
    }

    /// Takes a value, but kills this process with `SIGKILL` at `crash`, mutex held.
    package func _getAndDie(at crash: QueueCrashPoint) throws -> Never {
        _ = try ring.take(deadline: nil, cancelled: nil, sleeping: true, crash: crash, decode: { _ in })
        fatalError("unreachable: the get should have killed its process")
    }

    /// How often a process found the queue's mutex held by a dead process and recovered it.
    package var _ownerDeathsRecovered: Int { Int(ring.ownerDeathsRecovered) }
}

extension ProcessQueue: Codable {
    /// Writes a handle to the queue's shared memory: only a Spindle pool's messages can carry it.
    public func encode(to encoder: any Encoder) throws {
        try ring.segment.encodeHandle(of: Self.self, to: encoder)
    }

    /// Opens the queue that a handle in a pool's message names: the same memory, not a copy.
    public convenience init(from decoder: any Decoder) throws {
        let (segment, _) = try SharedSegment.decodeHandle(kind: .queue, of: Self.self, from: decoder)
        do {
            self.init(ring: try QueueRing(segment: segment, fingerprint: Self.fingerprint))
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }
}
