internal import Glibc

/// What a pipeline run has done so far: items read, each stage's items in and out, its throughput
/// and how full the buffer before it is. Read it from ``Pipeline/progress`` at any time.
public struct PipelineProgress: Sendable, CustomStringConvertible {
    /// One stage's progress.
    public struct Stage: Sendable, Hashable {
        /// The stage's name.
        public var name: String
        /// The pool it runs on.
        public var pool: StagePool
        /// Items taken from the buffer before it, and items handed to the buffer after it.
        public var itemsIn: Int
        public var itemsOut: Int
        /// Items that failed in it.
        public var failures: Int
        /// Chunks of its items running on the pool now.
        public var chunksRunning: Int
        /// Items waiting in the buffer before it, and how many that buffer holds at most.
        public var waiting: Int
        public var bufferCapacity: Int
        /// Items handed on per second, since the run started.
        public var itemsPerSecond: Double
    }

    /// Time since the run started (until it ended, once it has).
    public var elapsed: Duration
    /// Whether the run is still going.
    public var isRunning: Bool
    /// Items read from the source so far.
    public var itemsRead: Int
    /// Items handed to the consuming loop so far.
    public var itemsDelivered: Int
    /// The stages, in order.
    public var stages: [Stage]

    init(_ run: PipelineRun) {
        let nanoseconds = run.elapsedNanoseconds
        let seconds = max(1e-9, Double(nanoseconds) / 1e9)
        elapsed = .nanoseconds(nanoseconds)
        isRunning = run.phase == .running
        itemsRead = run.source.current.itemsOut
        itemsDelivered = run.consumer.current.itemsIn
        stages = run.stages.map { counters in
            let values = counters.current
            return Stage(
                name: counters.name,
                pool: counters.pool,
                itemsIn: values.itemsIn,
                itemsOut: values.itemsOut,
                failures: values.failures,
                chunksRunning: values.inFlight,
                waiting: counters.input?.count ?? 0,
                bufferCapacity: counters.input?.capacity ?? 0,
                itemsPerSecond: Double(values.itemsOut) / seconds
            )
        }
    }

    /// One line per stage, with a gauge of the buffer before it:
    ///
    /// ```text
    /// pipeline 2.4 s, running: 1180 read, 1090 delivered
    ///   read    8 threads      in 1180  out 1170   487/s  waiting [####....]  40/64
    /// ```
    public var description: String {
        let width = stages.map(\.name.count).max() ?? 0
        let poolWidth = stages.map(\.pool.description.count).max() ?? 0
        var lines = [
            "pipeline \(formatSeconds(elapsed)), \(isRunning ? "running" : "ended"): \(itemsRead) read, \(itemsDelivered) delivered"
        ]
        for stage in stages {
            let failures = stage.failures == 0 ? "" : "  \(stage.failures) failed"
            lines.append(
                "  " + stage.name.padding(to: width) + "  " + stage.pool.description.padding(to: poolWidth)
                    + "  in " + "\(stage.itemsIn)".padding(to: 7, left: true)
                    + "  out " + "\(stage.itemsOut)".padding(to: 7, left: true)
                    + "  " + formatRate(stage.itemsPerSecond).padding(to: 8, left: true)
                    + "  waiting " + gauge(stage.waiting, of: stage.bufferCapacity) + failures
            )
        }
        return lines.joined(separator: "\n")
    }

    /// The same in one line, for logs: "2.4 s: read 1170 → decode 1100 → store 1090; 1090 delivered".
    public var line: String {
        let chain = stages.map { "\($0.name) \($0.itemsOut)" }.joined(separator: " → ")
        return "\(formatSeconds(elapsed)): \(itemsRead) read → \(chain); \(itemsDelivered) delivered"
    }

    private func gauge(_ count: Int, of capacity: Int, width: Int = 8) -> String {
        let filled = capacity == 0 ? 0 : min(width, (count * width + capacity - 1) / capacity)
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
            + "\(count)/\(capacity)"
    }
}

/// Draws a run's progress on standard error until the run ends.
enum ProgressDisplay {
    static func show(_ run: PipelineRun, every interval: Duration) async {
        let terminal = isatty(STDERR_FILENO) == 1
        // Plain lines go to logs: one a second at most is plenty there.
        let pause = terminal ? interval : max(interval, .seconds(1))
        var drawnLines = 0
        while run.phase == .running && !Task.isCancelled {
            drawnLines = draw(PipelineProgress(run), terminal: terminal, replacing: drawnLines)
            try? await Task.sleep(for: pause)
        }
        _ = draw(PipelineProgress(run), terminal: terminal, replacing: drawnLines)
    }

    /// Writes `progress`, over the `replacing` lines drawn before on a terminal; returns the lines drawn.
    private static func draw(_ progress: PipelineProgress, terminal: Bool, replacing drawn: Int) -> Int {
        var text = ""
        if terminal {
            if drawn > 0 { text += "\u{1B}[\(drawn)A" }
            let lines = progress.description.split(separator: "\n", omittingEmptySubsequences: false)
            for line in lines { text += "\u{1B}[2K" + line + "\n" }
            writeToStandardError(text)
            return lines.count
        }
        writeToStandardError(progress.line + "\n")
        return 0
    }
}

/// "2.4 s", "35 ms".
func formatSeconds(_ duration: Duration) -> String {
    let seconds = duration.seconds
    return seconds >= 1 ? format(seconds) + " s" : formatFixed(seconds * 1000, digits: 0) + " ms"
}

/// "487/s", "12k/s", "2.1M/s".
func formatRate(_ perSecond: Double) -> String {
    if perSecond >= 1e6 { return format(perSecond / 1e6) + "M/s" }
    if perSecond >= 1e4 { return format(perSecond / 1e3) + "k/s" }
    return format(perSecond) + "/s"
}
