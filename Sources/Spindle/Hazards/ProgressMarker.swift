import Synchronization

/// A count of the progress some work makes, for the hazard checks to watch.
///
/// Code ticks it for each unit of real progress (an item processed, a page printed, a transfer
/// made), and runs the work inside ``working(_:)`` so that the checks know which threads should
/// be making it. With ``HazardChecks`` on, a marker that does not advance for the stall threshold
/// while threads work toward it is reported, with what those threads did meanwhile, from the
/// kernel's exact count of their time on a CPU and waiting for one:
/// - busy but no progress: ``HazardReport/Kind/livelock`` (threads that keep retrying, yielding
///   to each other, or spinning);
/// - blocked and no progress: ``HazardReport/Kind/hang`` (a deadlock, a lost wake-up, a wait
///   for something that never comes), with what each thread waits for;
/// - ready to run but not running: ``HazardReport/Kind/cpuStarvation`` (too many runnable
///   threads for the CPUs, or a low priority).
///
/// ```swift
/// let printed = ProgressMarker("pages printed")
/// printed.working {
///     while let page = queue.next() {
///         printer.print(page)
///         printed.tick()
///     }
/// }
/// ```
///
/// Ticking costs one relaxed atomic addition, checks on or off.
public final class ProgressMarker: Sendable {
    private static let nextID = Atomic(1)

    /// How reports name the marker.
    public let name: String
    let id: Int
    private let ticks = Atomic(0)
    /// The threads working toward it now, by thread id, with how many ``working(_:)`` scopes each
    /// is inside.
    private let workersStorage = Locked<[Int32: (name: String, depth: Int)]>([:], checked: false)

    /// A marker named `name`.
    public init(_ name: String) {
        self.name = name
        id = Self.nextID.add(1, ordering: .relaxed).oldValue
    }

    /// Counts `units` of progress.
    public func tick(_ units: Int = 1) {
        ticks.add(units, ordering: .relaxed)
    }

    /// The progress counted so far.
    public var count: Int { ticks.load(ordering: .relaxed) }

    /// Runs `body` on the calling thread as work toward this marker: while it runs, the checks
    /// expect the marker to advance.
    public func working<Result, E: Error>(_ body: () throws(E) -> Result) throws(E) -> Result {
        let thread = ThreadLocks.current
        // The watch is told under the workers' lock, so that a thread leaving cannot make it
        // forget the marker just after another began working toward it. (The watch never takes
        // this lock while holding its own.)
        workersStorage.withLock { workers in
            if workers.isEmpty { StallWatch.shared.watch(self) }
            workers[thread.threadID, default: (thread.name, 0)].depth += 1
        }
        defer {
            workersStorage.withLock { workers in
                if let entry = workers[thread.threadID], entry.depth > 1 {
                    workers[thread.threadID]?.depth -= 1
                } else {
                    workers[thread.threadID] = nil
                }
                if workers.isEmpty { StallWatch.shared.forget(self) }
            }
        }
        return try body()
    }

    /// The threads working toward it now: id and name.
    var workers: [(id: Int32, name: String)] {
        workersStorage.withLock { $0.map { ($0.key, $0.value.name) }.sorted { $0.id < $1.id } }
    }
}
