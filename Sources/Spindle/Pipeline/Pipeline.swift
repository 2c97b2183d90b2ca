/// Stages of work, each on the pool that suits it, overlapped and joined by bounded buffers: read
/// with threads, compute with processes, store with threads.
///
/// A pipeline is built from a source (any `Sequence` or `AsyncSequence`) and stages, and is itself
/// an `AsyncSequence` of the last stage's outputs. Nothing runs until iteration starts; then every
/// stage runs at once, each taking items from the buffer before it as soon as they are there.
///
/// ```swift
/// let io = try ThreadPool(workers: 8), cpu = try ProcessPool(workers: 2)
/// let pipeline = Pipeline(paths)
///     .stage(ReadFile(), on: io)          // I/O-bound: many threads
///     .stage(Analyse(), on: cpu)          // CPU-bound: one process per core, crash-isolated
///     .stage(Store(), on: io)
/// for try await stored in pipeline { print(stored) }
/// print(pipeline.report!)                 // which stage limited the pipeline, and why
/// ```
///
/// - **Bounded memory.** At most ``PipelineOptions/buffer`` items (or a stage's own `buffer`) wait
///   between two stages, and a stage holds at most that many in flight: a slow stage holds the
///   earlier ones back, so a source of ten million items runs in constant memory.
/// - **Order.** Outputs come in source order unless ``PipelineOptions/order`` is `.completion`.
/// - **Filtering and fan-out.** ``compactStage(_:on:name:concurrency:buffer:)`` drops `nil`
///   outputs; ``flatStage(_:on:name:concurrency:buffer:)`` passes on each element of a sequence.
/// - **Failures.** The first failure stops every stage and iterating throws a ``PipelineError``
///   naming the stage and the item, once nothing of the pipeline runs any more; with
///   ``PipelineOptions/FailureHandling/collect`` failed items are skipped and listed in the
///   report. Cancelling the consuming task, or leaving the loop early, stops the pipeline too.
/// - **Watching it.** ``progress`` is readable while it runs; ``showingProgress(every:)`` draws
///   it on the terminal; ``report`` says when it ends where the time went.
///
/// A stage's work is a ``Job`` on any ``Pool``, or a closure on a ``ThreadPool``. The pools belong
/// to the caller: a pipeline never shuts them down, and several stages may share one.
public final class Pipeline<Output: Sendable>: AsyncSequence, Sendable {
    /// A stage's error, wrapped in ``PipelineError``, or a ``SpindleError``.
    public typealias Failure = any Error

    /// Starts the source and every stage in a run and returns the last stage's buffer.
    let startStages: @Sendable (PipelineRun) -> StageBuffer<Output>
    /// How many stages there are, and the name the source goes by.
    let stageCount: Int
    let sourceName: String
    let options: PipelineOptions
    /// An argument that makes no sense, found while building; iterating throws it.
    let invalidArgument: SpindleError?
    let progressInterval: Duration?
    private let lastRun = Locked<PipelineRun?>(nil)

    init(
        startStages: @escaping @Sendable (PipelineRun) -> StageBuffer<Output>,
        stageCount: Int,
        sourceName: String,
        options: PipelineOptions,
        invalidArgument: SpindleError?,
        progressInterval: Duration?
    ) {
        self.startStages = startStages
        self.stageCount = stageCount
        self.sourceName = sourceName
        self.options = options
        self.invalidArgument = invalidArgument
        self.progressInterval = progressInterval
    }

    /// A pipeline whose items come from `source`, read lazily as the first stage has room.
    ///
    /// The source is read on one of Swift's cooperative threads, which it holds while `next()`
    /// blocks: a source that waits for long (lines typed at a terminal, a socket) is better an
    /// `AsyncSequence`, or a cheap sequence of names whose slow reading is the first stage.
    ///
    /// - Parameters:
    ///   - source: the items; read in batches on a task of the pipeline's own.
    ///   - options: order, failure handling and the default buffer size.
    public convenience init<Source: Sequence & Sendable>(_ source: Source, options: PipelineOptions = .init())
    where Source.Element == Output {
        self.init(options: options) { buffer, run in await Self.feed(buffer, from: source, run: run) }
    }

