/// What one stage (or the source, or the consumer) has done so far in a run, updated once per
/// batch by the stage's loops and read by progress views and the report.
final class StageCounters: Sendable {
    struct Values: Sendable {
        var itemsIn = 0
        var itemsOut = 0
        var failures = 0
        var chunks = 0
        /// Chunks running on the pool now.
        var inFlight = 0
        /// Time the pool's workers spent running the stage's items.
        var busyNanoseconds: UInt64 = 0
        /// CPU time of the chunks whose CPU time was measured, and their busy time.
        var measuredCPUNanoseconds: UInt64 = 0
        var measuredBusyNanoseconds: UInt64 = 0
        /// Time the stage's loops waited for items from upstream, and for room downstream.
        var waitingForInputNanoseconds: UInt64 = 0
        var waitingForRoomNanoseconds: UInt64 = 0
    }

    /// The stage's name, its pool (none for the source and the consumer), how many chunks it runs
    /// at once, and the buffer it reads from.
    let name: String
    let pool: StagePool
    let concurrency: Int
    let input: (any BufferGauge)?
    private let values = Locked(Values())

    init(name: String, pool: StagePool?, concurrency: Int, input: (any BufferGauge)?) {
        self.name = name
        self.pool = pool ?? StagePool(kind: .other("none"), workers: 0)
        self.concurrency = concurrency
        self.input = input
    }

    var current: Values { values.withLock { $0 } }

    func update(_ body: (inout Values) -> Void) {
        values.withLock { body(&$0) }
    }
}

/// How full a buffer is, whatever it holds.
protocol BufferGauge: Sendable {
    var count: Int { get }
    var capacity: Int { get }
}

extension StageBuffer: BufferGauge {}
