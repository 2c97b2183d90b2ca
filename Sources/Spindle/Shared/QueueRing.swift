internal import CSpindle
internal import Glibc
import Synchronization

/// The shared memory under a ``ProcessQueue``: a byte ring of length-prefixed messages, guarded by a
/// robust process-shared mutex, with two futex words to sleep on. It moves bytes; the queue encodes.
///
/// ## Layout (in the segment's payload)
///
/// | offset | field |
/// | --- | --- |
/// | 0 | magic `SPNDQUE1` (u64) |
/// | 8 | ring bytes (u64) |
/// | 16 | message capacity (u64) |
/// | 24 | element type fingerprint (u64) |
/// | 32 | owner deaths recovered (u32, atomic) |
/// | 64 | `pthread_mutex_t`: robust, process-shared |
/// | 128 | tail word (u64, atomic) |
/// | 192 | head word (u64, atomic) |
/// | 256 | consumers asleep (u32, atomic), producers asleep (u32, atomic) |
/// | 320 | sender slots of ``ProcessChannel``: 64 × (pid i32, count u32) |
/// | 1024 | the ring |
///
/// A head or tail word is `offset << 32 | closed << 31 | sequence`: the byte offset of the next
/// message to read (head) or of the free space to write (tail), whether the queue is closed, and
/// how many messages were ever taken (head) or put (tail), modulo 2³¹. So the count is
/// `tail.sequence - head.sequence`, and the low half of each word, which changes with every
/// operation and with `close`, is the futex word that the other side sleeps on.
///
/// ## Crash safety
///
/// Every change happens under the mutex and becomes visible with one final atomic store: a put
/// writes the message into free space, which no one reads, then stores the new tail; a get copies
/// the message out, then stores the new head. A process killed at any point before that store
/// leaves the queue as it was (a half-written message is never visible; a half-read one is still
/// there), and one killed after it has done the whole operation. The mutex is robust, so the next
/// process to lock it gets `EOWNERDEAD`, finds the state consistent by construction, marks the
/// mutex consistent and goes on. Sleeping uses futexes, not glibc condition variables, whose
/// internal state a waiter killed at the wrong moment can leave broken.
///
/// A process killed between its final store and its wake-up call leaves a sleeper asleep while
/// there is work for it; so sleepers wake at least every ``sleepSlice`` to look again, and that is
/// the longest such a death can delay them.
@usableFromInline
final class QueueRing: @unchecked Sendable {
    // @unchecked Sendable: the shared words are atomics, and the ring bytes and sender slots are
    // only touched with the process-shared mutex held.

    let segment: SharedSegment
    /// Bytes of the ring: what the messages, each with its 4-byte length, may take at most.
    let ringBytes: Int
    /// How many messages the ring may hold at most.
    let messageCapacity: Int
    private let base: UnsafeMutableRawPointer
    private let ring: UnsafeMutableRawPointer

    private static let magic: UInt64 = 0x3145_5551_444E_5053  // "SPNDQUE1"
    private static let ringOffset = 1024
    static let senderSlotCount = 64
    /// The longest a sleeper sleeps before it looks again, so that a wake-up lost to a process
    /// killed at the wrong moment, or a cancellation, is noticed.
    static let sleepSlice: UInt64 = 100_000_000
    private static let closedBit: UInt64 = 1 << 31
    private static let sequenceMask: UInt64 = (1 << 31) - 1
    /// The largest ring and message capacity: offsets and sequences must fit in 31 bits.
    static let maximumCapacity = 1 << 30