    /// A pipeline whose items come from `source`, an `AsyncSequence` (lines of a file, messages):
    /// each item is handed on as soon as it arrives.
    public convenience init<Source: AsyncSequence & Sendable>(_ source: Source, options: PipelineOptions = .init())
    where Source.Element == Output {
        self.init(options: options) { buffer, run in await Self.feed(buffer, fromAsync: source, run: run) }
    }

    /// A pipeline of no stage yet, whose source task runs `feed` to fill the first buffer.
    private convenience init(
        options: PipelineOptions,
        feed: @escaping @Sendable (StageBuffer<Output>, PipelineRun) async -> Void
    ) {
        let invalid =
            options.buffer < 1
            ? SpindleError(.invalidArgument, "a pipeline buffer must hold at least 1 item, not \(options.buffer)") : nil
        self.init(
            startStages: { run in
                let buffer = StageBuffer<Output>(capacity: options.buffer, producers: 1)
                run.onStop { buffer.cancel() }
                run.launch { await feed(buffer, run) }
                return buffer
            },
            stageCount: 0,
            sourceName: "source",
            options: options,
            invalidArgument: invalid,
            progressInterval: nil
        )
    }

    // MARK: Watching

    /// What the current (or last) run has done so far; `nil` before the first run starts.
    public var progress: PipelineProgress? {
        lastRun.withLock { $0 }.map { PipelineProgress($0) }
    }

    /// Where the last run's time went, per stage, with a verdict on what limited it; `nil` before
    /// the first run starts. Read while running, it describes the run so far.
    public var report: PipelineReport? {
        lastRun.withLock { $0 }.map { PipelineReport($0) }
    }

    /// The same pipeline, drawing its ``progress`` on standard error while it runs: redrawn in place
    /// on a terminal, one plain line per update otherwise.
    public func showingProgress(every interval: Duration = .milliseconds(250)) -> Pipeline {
        Pipeline(
            startStages: startStages,
            stageCount: stageCount,
            sourceName: sourceName,
            options: options,
            invalidArgument: invalidArgument,
            progressInterval: interval
        )
    }

    // MARK: Iterating

    /// Every output gathered into an array, in order unless the options say otherwise.
    ///
    /// - Throws: the ``PipelineError`` that stopped the run, as iterating would.
    public func collect() async throws -> [Output] {
        var outputs: [Output] = []
        for try await output in self { outputs.append(output) }
        return outputs
    }

    /// Starts a run: the source is read afresh and every stage starts on the first `next()`.
    public func makeAsyncIterator() -> Iterator {
        Iterator(pipeline: self)
    }

    /// Makes the run for an iterator and starts it.
    func startRun() -> (PipelineRun, StageBuffer<Output>) {
        let run = PipelineRun(options: options, sourceName: sourceName)
        lastRun.withLock { $0 = run }
        let output = startStages(run)
        run.begin()
        return (run, output)
    }

    /// Yields a pipeline's outputs, one by one, from batches taken off the last stage's buffer.
    public struct Iterator: AsyncIteratorProtocol {
        private let pipeline: Pipeline
        private var started: StartedRun?
        private var batch: [Output] = []
        private var index = 0
        private var ended = false

        init(pipeline: Pipeline) {
            self.pipeline = pipeline
        }

        /// The next output, or `nil` at the end; throws the ``PipelineError`` that stopped the run.
        public mutating func next() async throws -> Output? {
            try await next(isolation: nil)
        }

        /// The next output, staying in the caller's isolation; see ``next()``.
        public mutating func next(isolation actor: isolated (any Actor)?) async throws(any Error) -> Output? {
            if index < batch.count {
                defer { index += 1 }
                return batch[index]
            }
            return try await refill(isolation: actor)
        }

        private mutating func refill(isolation actor: isolated (any Actor)?) async throws -> Output? {
            batch = []
            index = 0
            if ended { return nil }
            if started == nil {
                if let invalid = pipeline.invalidArgument {
                    ended = true
                    throw invalid
                }
                started = StartedRun(pipeline.startRun(), progressInterval: pipeline.progressInterval)
            }
            guard let started else { return nil }
            if let taken = await started.take() {
                batch = taken
                index = 1
                return taken[0]
            }
            ended = true
            try await started.end()
            return nil
        }
    }
}

