/// Why a pipeline stopped, or (with ``PipelineOptions/FailureHandling/collect``) one item it skipped:
/// which stage failed, on which item, and the error the stage threw.
///
/// ```swift
/// do {
///     for try await result in pipeline { ... }
/// } catch let error as PipelineError {
///     print(error)   // stage `decode` failed on item 41 of the source ("/data/41.csv"): …
/// }
/// ```
public struct PipelineError: Error, Sendable, CustomStringConvertible {
    /// The failed stage's name.
    public var stage: String
    /// The failed stage's position: 1 for the first stage after the source.
    public var stageNumber: Int
    /// The position in the source (from 0) of the item that failed, or that the failed item came
    /// from when an earlier stage fanned out.
    public var item: Int
    /// The failed stage's input, as `String(describing:)` shows it, shortened to 120 characters.
    public var input: String
    /// The error the stage threw: the job's own error, or a ``SpindleError`` (a worker that died, a
    /// timeout).
    public var underlying: any Error

    /// Creates a failure record.
    public init(stage: String, stageNumber: Int, item: Int, input: String, underlying: any Error) {
        self.stage = stage
        self.stageNumber = stageNumber
        self.item = item
        self.input = input
        self.underlying = underlying
    }

    init(stage: String, stageNumber: Int, item: Int, input: some Sendable, underlying: any Error) {
        var shown = String(describing: input)
        if shown.count > 120 { shown = shown.prefix(119) + "…" }
        self.init(stage: stage, stageNumber: stageNumber, item: item, input: shown, underlying: underlying)
    }

    /// "stage `decode` failed on item 41 of the source ("41.csv"): the underlying error".
    public var description: String {
        "stage `\(stage)` failed on item \(item) of the source (\(input)): \(underlying)"
    }
}

/// How a ``Pipeline`` runs: output order, what a failure does, and the default buffer size.
public struct PipelineOptions: Sendable, Hashable {
    /// What a failing item does to the pipeline.
    public enum FailureHandling: Sendable, Hashable {
        /// Stop at the first failure: every stage is cancelled (a process pool's running jobs are
        /// killed), and iterating throws a ``PipelineError`` once nothing of the pipeline runs.
        case stop
        /// Skip the failed item and carry on; the failures are listed in ``PipelineReport/failures``.
        case collect
    }

    /// In which order results come out: `.input` (the default) keeps the source's order through
    /// every stage; `.completion` hands on each chunk as soon as it is done.
    public var order: MapOptions.Order
    /// What a failing item does; `.stop` by default.
    public var onFailure: FailureHandling
    /// How many items may wait between two stages, unless a stage sets its own: the bound on the
    /// memory a pipeline holds, however long its source. 64 by default.
    public var buffer: Int

    /// Creates options; every parameter has the default described on its property.
    public init(order: MapOptions.Order = .input, onFailure: FailureHandling = .stop, buffer: Int = 64) {
        self.order = order
        self.onFailure = onFailure
        self.buffer = buffer
    }
}
