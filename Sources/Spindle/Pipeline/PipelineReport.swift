/// Where a pipeline run's time went, stage by stage, and a verdict in plain words on what limited
/// it: read it from ``Pipeline/report`` when the run ends.
///
/// Each stage's loops spend their time taking items (waiting for input when the buffer before them
/// is empty), running chunks on the pool, and handing outputs on (waiting for room when the buffer
/// after them is full). The stage whose workers are busiest limits the pipeline; the stages before
/// it wait for room, the ones after it wait for input. CPU time per busy second tells a CPU-bound
/// stage (≈ 1: more cores, or less work per item, would help) from a waiting one (≈ 0: I/O or
/// sleeps, where more concurrency overlaps the waits).
public struct PipelineReport: Sendable, CustomStringConvertible {
    /// How the run ended.
    public enum Outcome: Sendable, Hashable {
        /// It is still running: the report describes it so far.
        case running
        /// Every item went through (failed ones skipped, with ``PipelineOptions/FailureHandling/collect``).
        case finished
        /// A failure stopped it.
        case failed
        /// The consumer stopped it: cancelled, or left the loop early.
        case cancelled
    }

    /// One stage's share of the run.
    public struct Stage: Sendable, Hashable {
        /// The stage's name.
        public var name: String
        /// The pool it ran on.
        public var pool: StagePool
        /// How many chunks it ran at once, at most.
        public var concurrency: Int
        /// Items it took in, handed on, and that failed.
        public var itemsIn: Int
        public var itemsOut: Int
        public var failures: Int
        /// Chunks it ran: items per chunk shows how much batching saved.
        public var chunks: Int
        /// Time the pool's workers spent running its items, all workers together.
        public var busy: Duration
        /// CPU time its items took, where it could be measured (scaled up from the chunks that
        /// were measured); `nil` when none was. A suspended chunk on a thread pool is not measured.
        public var cpu: Duration?
        /// Time its loops spent waiting for items from upstream, all loops together.
        public var waitingForInput: Duration
        /// Time its loops spent waiting for room downstream, all loops together.
        public var waitingForRoom: Duration
        /// The run's wall time, which the shares below divide by.
        var wall: Duration

        /// How many workers it could keep busy: its concurrency, or its pool's size if smaller.
        public var slots: Int { max(1, min(concurrency, pool.workers)) }
        /// The share of its slots' time spent running items: near 1 means it ran flat out.
        public var busyShare: Double { ratio(busy, wall * slots) }
        /// CPU seconds per wall second, as `time` reports it for a whole program; `nil` when unknown.
        public var cpuPerWall: Double? { cpu.map { ratio($0, wall) } }
        /// CPU seconds per busy second: ≈ 1 CPU-bound, ≈ 0 waiting (I/O, sleeps); `nil` when unknown.
        public var cpuPerBusy: Double? { cpu.map { ratio($0, busy) } }
        /// The share of its loops' time spent waiting for items.
        public var inputWaitShare: Double { ratio(waitingForInput, wall * concurrency) }
        /// The share of its loops' time spent waiting for room downstream.
        public var roomWaitShare: Double { ratio(waitingForRoom, wall * concurrency) }
    }

    /// How the run ended.
    public var outcome: Outcome
    /// Wall time from the start to the end (or to now, while running).
    public var wall: Duration
    /// The CPUs this process could use.
    public var cpusUsable: Int
    /// Items read from the source, and the time the source waited for room in the first buffer.
    public var itemsRead: Int
    public var sourceWaitingForRoom: Duration
    /// Items the consuming loop received, and the time it waited for them.
    public var itemsDelivered: Int
    public var consumerWaiting: Duration
    /// The stages, in order.
    public var stages: [Stage]
    /// The failure that stopped the run, if one did.
    public var failure: PipelineError?
    /// The items skipped with ``PipelineOptions/FailureHandling/collect``, in the order they failed.
    public var failures: [PipelineError]

    init(_ run: PipelineRun) {
        let wall = Duration.nanoseconds(run.elapsedNanoseconds)
        switch run.phase {
        case .running: outcome = .running
        case .finished: outcome = .finished
        case .failed: outcome = .failed
        case .cancelled: outcome = .cancelled
        }
        self.wall = wall
        cpusUsable = run.cpusUsable
        let source = run.source.current
        itemsRead = source.itemsOut
        sourceWaitingForRoom = .nanoseconds(source.waitingForRoomNanoseconds)
        let consumer = run.consumer.current
        itemsDelivered = consumer.itemsIn
        consumerWaiting = .nanoseconds(consumer.waitingForInputNanoseconds)
        failure = run.failure
        failures = run.collectedFailures
        stages = run.stages.map { counters in
            let values = counters.current
            var cpu: Duration?
            if values.measuredBusyNanoseconds > 0 {
                // Chunks that were not measured are assumed to use CPU like those that were.
                let scale = Double(values.busyNanoseconds) / Double(values.measuredBusyNanoseconds)
                cpu = .nanoseconds(UInt64(Double(values.measuredCPUNanoseconds) * scale))
            }
            return Stage(
                name: counters.name,
                pool: counters.pool,
                concurrency: counters.concurrency,
                itemsIn: values.itemsIn,
                itemsOut: values.itemsOut,
                failures: values.failures,
                chunks: values.chunks,
                busy: .nanoseconds(values.busyNanoseconds),
                cpu: cpu,
                waitingForInput: .nanoseconds(values.waitingForInputNanoseconds),
                waitingForRoom: .nanoseconds(values.waitingForRoomNanoseconds),
                wall: wall
            )
        }
    }

    /// The share of the source's time spent waiting for room in the first buffer.
    public var sourceRoomWaitShare: Double { ratio(sourceWaitingForRoom, wall) }
    /// The share of the consuming loop's time spent waiting for items.
    public var consumerWaitShare: Double { ratio(consumerWaiting, wall) }
    /// CPU seconds per wall second of all the stages together, counting those measured.
    public var cpuPerWall: Double {
        stages.compactMap(\.cpuPerWall).reduce(0, +)
    }
}

/// `part / whole`, 0 when `whole` is not positive.
func ratio(_ part: Duration, _ whole: Duration) -> Double {
    let total = whole.seconds
    return total > 0 ? part.seconds / total : 0
}
