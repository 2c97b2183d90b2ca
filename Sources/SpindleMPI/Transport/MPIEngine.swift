internal import CMPI
internal import CSpindle
internal import Glibc
internal import Spindle
internal import Synchronization

/// The one thread of this process that makes MPI calls, from `MPI_Init_thread` to `MPI_Finalize`.
///
/// Open MPI binds a thread level to the thread that initialised it, and Swift's `await` can resume
/// on any thread, so no async code calls MPI: callers append records to outboxes (any thread), and
/// this thread sends them and hands every received message to `receive`, on this thread.
///
/// Waiting costs no CPU where it can be avoided. Open MPI's blocking receive polls and burns a core,
/// so this thread polls without blocking: after the last message it spins, for 120 µs while at most
/// two answers are awaited (one job at a time: the next message is a round trip away) and 20 µs
/// otherwise; then it sleeps on a condition between polls, for a sixteenth of the time it has been
/// idle (5 µs to 2 ms), and is woken at once when a caller has something to send. With no answer awaited (a driver with no task
/// out) it sleeps until there is something to send.
final class MPIEngine: @unchecked Sendable {
    // @unchecked Sendable: `outboxes`, `sleeping` and `stopRequested` are guarded by `lock`; the
    // requests in flight are this engine's thread's alone.

    /// How long the thread polls without sleeping after the last message.
    static let spinNanoseconds: UInt64 = 20_000
    /// How long it spins instead while at most two answers are awaited: one job at a time, where
    /// the next message comes within a round trip and a nap would add its own wake-up to each.
    static let latencySpinNanoseconds: UInt64 = 120_000
    /// The longest sleep between polls: the latency a rank idle for long adds to the next message.
    static let longestNap: UInt64 = 2_000_000
    /// The shortest sleep between polls.
    static let shortestNap: UInt64 = 5_000
    /// A sleep between polls lasts this fraction of the time since the last message.
    static let napDivisor: UInt64 = 16
    /// A message's bytes are split below MPI's 32-bit count; one record is never split.
    static let messageLimit = 1 << 30

    private let lock = ConditionLock(checked: false)
    /// For each destination, its messages in the order they were begun. Records appended with the
    /// tag of the last message join it; another tag starts a new one, so that the destination
    /// receives everything in the order it was appended (a cancellation never overtakes its task).
    private var outboxes: [Int32: [(tag: Int32, buffer: MessageBuffer)]] = [:]
    private var sleeping = false
    private var stopRequested = false
    private var stopDeadline: UInt64?
    private let hasOutgoing = Atomic<Bool>(false)
    /// How many answers callers await: while above zero the thread keeps polling for messages.
    let awaited = Atomic<Int>(0)

    /// Messages being sent, with their buffers, until MPI is done with them.
    private var sending: [(request: MPI_Request?, buffer: MessageBuffer)] = []

    /// Appends a record to the message for `destination` with `tag`, which leaves with the thread's
    /// next turn together with every record appended before it.
    ///
    /// - Parameter size: about how many bytes the record takes, so that a large one gets a message
    ///   buffer of its size at once.
    func append(to destination: Int32, _ tag: ClusterTag, size: Int = 0, _ write: (MessageBuffer) -> Void) {
        lock.withLock {
            var messages = outboxes.removeValue(forKey: destination) ?? []
            let joinsLast =
                messages.last.map { $0.tag == tag.rawValue && $0.buffer.count + size < Self.messageLimit / 2 } ?? false
            if !joinsLast { messages.append((tag.rawValue, MessageBuffer(capacity: size))) }
            write(messages[messages.count - 1].buffer)
            outboxes[destination] = messages
            hasOutgoing.store(true, ordering: .releasing)
            if sleeping { lock.signal() }
        }
    }

    /// Sends an empty message (a signal such as `stop`).
    func signal(_ destination: Int32, _ tag: ClusterTag) {
        append(to: destination, tag) { _ in }
    }

    /// Asks the thread to end once everything appended so far has been sent.
    func requestStop() {
        lock.withLock {
            stopRequested = true
            lock.signal()
        }
    }

