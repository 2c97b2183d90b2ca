import Synchronization

/// What the checks know of one checked lock: its number, its name, its place in the lock-order
/// graph, and who holds it now.
final class LockIdentity: Sendable {
    private static let nextID = Atomic(1)

    /// Unique for every lock made.
    let id: Int
    /// How reports name it: its own name, or its class's.
    let name: String
    /// Its node in the lock-order graph: its own id, or its class's, shared by every lock of the class.
    let orderKey: Int
    /// The thread id of its holder, 0 when free (checks on only).
    let owner = Atomic<Int32>(0)
    private let ownerSiteStorage = Locked<CallSite?>(nil, checked: false)
    /// Waits and holds, for the statistics and the starvation watch.
    let record = Locked(LockRecord(), checked: false)
    /// When the holder took it (monotonic nanoseconds), for its hold time.
    let heldSince = Atomic<UInt64>(0)
    /// Acquisitions with checks on so far: how often others took it while a thread waited.
    let acquisitions = Atomic(0)
    let watched = Atomic(false)

    /// Puts the lock under the starvation watch, the first time it is taken with checks on.
    func watchForStarvation() {
        guard !watched.load(ordering: .relaxed), !watched.exchange(true, ordering: .relaxed) else { return }
        StarvationWatch.shared.watch(self)
    }

    /// Whether the lock hands itself over in the order threads asked (a fair ``CheckedLock``).
    let handsOverInTurn: Bool

    init(name: String?, lockClass: LockClass?, site: CallSite, handsOverInTurn: Bool = false) {
        self.handsOverInTurn = handsOverInTurn
        id = Self.nextID.add(1, ordering: .relaxed).oldValue
        self.name = lockClass?.name ?? name ?? "lock \(id) (made at \(site))"
        orderKey = lockClass.map { -$0.id } ?? id
    }

    /// Where the holder took it, while held.
    var ownerSite: CallSite? {
        get { ownerSiteStorage.withLock { $0 } }
        set { ownerSiteStorage.withLock { $0 = newValue } }
    }
}

/// A name for locks made in bulk (one per account, one per bucket), which the lock-order graph
/// then treats as one node: taking any lock of class `Account` while holding one of class `Bank`
/// records the order Bank → Account once, however many accounts there are.
///
/// ```swift
/// let accountLock = LockClass("account")
/// let accounts = (0..<1_000).map { _ in CheckedLock(0, class: accountLock) }
/// ```
public final class LockClass: Sendable {
    private static let nextID = Atomic(1)

    /// The class's name, as reports show it.
    public let name: String
    let id: Int

    /// A lock class named `name`.
    public init(_ name: String) {
        self.name = name
        id = Self.nextID.add(1, ordering: .relaxed).oldValue
    }
}
