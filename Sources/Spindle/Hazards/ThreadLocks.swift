internal import CSpindle
internal import Glibc

/// A lock a thread holds, and where it took it.
struct HeldLock: Sendable {
    let lock: LockIdentity
    let site: CallSite
}

/// What one thread holds, for the checks: its stack of checked locks, in the order it took them.
///
/// Each thread that takes a checked lock with checks on gets one, kept in thread-specific storage
/// and registered by thread id, so that the watchdog can say what every blocked thread holds.
final class ThreadLocks: Sendable {
    let threadID: Int32
    let name: String
    private let heldStorage = Locked<[HeldLock]>([], checked: false)
    /// Lock pairs this thread has already seen taken in this order, in the graph's current
    /// generation: the graph need not be asked again.
    private let knownOrders = Locked<(generation: Int, pairs: Set<LockPair>)>((0, []), checked: false)

    private init(threadID: Int32, name: String) {
        self.threadID = threadID
        self.name = name
    }

    var held: [HeldLock] { heldStorage.withLock { $0 } }

    func push(_ lock: HeldLock) { heldStorage.withLock { $0.append(lock) } }

    /// Removes the most recent hold of `lock` (locks may be released out of order).
    func pop(_ lock: LockIdentity) {
        heldStorage.withLock { held in
            if let index = held.lastIndex(where: { $0.lock === lock }) { held.remove(at: index) }
        }
    }

    /// Whether the order `pair` is new to this thread since the graph's `generation` began (and
    /// remembers it).
    func isNew(_ pair: LockPair, generation: Int) -> Bool {
        knownOrders.withLock { known in
            if known.generation != generation { known = (generation, []) }
            return known.pairs.insert(pair).inserted
        }
    }

    // MARK: The calling thread's

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let err = pthread_key_create(&key) { pointer in
            // The thread is exiting: let go of its record.
            guard let pointer else { return }
            let locks = Unmanaged<ThreadLocks>.fromOpaque(pointer).takeRetainedValue()
            registry.withLock { $0[locks.threadID] = nil }
        }
        precondition(err == 0, "pthread_key_create failed: \(err)")
        return key
    }()

    /// Every thread's record, by thread id.
    private static let registry = Locked<[Int32: ThreadLocks]>([:], checked: false)

    /// The calling thread's record, made on first use.
    static var current: ThreadLocks {
        if let pointer = pthread_getspecific(key) {
            return Unmanaged<ThreadLocks>.fromOpaque(pointer).takeUnretainedValue()
        }
        let locks = ThreadLocks(threadID: spindle_gettid(), name: currentThreadName())
        pthread_setspecific(key, Unmanaged.passRetained(locks).toOpaque())
        registry.withLock { $0[locks.threadID] = locks }
        return locks
    }

    /// The record of the thread with `id`, if it has one.
    static func thread(_ id: Int32) -> ThreadLocks? {
        registry.withLock { $0[id] }
    }
}

/// Two locks, in the order they were taken.
struct LockPair: Hashable, Sendable {
    let first: Int
    let then: Int
}

/// The calling thread's name, or "thread <tid>" when it has none.
func currentThreadName() -> String {
    var buffer = [CChar](repeating: 0, count: 64)
    let name =
        spindle_get_thread_name(&buffer, buffer.count) == 0
        ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
    return name.isEmpty ? "thread \(spindle_gettid())" : name
}
