internal import CSpindle
internal import Glibc

/// One page of memory shared between a pool and one worker process, in which the worker says
/// which task and item it is running and the pool can cancel a task the worker has not reached.
///
/// Layout (all little-endian words, accessed atomically):
///
/// | offset | field |
/// | --- | --- |
/// | 0 | sequence number of the task running now, 0 between tasks (u64) |
/// | 8 | index of the item of that task running now (u64) |
/// | 16 | 1 when the worker should poll a moment for its next task before sleeping, else 0 (u32) |
/// | 64 + 4 × (sequence mod 64) | state of that task: 0 queued, 1 started, 2 cancelled (u32) |
///
/// The pool never has more than ``slotCount`` tasks on one worker, so a slot is reused only
/// after its previous task's result has come back.
final class SharedPage: @unchecked Sendable {
    // @unchecked Sendable: the memory is only touched through atomic operations.

    /// Tasks one worker may hold at once.
    static let slotCount = 64
    static let size = 4096

    enum TaskState: UInt32 {
        case queued = 0, started = 1, cancelled = 2
    }

    /// The memory file, which the worker gets a copy of when it is spawned; closed with the page.
    let descriptor: Int32
    private let base: UnsafeMutableRawPointer

    /// Makes a new shared page (the pool's side).
    init(name: String) throws(SpindleError) {
        (descriptor, base) = try makeMappedMemoryFile(name: name, byteCount: Self.size)
    }

    /// Maps the page passed in `fd` (the worker's side).
    init(mapping fd: Int32) throws(SpindleError) {
        base = try mapShared(fd, byteCount: Self.size)
        descriptor = fd
    }

    deinit {
        munmap(base, Self.size)
        closeDescriptor(descriptor)
    }

    /// The task running now (0 for none) and its item.
    var running: (sequence: UInt64, item: UInt64) {
        (
            spindle_atomic_load_u64(base.assumingMemoryBound(to: UInt64.self)),
            spindle_atomic_load_u64((base + 8).assumingMemoryBound(to: UInt64.self))
        )
    }

    /// Worker: records the task and item it is starting; sequence 0 means none.
    func setRunning(sequence: UInt64, item: UInt64) {
        spindle_atomic_store_u64((base + 8).assumingMemoryBound(to: UInt64.self), item)
        spindle_atomic_store_u64(base.assumingMemoryBound(to: UInt64.self), sequence)
    }

    /// Worker: records that the running task has reached `item`.
    func setItem(_ item: UInt64) {
        spindle_atomic_store_u64((base + 8).assumingMemoryBound(to: UInt64.self), item)
    }

    /// Whether the worker should poll for its next task before sleeping: set by the pool while
    /// tasks come one at a time (polling then saves a wake-up), cleared while many are queued (the
    /// CPU is better left to the threads producing them).
    var pollsForNextTask: Bool {
        get { spindle_atomic_load_u32((base + 16).assumingMemoryBound(to: UInt32.self)) != 0 }
        set { spindle_atomic_store_u32((base + 16).assumingMemoryBound(to: UInt32.self), newValue ? 1 : 0) }
    }

    private func slot(_ sequence: UInt32) -> UnsafeMutablePointer<UInt32> {
        (base + 64 + 4 * Int(sequence % UInt32(Self.slotCount))).assumingMemoryBound(to: UInt32.self)
    }

    /// Pool: marks a task as queued before sending it.
    func reset(_ sequence: UInt32) {
        spindle_atomic_store_u32(slot(sequence), TaskState.queued.rawValue)
    }

    /// Moves a task from queued to `state`; `false` when it had already left queued (the worker
    /// started it, or the pool cancelled it).
    func claim(_ sequence: UInt32, as state: TaskState) -> Bool {
        spindle_atomic_cas_u32(slot(sequence), TaskState.queued.rawValue, state.rawValue) != 0
    }

    func state(of sequence: UInt32) -> TaskState {
        TaskState(rawValue: spindle_atomic_load_u32(slot(sequence))) ?? .queued
    }
}