    /// Makes a ring in a new segment.
    ///
    /// - Throws: ``SpindleError/Code/invalidArgument`` for capacities out of range,
    ///   ``SpindleError/Code/systemError`` when no shared memory can be had.
    init(messageCapacity: Int, byteCapacity: Int, fingerprint: UInt64) throws(SpindleError) {
        guard messageCapacity >= 1, messageCapacity <= Self.maximumCapacity else {
            throw SpindleError(
                .invalidArgument,
                "a queue's capacity must be 1...\(Self.maximumCapacity) messages, not \(messageCapacity)"
            )
        }
        guard byteCapacity >= 16, byteCapacity <= Self.maximumCapacity else {
            throw SpindleError(
                .invalidArgument,
                "a queue's byte capacity must be 16...\(Self.maximumCapacity), not \(byteCapacity)"
            )
        }
        segment = try SharedSegment(kind: .queue, byteCount: Self.ringOffset + byteCapacity)
        base = segment.bytes
        ring = base + Self.ringOffset
        ringBytes = byteCapacity
        self.messageCapacity = messageCapacity
        base.storeBytes(of: UInt64(byteCapacity), toByteOffset: 8, as: UInt64.self)
        base.storeBytes(of: UInt64(messageCapacity), toByteOffset: 16, as: UInt64.self)
        base.storeBytes(of: fingerprint, toByteOffset: 24, as: UInt64.self)
        try initializeRobustSharedMutex(mutex)
        // The magic goes last: a ring is only valid once its mutex is.
        word(at: 0).pointee.store(Self.magic, ordering: .releasing)
    }

    /// Opens the ring in a received segment.
    ///
    /// - Throws: ``SpindleError/Code/encodingFailed`` when the segment holds no valid ring, or one
    ///   of messages of another type.
    init(segment: SharedSegment, fingerprint: UInt64) throws(SpindleError) {
        self.segment = segment
        base = segment.bytes
        ring = base + Self.ringOffset
        let corrupt = SpindleError(.encodingFailed, "a received process queue's shared memory is not a valid queue")
        guard segment.byteCount > Self.ringOffset,
            base.load(fromByteOffset: 0, as: UInt64.self) == Self.magic
        else { throw corrupt }
        let bytes = base.load(fromByteOffset: 8, as: UInt64.self)
        let messages = base.load(fromByteOffset: 16, as: UInt64.self)
        guard bytes >= 16, bytes == UInt64(segment.byteCount - Self.ringOffset),
            messages >= 1, messages <= UInt64(Self.maximumCapacity)
        else { throw corrupt }
        guard base.load(fromByteOffset: 24, as: UInt64.self) == fingerprint else {
            throw SpindleError(.encodingFailed, "a received process queue holds messages of another type")
        }
        ringBytes = Int(bytes)
        messageCapacity = Int(messages)
    }

    // MARK: Shared words