@available(*, unavailable)
extension Pipeline.Iterator: Sendable {}

extension Pipeline {
    /// Reads a synchronous source in batches of up to the buffer's size.
    private static func feed<Source: Sequence>(
        _ buffer: StageBuffer<Output>,
        from source: Source,
        run: PipelineRun
    ) async
    where Source.Element == Output {
        var iterator = source.makeIterator()
        var origin = 0
        // Small batches at first, so the first stage starts at once; then up to a quarter of the buffer.
        var batchSize = 1
        while !run.isStopping {
            var batch = ItemBatch<Output>()
            batch.values.reserveCapacity(batchSize)
            while batch.count < batchSize, let next = iterator.next() {
                batch.values.append(next)
            }
            batch.origins = ArraySlice(origin..<origin + batch.count)
            origin += batch.count
            if batch.isEmpty { break }
            let start = monotonicNanoseconds()
            guard await buffer.put(batch) else { return }
            let waited = monotonicNanoseconds() - start
            run.source.update {
                $0.itemsOut += batch.count
                $0.waitingForRoomNanoseconds += waited
            }
            batchSize = Swift.min(Swift.max(1, buffer.capacity / 4), batchSize * 2)
        }
        buffer.producerFinished()
    }

    /// Reads an asynchronous source item by item: an item that arrives goes on at once.
    private static func feed<Source: AsyncSequence>(
        _ buffer: StageBuffer<Output>,
        fromAsync source: Source,
        run: PipelineRun
    ) async where Source.Element == Output {
        var origin = 0
        do {
            for try await next in source {
                let start = monotonicNanoseconds()
                guard await buffer.put(ItemBatch(origins: [origin], values: [next])) else { return }
                let waited = monotonicNanoseconds() - start
                run.source.update {
                    $0.itemsOut += 1
                    $0.waitingForRoomNanoseconds += waited
                }
                origin += 1
            }
        } catch {
            if run.isStopping { return }
            // Fatal even with `.collect`: nothing more can come from a broken source, and a run
            // that ended quietly would pass a cut-short input off as the whole.
            run.record(
                PipelineError(
                    stage: "source",
                    stageNumber: 0,
                    item: origin,
                    input: "the source itself",
                    underlying: error
                ),
                fatal: true
            )
            return
        }
        buffer.producerFinished()
    }

    /// A run an iterator started: it hands out the last buffer's batches, ends the run when the
    /// buffer ends, and stops the run when the iterator is dropped first.
    final class StartedRun: Sendable {
        let run: PipelineRun
        let output: StageBuffer<Output>
        let ticker: Task<Void, Never>?

        init(_ started: (PipelineRun, StageBuffer<Output>), progressInterval: Duration?) {
            (run, output) = started
            let run = started.0
            ticker = progressInterval.map { interval in
                Task { await ProgressDisplay.show(run, every: interval) }
            }
        }

        deinit {
            run.stop(as: .cancelled)
            ticker?.cancel()
        }

        /// The next batch of outputs, or `nil` once the last stage has finished or the run stopped.
        /// Cancelling the calling task stops the run.
        func take() async -> [Output]? {
            let run = self.run
            let start = monotonicNanoseconds()
            let taken = await withTaskCancellationHandler {
                await output.take(upTo: Int.max)
            } onCancel: {
                run.stop(as: .cancelled)
            }
            let waited = monotonicNanoseconds() - start
            run.consumer.update {
                $0.itemsIn += taken?.items.count ?? 0
                $0.waitingForInputNanoseconds += waited
            }
            return taken.map { Array($0.items.values) }
        }

        /// Waits until nothing of the run is left, then throws why it stopped, if it did not finish.
        func end() async throws {
            await run.waitForTasks()
            if let ticker {
                ticker.cancel()
                await ticker.value
            }
            switch run.phase {
            case .failed:
                if let failure = run.failure { throw failure }
                throw SpindleError.cancelled()
            case .cancelled:
                throw SpindleError(.cancelled, "the pipeline was cancelled before it finished")
            case .running, .finished:
                return
            }
        }
    }
}
