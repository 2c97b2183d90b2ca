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
    let ring: QueueRing

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

    /// Puts `element` at the end of the queue if there is room now.
    ///
    /// - Returns: `false` when the queue is full.
    /// - Throws: ``SpindleError/Code/closed`` when the queue is closed;
    ///   ``SpindleError/Code/encodingFailed`` when `element` cannot be encoded;
    ///   ``SpindleError/Code/invalidArgument`` when it is too large for the queue ever to hold.
    /// - Complexity: O(encoded size), with a process-shared mutex held for the copy.
    public func tryPut(_ element: Element) throws -> Bool {
        let message = try encode(element)
        return try put(message, deadline: monotonicNanoseconds(), cancelled: nil, sleeping: false)
    }

    /// Puts `element` at the end of the queue, blocking while it is full, at most for `timeout`.
    ///
    /// - Parameter timeout: how long to wait for room at most; `nil` waits as long as it takes.
    /// - Throws: ``SpindleError/Code/timedOut`` when the queue stayed full for `timeout`, and the
    ///   errors of ``tryPut(_:)``.
    /// - Complexity: O(encoded size), with a process-shared mutex held for the copy.
    @available(*, noasync, message: "use the async put, which does not block a thread of the cooperative pool")
    public func put(_ element: Element, timeout: Duration? = nil) throws {
        let message = try encode(element)
        guard try put(message, deadline: Self.deadline(timeout), cancelled: nil, sleeping: true) else {
            throw SpindleError(.timedOut, "the process queue stayed full for \(timeout ?? .zero)")
        }
    }

    /// Puts `element` at the end of the queue, waiting while it is full, at most for `timeout`.
    ///
    /// - Parameter timeout: how long to wait for room at most; `nil` waits as long as it takes.
    /// - Throws: ``SpindleError/Code/cancelled`` when the task was cancelled while waiting,
    ///   ``SpindleError/Code/timedOut`` when the queue stayed full for `timeout`, and the errors
    ///   of ``tryPut(_:)``.
    /// - Complexity: O(encoded size), with a process-shared mutex held for the copy.
    public func put(_ element: Element, timeout: Duration? = nil) async throws {
        let message = try encode(element)
        let deadline = Self.deadline(timeout)
        // Try, and spin a moment, on this thread; sleep only on a thread of its own.
        if try put(message, deadline: deadline, cancelled: nil, sleeping: false) { return }
        try Self.checkWaiting(deadline: deadline)
        let done = try await waitOffPool { cancelled throws in
            try self.put(message, deadline: deadline, cancelled: cancelled, sleeping: true)
        }
        guard done else { throw SpindleError(.timedOut, "the process queue stayed full for \(timeout ?? .zero)") }
    }

    /// Puts `message`: `true` when done, `false` when a wait without sleeping ended with no room.
    private func put(
        _ message: [UInt8],
        deadline: UInt64?,
        cancelled: CancellationFlag?,
        sleeping: Bool,
        crash: QueueCrashPoint? = nil
    ) throws(SpindleError) -> Bool {
        var waited = false
        while true {
            let outcome = try message.withUnsafeBytes { bytes in
                Result { () throws(SpindleError) in try ring.tryPut(bytes, crash: crash) }
            }.get()
            switch outcome {
            case .done:
                return true
            case .closed:
                throw Self.closedError
            case .wouldBlock(let observed):
                if !sleeping && waited || deadline.map({ monotonicNanoseconds() >= $0 }) == true {
                    // Leaving without the room a sleeper may have been woken for: pass it on.
                    ring.wakeAnother(.producer)
                    return false
                }
                if cancelled?.isCancelled == true {
                    ring.wakeAnother(.producer)
                    throw SpindleError(.cancelled, "the wait to put into a process queue was cancelled")
                }
                ring.wait(.producer, observed: observed, deadline: deadline, spinOnly: !sleeping, spins: !waited)
                waited = true
            }
        }
    }

    // MARK: Getting

    /// Takes the value at the front of the queue if there is one now.
    ///
    /// - Returns: the value, or `nil` when the queue is empty but open.
    /// - Throws: ``SpindleError/Code/closed`` when the queue is closed and empty;
    ///   ``SpindleError/Code/encodingFailed`` when the value cannot be decoded as an `Element`
    ///   (it is taken all the same).
    /// - Complexity: O(encoded size), with a process-shared mutex held for the copy.
    public func tryGet() throws -> Element? {
        switch try take(deadline: monotonicNanoseconds(), cancelled: nil, sleeping: false) {
        case .element(let element): element
        case .closed: throw Self.closedError
        case .nothing: nil
        }
    }

    /// Takes the value at the front of the queue, blocking while it is empty, at most for `timeout`.
    ///
    /// - Parameter timeout: how long to wait for a value at most; `nil` waits as long as it takes.
    /// - Throws: ``SpindleError/Code/timedOut`` when the queue stayed empty for `timeout`, and the
    ///   errors of ``tryGet()``.
    /// - Complexity: O(encoded size), with a process-shared mutex held for the copy.
    @available(*, noasync, message: "use the async get, which does not block a thread of the cooperative pool")
    public func get(timeout: Duration? = nil) throws -> Element {
        switch try take(deadline: Self.deadline(timeout), cancelled: nil, sleeping: true) {
        case .element(let element): return element
        case .closed: throw Self.closedError
        case .nothing: throw SpindleError(.timedOut, "the process queue stayed empty for \(timeout ?? .zero)")
        }
    }

    /// Takes the value at the front of the queue, waiting while it is empty, at most for `timeout`.
    ///
    /// - Parameter timeout: how long to wait for a value at most; `nil` waits as long as it takes.
    /// - Throws: ``SpindleError/Code/cancelled`` when the task was cancelled while waiting,
    ///   ``SpindleError/Code/timedOut`` when the queue stayed empty for `timeout`, and the errors
    ///   of ``tryGet()``.
    /// - Complexity: O(encoded size), with a process-shared mutex held for the copy.
    public func get(timeout: Duration? = nil) async throws -> Element {
        guard let element = try await receive(deadline: Self.deadline(timeout)) else { throw Self.closedError }
        return element
    }

    /// Takes the next value, waiting for it off the cooperative pool if need be; `nil` once the
    /// queue is closed and empty. `poll` runs between sleeps of the wait, and may end it by throwing.
    func receive(
        deadline: UInt64?,
        poll: (@Sendable () throws -> Void)? = nil
    ) async throws -> Element? {
        switch try take(deadline: deadline, cancelled: nil, sleeping: false) {
        case .element(let element): return element
        case .closed: return nil
        case .nothing: break
        }
        try Self.checkWaiting(deadline: deadline)
        let taken = try await waitOffPool { cancelled throws in
            try self.take(deadline: deadline, cancelled: cancelled, sleeping: true, poll: poll)
        }
        switch taken {
        case .element(let element): return element
        case .closed: return nil
        case .nothing: throw SpindleError(.timedOut, "the process queue stayed empty")
        }
    }

    /// What ``take(deadline:cancelled:sleeping:poll:crash:)`` found.
    enum Taken: Sendable {
        case element(Element)
        case closed
        /// Nothing by the deadline, or, without sleeping, after a short spin.
        case nothing
    }

    func take(
        deadline: UInt64?,
        cancelled: CancellationFlag?,
        sleeping: Bool,
        poll: (() throws -> Void)? = nil,
        crash: QueueCrashPoint? = nil
    ) throws -> Taken {
        var waited = false
        while true {
            // Small messages are copied to the stack, larger ones to the heap: the ring copies the
            // message with its mutex held, and it is decoded after, with the mutex released.
            var element: Element?
            let outcome = try withUnsafeTemporaryAllocation(
                byteCount: QueueRing.stackMessageBytes,
                alignment: 16
            ) { stack throws(SpindleError) -> QueueRing.Outcome in
                let (outcome, message) = try ring.tryGet(into: stack, crash: crash)
                guard outcome == .done else { return outcome }
                defer { if message.baseAddress != stack.baseAddress { message.deallocate() } }
                element = try Self.decode(UnsafeRawBufferPointer(message))
                return outcome
            }
            switch outcome {
            case .done:
                return .element(element!)
            case .closed:
                return .closed
            case .wouldBlock(let observed):
                if !sleeping && waited || deadline.map({ monotonicNanoseconds() >= $0 }) == true {
                    ring.wakeAnother(.consumer)
                    return .nothing
                }
                if cancelled?.isCancelled == true {
                    ring.wakeAnother(.consumer)
                    throw SpindleError(.cancelled, "the wait to get from a process queue was cancelled")
                }
                if waited, let poll {
                    do {
                        try poll()
                    } catch {
                        ring.wakeAnother(.consumer)
                        throw error
                    }
                }
                ring.wait(.consumer, observed: observed, deadline: deadline, spinOnly: !sleeping, spins: !waited)
                waited = true
            }
        }
    }

    // MARK: Encoding

    private func encode(_ element: Element) throws(SpindleError) -> [UInt8] {
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

    private static func decode(_ bytes: UnsafeRawBufferPointer) throws(SpindleError) -> Element {
        do {
            return try WireDecoder.decode(Element.self, from: bytes)
        } catch {
            throw SpindleError(.encodingFailed, "a value taken from a process queue cannot be decoded: \(error)")
        }
    }

    private static var closedError: SpindleError { SpindleError(.closed, "the process queue is closed") }

    private static func deadline(_ timeout: Duration?) -> UInt64? {
        timeout.map { monotonicNanoseconds() &+ $0.clampedNanoseconds }
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
        _ = try put(encode(element), deadline: nil, cancelled: nil, sleeping: true, crash: crash)
        fatalError("unreachable: the put should have killed its process")
    }

    /// Takes a value, but kills this process with `SIGKILL` at `crash`, mutex held.
    package func _getAndDie(at crash: QueueCrashPoint) throws -> Never {
        _ = try take(deadline: nil, cancelled: nil, sleeping: true, crash: crash)
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
