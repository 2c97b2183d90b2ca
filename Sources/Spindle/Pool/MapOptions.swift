/// How ``Pool/map(_:_:options:)`` feeds, groups and orders its work.
public struct MapOptions: Sendable, Hashable {
    /// The order in which outputs are yielded.
    public enum Order: Sendable, Hashable {
        /// Outputs in the order of their inputs, like Python's `Executor.map`.
        case input
        /// Outputs as soon as they are ready, like `imap_unordered`.
        case completion
    }

    /// How many inputs go into one task.
    public enum Chunking: Sendable, Hashable {
        /// Start with one item per task, measure how long items take, and grow chunks until a chunk
        /// takes about ``MapOptions/targetChunkDuration``: trivial jobs are batched by the thousand,
        /// long jobs still spread one per worker.
        case automatic
        /// Exactly this many items per task (the last chunk may be shorter). Must be at least 1.
        case fixed(Int)
    }

    /// The order in which outputs are yielded; `.input` by default.
    public var order: Order
    /// How inputs are grouped into tasks; `.automatic` by default.
    public var chunking: Chunking
    /// How many chunks may be submitted but not yet consumed; `nil` means the pool's default: twice
    /// the workers (at least 4) on a ``ThreadPool``, 16 per worker on a ``ProcessPool``, whose
    /// chunks cross a socket and must be queued in the worker before it asks.
    ///
    /// This bounds both memory (inputs read ahead) and the work wasted when iteration stops early.
    public var runAhead: Int?
    /// A per-item timeout, counted from when the item starts running. Setting one makes every item
    /// its own task, so that each has its own deadline.
    public var timeout: Duration?

    /// How long an automatically sized chunk should take: long enough that queueing costs vanish
    /// against it, short enough that work still spreads evenly and cancellation is prompt.
    public static let targetChunkDuration: Duration = .milliseconds(2)

    /// The most items an automatically sized chunk may hold.
    public static let maximumAutomaticChunkSize = 16_384

    /// Creates options; every parameter has the default described on its property.
    public init(
        order: Order = .input,
        chunking: Chunking = .automatic,
        runAhead: Int? = nil,
        timeout: Duration? = nil
    ) {
        self.order = order
        self.chunking = chunking
        self.runAhead = runAhead
        self.timeout = timeout
    }
}