    private func word(at offset: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (base + offset).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    private func word32(at offset: Int) -> UnsafeMutablePointer<Atomic<UInt32>> {
        (base + offset).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    private var mutex: UnsafeMutablePointer<pthread_mutex_t> {
        (base + 64).assumingMemoryBound(to: pthread_mutex_t.self)
    }

    private var tail: UnsafeMutablePointer<Atomic<UInt64>> { word(at: 128) }
    private var head: UnsafeMutablePointer<Atomic<UInt64>> { word(at: 192) }
    private var sleepingConsumers: UnsafeMutablePointer<Atomic<UInt32>> { word32(at: 256) }
    private var sleepingProducers: UnsafeMutablePointer<Atomic<UInt32>> { word32(at: 260) }
    /// How often a process found the mutex's owner dead and carried on (for tests and diagnostics).
    var ownerDeathsRecovered: UInt32 { word32(at: 32).pointee.load(ordering: .relaxed) }

    /// The futex word of `word`: its low half (the host is little-endian).
    private func futex(_ word: UnsafeMutablePointer<Atomic<UInt64>>) -> UnsafeMutablePointer<UInt32> {
        UnsafeMutableRawPointer(word).assumingMemoryBound(to: UInt32.self)
    }

    // MARK: The lock

    /// Runs `body` with the mutex held, recovering it from a dead owner first if need be.
    @inline(__always)
    private func withLock<R>(_ body: () throws(SpindleError) -> R) throws(SpindleError) -> R {
        let err = spindle_robust_mutex_lock(mutex, Self.lockSpins)
        if err == EOWNERDEAD {
            recoverFromDeadOwner()
        } else {
            precondition(err == 0, "pthread_mutex_lock of a process queue failed: \(err)")
        }
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// How often a locker spins while the mutex is held before it sleeps: the mutex is only held
    /// for a copy, so the holder is about to let go, and a futex sleep costs a system call on both
    /// sides (and a wake-up).
    private static let lockSpins: Int32 = 1_000

    /// The previous owner died holding the mutex. Its changes either all show (it made its final
    /// store) or none do, so the state is consistent; only a `close` killed between its two stores
    /// is finished here.
    private func recoverFromDeadOwner() {
        if tail.pointee.load(ordering: .relaxed) & Self.closedBit != 0 {
            markClosed()
        }
        word32(at: 32).pointee.add(1, ordering: .relaxed)
        let err = pthread_mutex_consistent(mutex)
        precondition(err == 0, "pthread_mutex_consistent of a process queue failed: \(err)")
    }

    // MARK: Operations

    /// What a put or a get found.
    enum Outcome: Equatable {
        case done
        /// Nothing to take or no room; `observed` is the futex word to sleep on until that changes.
        case wouldBlock(observed: UInt32)
        case closed
    }

    private static func count(head: UInt64, tail: UInt64) -> Int {
        Int((tail &- head) & sequenceMask)
    }

    /// Bytes in use between `head` and `tail`, which hold `count` messages.
    private func usedBytes(head: UInt64, tail: UInt64, count: Int) -> Int {
        guard count > 0 else { return 0 }
        let distance = (Int(tail >> 32) - Int(head >> 32) + ringBytes) % ringBytes
        return distance == 0 ? ringBytes : distance
    }

    /// Appends `message` if there is room and the queue is open.
    ///
    /// - Complexity: O(message bytes), under the mutex.
    func tryPut(_ message: UnsafeRawBufferPointer, crash: QueueCrashPoint? = nil) throws(SpindleError) -> Outcome {
        let needed = 4 + message.count
        let outcome: Outcome = try withLock { () throws(SpindleError) -> Outcome in
            let tailWord = tail.pointee.load(ordering: .relaxed)
            if tailWord & Self.closedBit != 0 { return .closed }
            let headWord = head.pointee.load(ordering: .relaxed)
            let count = Self.count(head: headWord, tail: tailWord)
            guard count < messageCapacity, ringBytes - usedBytes(head: headWord, tail: tailWord, count: count) >= needed
            else { return .wouldBlock(observed: UInt32(truncatingIfNeeded: headWord)) }
            let offset = Int(tailWord >> 32)
            var length = UInt32(message.count)
            withUnsafeBytes(of: &length) { copyIn($0, at: offset) }
            copyIn(message, at: (offset + 4) % ringBytes)
            if crash == .beforeCommit { die() }
            let newOffset = UInt64((offset + needed) % ringBytes)
            tail.pointee.store(
                newOffset << 32 | ((tailWord &+ 1) & Self.sequenceMask),
                ordering: .sequentiallyConsistent
            )
            if crash == .afterCommit { die() }
            return .done
        }
        if outcome == .done, sleepingConsumers.pointee.load(ordering: .sequentiallyConsistent) > 0 {
            _ = spindle_futex_wake(futex(tail), 1)
        }
        return outcome
    }

    /// Takes the first message if there is one: copies it into `stack` if it fits, else into a new
    /// heap buffer that the caller deallocates. The caller decodes it once the mutex is released.
    ///
    /// - Complexity: O(message bytes), under the mutex.
    func tryGet(
        into stack: UnsafeMutableRawBufferPointer,
        crash: QueueCrashPoint? = nil
    ) throws(SpindleError) -> (outcome: Outcome, message: UnsafeMutableRawBufferPointer) {
        var message = UnsafeMutableRawBufferPointer(start: nil, count: 0)
        let outcome = try withLock { () throws(SpindleError) -> Outcome in
            let headWord = head.pointee.load(ordering: .relaxed)
            let tailWord = tail.pointee.load(ordering: .relaxed)
            let count = Self.count(head: headWord, tail: tailWord)
            guard count > 0 else {
                return tailWord & Self.closedBit != 0
                    ? .closed : .wouldBlock(observed: UInt32(truncatingIfNeeded: tailWord))
            }
            let offset = Int(headWord >> 32)
            var prefix: UInt32 = 0
            withUnsafeMutableBytes(of: &prefix) { copyOut($0, at: offset) }
            let length = Int(prefix)
            guard length + 4 <= usedBytes(head: headWord, tail: tailWord, count: count) else {
                throw SpindleError(
                    .protocolError,
                    "a process queue's shared memory is corrupt: a message of \(length) bytes"
                )
            }
            message =
                length <= stack.count
                ? UnsafeMutableRawBufferPointer(rebasing: stack[..<length])
                : .allocate(byteCount: length, alignment: 16)
            copyOut(message, at: (offset + 4) % ringBytes)
            if crash == .beforeCommit { die() }
            let newOffset = UInt64((offset + 4 + length) % ringBytes)
            head.pointee.store(
                newOffset << 32 | (headWord & Self.closedBit) | ((headWord &+ 1) & Self.sequenceMask),
                ordering: .sequentiallyConsistent
            )
            if crash == .afterCommit { die() }
            return .done
        }
        if outcome == .done, sleepingProducers.pointee.load(ordering: .sequentiallyConsistent) > 0 {
            _ = spindle_futex_wake(futex(head), 1)
        }
        return (outcome, message)
    }

    /// Messages up to this size are copied out to the caller's stack.
    static let stackMessageBytes = 1024

    private func die() -> Never {
        kill(getpid(), SIGKILL)
        fatalError("unreachable: SIGKILL did not end the process")
    }

    private func copyIn(_ source: UnsafeRawBufferPointer, at offset: Int) {
        guard let from = source.baseAddress else { return }
        let first = min(source.count, ringBytes - offset)
        (ring + offset).copyMemory(from: from, byteCount: first)
        if first < source.count { ring.copyMemory(from: from + first, byteCount: source.count - first) }
    }

    private func copyOut(_ destination: UnsafeMutableRawBufferPointer, at offset: Int) {
        guard let to = destination.baseAddress else { return }
        let first = min(destination.count, ringBytes - offset)
        to.copyMemory(from: ring + offset, byteCount: first)
        if first < destination.count { (to + first).copyMemory(from: ring, byteCount: destination.count - first) }
    }

    /// Closes the queue and wakes every sleeper; `false` if it was closed already.
    @discardableResult
    func close() -> Bool {
        let wasOpen =
            (try? withLock { () throws(SpindleError) -> Bool in
                let wasOpen = tail.pointee.load(ordering: .relaxed) & Self.closedBit == 0
                markClosed()
                return wasOpen
            }) ?? false
        _ = spindle_futex_wake(futex(tail), Int32.max)
        _ = spindle_futex_wake(futex(head), Int32.max)
        return wasOpen
    }

    /// Sets the closed bit in both words (mutex held): the tail's says the queue is closed, the
    /// head's wakes producers asleep on it.
    private func markClosed() {
        tail.pointee.bitwiseOr(Self.closedBit, ordering: .sequentiallyConsistent)
        head.pointee.bitwiseOr(Self.closedBit, ordering: .sequentiallyConsistent)
    }

    var isClosed: Bool { tail.pointee.load(ordering: .acquiring) & Self.closedBit != 0 }

    /// The number of messages in the ring now.
    var count: Int {
        (try? withLock { () throws(SpindleError) -> Int in
            Self.count(head: head.pointee.load(ordering: .relaxed), tail: tail.pointee.load(ordering: .relaxed))
        }) ?? 0
    }

    // MARK: Waiting

    /// Which side of the ring a wait is for.
    enum Side {
        /// A consumer waiting for a message (or the close).
        case consumer
        /// A producer waiting for room (or the close).
        case producer
    }

    /// Waits until the futex word of `side` differs from `observed`, spinning a moment first, then
    /// sleeping; returns early at `deadline` (monotonic nanoseconds) or after one ``sleepSlice``.
    ///
    /// - Parameters:
    ///   - spinOnly: only spin; don't sleep (for a caller on Swift's cooperative pool).
    ///   - spins: spin before sleeping; a waiter back for another slice has spun already.
    /// - Returns: whether the word changed.
    @discardableResult
    func wait(_ side: Side, observed: UInt32, deadline: UInt64?, spinOnly: Bool = false, spins: Bool = true) -> Bool {
        let word = side == .consumer ? tail : head
        let changed = { UInt32(truncatingIfNeeded: word.pointee.load(ordering: .relaxed)) != observed }
        // Spin first: a message or a slot usually comes within microseconds when the other side
        // is running, and a futex sleep and wake-up costs several. On a machine with more runnable
        // threads than cores the other side may need this core, so yield now and then. A waiter
        // back for another sleep slice has spun already: nothing came soon, so it sleeps at once.
        if spins {
            for i in 1...Self.spins {
                if changed() { return true }
                if i & 63 == 0 { sched_yield() }
            }
        }
        if spinOnly { return changed() }
        var timeout = Int64(Self.sleepSlice)
        if let deadline {
            let now = monotonicNanoseconds()
            guard now < deadline else { return changed() }
            timeout = min(timeout, Int64(deadline - now))
        }
        let sleepers = side == .consumer ? sleepingConsumers : sleepingProducers
        sleepers.pointee.add(1, ordering: .sequentiallyConsistent)
        // The word is checked again after counting as a sleeper, and the futex checks it once more:
        // a store made before the count could be seen is caught by one or the other.
        if !changed() { _ = spindle_futex_wait(futex(word), observed, timeout) }
        sleepers.pointee.subtract(1, ordering: .sequentiallyConsistent)
        return changed()
    }

    /// Passes a wake-up on to another sleeper of `side`: for a waiter that leaves (timed out,
    /// cancelled) without taking what it may have been woken for.
    func wakeAnother(_ side: Side) {
        let (word, sleepers) = side == .consumer ? (tail, sleepingConsumers) : (head, sleepingProducers)
        if sleepers.pointee.load(ordering: .sequentiallyConsistent) > 0 { _ = spindle_futex_wake(futex(word), 1) }
    }

    /// How many consumers and producers are asleep on the ring now (for tests).
    var sleepers: (consumers: UInt32, producers: UInt32) {
        (
            sleepingConsumers.pointee.load(ordering: .sequentiallyConsistent),
            sleepingProducers.pointee.load(ordering: .sequentiallyConsistent)
        )
    }

    /// Spins before sleeping, checking the word each time.
    static let spins = 2_000

    // MARK: Sender slots

    private func slot(_ index: Int) -> (pid: UnsafeMutablePointer<Int32>, count: UnsafeMutablePointer<UInt32>) {
        let address = base + 320 + 8 * index
        return (address.assumingMemoryBound(to: Int32.self), (address + 4).assumingMemoryBound(to: UInt32.self))
    }

    /// Counts one more sender held by process `pid`; `false` when every slot is taken by others.
    func registerSender(pid: Int32) -> Bool {
        (try? withLock { () throws(SpindleError) -> Bool in
            var free: Int?
            for index in 0..<Self.senderSlotCount {
                let (slotPID, count) = slot(index)
                if slotPID.pointee == pid && count.pointee > 0 {
                    count.pointee += 1
                    return true
                }
                if free == nil && count.pointee == 0 { free = index }
            }
            guard let free else { return false }
            let (slotPID, count) = slot(free)
            slotPID.pointee = pid
            count.pointee = 1
            return true
        }) ?? false
    }

    /// Counts one sender fewer for process `pid`; returns whether no process holds a sender now.
    func releaseSender(pid: Int32) -> Bool {
        (try? withLock { () throws(SpindleError) -> Bool in
            var remaining = false
            for index in 0..<Self.senderSlotCount {
                let (slotPID, count) = slot(index)
                if slotPID.pointee == pid && count.pointee > 0 { count.pointee -= 1 }
                if count.pointee > 0 { remaining = true }
            }
            return !remaining
        }) ?? false
    }

    /// The processes that hold senders but no longer exist: they died without dropping them.
    func deadSenders() -> [Int32] {
        let pids =
            (try? withLock { () throws(SpindleError) -> [Int32] in
                (0..<Self.senderSlotCount).compactMap { index in
                    let (pid, count) = slot(index)
                    return count.pointee > 0 ? pid.pointee : nil
                }
            }) ?? []
        return pids.filter { kill($0, 0) != 0 && errno == ESRCH }
    }
}

/// Where a test makes the calling process die in the middle of a queue operation, mutex held.
package enum QueueCrashPoint: Sendable {
    /// After writing (or copying out) the message, before the final store.
    case beforeCommit
    /// Right after the final store, before waking anyone.
    case afterCommit
}
