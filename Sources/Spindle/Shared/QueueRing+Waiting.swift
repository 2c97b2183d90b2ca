/// Puts and gets that wait: the loops around ``QueueRing/tryPut(_:crash:)`` and
/// ``QueueRing/tryGet(into:crash:)`` that ``ProcessQueue`` runs, written once for every element type.
///
/// They are not generic, so that a queue's `put` and `get`, which are inlined into their callers
/// and specialized for the element type there, hand the ring only bytes and a decoding closure.
extension QueueRing {
    /// What ``take(deadline:cancelled:sleeping:poll:crash:decode:)`` found.
    @usableFromInline
    enum Taken {
        /// A message, which was passed to the decoding closure.
        case message
        case closed
        /// Nothing by the deadline, or, without sleeping, after a short spin.
        case nothing
    }

    /// Puts `message`: `true` when done, `false` when a wait without sleeping ended with no room.
    ///
    /// - Parameters:
    ///   - deadline: the monotonic time in nanoseconds to give up at; `nil` waits as long as it takes.
    ///   - sleeping: sleep while the ring is full; without it, only a short spin.
    @usableFromInline
    func put(_ message: [UInt8], deadline: UInt64?, sleeping: Bool) throws(SpindleError) -> Bool {
        try put(message, deadline: deadline, cancelled: nil, sleeping: sleeping)
    }

    /// Puts `message`, as ``put(_:deadline:sleeping:)``; a `cancelled` flag ends the wait with
    /// ``SpindleError/Code/cancelled``, and tests make the process die at `crash`.
    func put(
        _ message: [UInt8],
        deadline: UInt64?,
        cancelled: CancellationFlag?,
        sleeping: Bool,
        crash: QueueCrashPoint? = nil
    ) throws(SpindleError) -> Bool {
        var waited = false
        while true {
            let outcome = try message.withUnsafeBytes { bytes in
                Result { () throws(SpindleError) in try tryPut(bytes, crash: crash) }
            }.get()
            switch outcome {
            case .done:
                return true
            case .closed:
                throw Self.closedError
            case .wouldBlock(let observed):
                if !sleeping && waited || deadline.map({ monotonicNanoseconds() >= $0 }) == true {
                    // Leaving without the room a sleeper may have been woken for: pass it on.
                    wakeAnother(.producer)
                    return false
                }
                if cancelled?.isCancelled == true {
                    wakeAnother(.producer)
                    throw SpindleError(.cancelled, "the wait to put into a process queue was cancelled")
                }
                wait(.producer, observed: observed, deadline: deadline, spinOnly: !sleeping, spins: !waited)
                waited = true
            }
        }
    }

    /// Takes the first message and passes it to `decode`, waiting as ``put(_:deadline:sleeping:)`` does.
    @usableFromInline
    func take(
        deadline: UInt64?,
        sleeping: Bool,
        decode: (UnsafeRawBufferPointer) throws -> Void
    ) throws -> Taken {
        try take(deadline: deadline, cancelled: nil, sleeping: sleeping, decode: decode)
    }

    /// Takes the first message, as ``take(deadline:sleeping:decode:)``; `poll` runs between sleeps
    /// and may end the wait by throwing.
    func take(
        deadline: UInt64?,
        cancelled: CancellationFlag?,
        sleeping: Bool,
        poll: (() throws -> Void)? = nil,
        crash: QueueCrashPoint? = nil,
        decode: (UnsafeRawBufferPointer) throws -> Void
    ) throws -> Taken {
        var waited = false
        while true {
            // Small messages are copied to the stack, larger ones to the heap: the ring copies the
            // message with its mutex held, and it is decoded after, with the mutex released.
            let outcome = try withUnsafeTemporaryAllocation(
                byteCount: Self.stackMessageBytes,
                alignment: 16
            ) { stack throws -> Outcome in
                let (outcome, message) = try tryGet(into: stack, crash: crash)
                guard outcome == .done else { return outcome }
                defer { if message.baseAddress != stack.baseAddress { message.deallocate() } }
                try decode(UnsafeRawBufferPointer(message))
                return outcome
            }
            switch outcome {
            case .done:
                return .message
            case .closed:
                return .closed
            case .wouldBlock(let observed):
                if !sleeping && waited || deadline.map({ monotonicNanoseconds() >= $0 }) == true {
                    wakeAnother(.consumer)
                    return .nothing
                }
                if cancelled?.isCancelled == true {
                    wakeAnother(.consumer)
                    throw SpindleError(.cancelled, "the wait to get from a process queue was cancelled")
                }
                if waited, let poll {
                    do {
                        try poll()
                    } catch {
                        wakeAnother(.consumer)
                        throw error
                    }
                }
                wait(.consumer, observed: observed, deadline: deadline, spinOnly: !sleeping, spins: !waited)
                waited = true
            }
        }
    }

    /// What a put into, or a get from, a closed and drained queue throws.
    @usableFromInline
    static var closedError: SpindleError { SpindleError(.closed, "the process queue is closed") }
}