    /// Runs the thread's loop until ``requestStop()``; `receive` gets every message, in order, and
    /// `turn` is called on every turn of the loop, at least every millisecond while an answer is
    /// awaited, with the time.
    func run(receive: (_ source: Int32, _ tag: Int32, _ message: consuming [UInt8]) -> Void, turn: (UInt64) -> Void) {
        // The kernel may end a timed sleep up to the thread's timer slack late, 50 µs by default: more
        // than most naps here. With 1 µs, a round trip through the MPI threads took 290 µs, not 500.
        _ = spindle_set_timer_slack(1_000)
        var lastActivity = monotonicNanoseconds()
        while true {
            var active = false
            if hasOutgoing.load(ordering: .acquiring) { active = sendOutgoing() }
            if !sending.isEmpty { active = progressSends() || active }
            active = receiveAll(receive) || active
            let now = monotonicNanoseconds()
            turn(now)
            if active {
                lastActivity = now
                continue
            }
            let idle = now &- lastActivity
            let awaiting = awaited.load(ordering: .relaxed)
            // Many answers awaited come often enough by themselves, and spinning would take the CPU
            // their jobs need; a few are a round trip away, which a nap would only lengthen.
            if idle < (awaiting <= 2 ? Self.latencySpinNanoseconds : Self.spinNanoseconds) { continue }
            let expecting = awaiting > 0 || !sending.isEmpty
            let stop: Bool = lock.withLock {
                if hasOutgoing.load(ordering: .relaxed) { return false }
                // A send to a rank that died may never complete: the end waits for it 2 s at most.
                if stopRequested {
                    stopDeadline = stopDeadline ?? now &+ 2_000_000_000
                    if sending.isEmpty || now >= stopDeadline! { return true }
                }
                sleeping = true
                if expecting {
                    let nap = min(Self.longestNap, max(Self.shortestNap, idle / Self.napDivisor))
                    _ = lock.wait(untilMonotonicNanoseconds: now + nap)
                } else {
                    lock.wait()
                }
                sleeping = false
                return false
            }
            if stop { return }
        }
    }

    /// Starts sending every outbox; whether there was anything.
    private func sendOutgoing() -> Bool {
        let taken: [Int32: [(tag: Int32, buffer: MessageBuffer)]] = lock.withLock {
            hasOutgoing.store(false, ordering: .relaxed)
            defer { outboxes.removeAll(keepingCapacity: true) }
            return outboxes
        }
        for (destination, messages) in taken {
            for (tag, buffer) in messages {
                // The buffer stays in `sending`, unmoved and alive, until the request completes.
                var request: MPI_Request?
                let result = spindle_mpi_isend(buffer.base, Int32(buffer.count), destination, tag, &request)
                precondition(result == MPI_SUCCESS, "MPI_Isend failed with \(result)")
                sending.append((request, buffer))
            }
        }
        return !taken.isEmpty
    }

    /// Drives the sends in flight; whether one completed.
    private func progressSends() -> Bool {
        var completed = false
        var index = 0
        while index < sending.count {
            var done: Int32 = 0
            _ = spindle_mpi_test(&sending[index].request, &done)
            if done != 0 {
                sending.swapAt(index, sending.count - 1)
                sending.removeLast()
                completed = true
            } else {
                index += 1
            }
        }
        return completed
    }

    /// Receives every message waiting; whether there was one.
    private func receiveAll(_ receive: (Int32, Int32, consuming [UInt8]) -> Void) -> Bool {
        var any = false
        while true {
            var found: Int32 = 0
            var source: Int32 = -1
            var tag: Int32 = -1
            var count: Int32 = 0
            guard spindle_mpi_iprobe(&found, &source, &tag, &count) == MPI_SUCCESS, found != 0 else { return any }
            let message = [UInt8](unsafeUninitializedCapacity: Int(count)) { buffer, initialized in
                let result = spindle_mpi_recv(buffer.baseAddress, count, source, tag)
                precondition(result == MPI_SUCCESS, "MPI_Recv failed with \(result)")
                initialized = Int(count)
            }
            receive(source, tag, consume message)
            any = true
        }
    }
}
