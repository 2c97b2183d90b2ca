/// One task of a ``ProcessPool`` as its engine sees it: a job over a chunk of inputs, already
/// encoded as a frame, with its future behind type-erased operations.
///
/// The engine's fields (`worker`, `sequence`, `attempts`) are only touched with the engine's lock
/// held; the typed operations complete the future and may run on any thread.
@usableFromInline
package class PoolTask: @unchecked Sendable {
    /// The task frame; its sequence number is rewritten for each worker it is sent to.
    package var frame: [UInt8]
    /// The shared segments the frame's handles name, sent with it; held until the task can no
    /// longer be sent again, so that they outlive the trip even if the caller drops them.
    package var segments: [SharedSegment]
    /// Items in the chunk.
    package var items: Int
    /// When the task fails with a timeout (monotonic nanoseconds): set when it starts running,
    /// if it has a timeout.
    private(set) var deadline: UInt64?
    package let timeout: Duration?
    /// When it was submitted (monotonic nanoseconds), once encoded.
    package let submittedNanoseconds = monotonicNanoseconds()
    /// Whether a worker has started it, for the statistics.
    package var hasStarted = false

    /// The worker it was sent to, while there; its sequence number there.
    var worker: WorkerProcess?
    package var sequence: UInt32 = 0
    /// How often a worker died while holding it without running it to the end.
    var attempts = 0

    package init(frame: (bytes: [UInt8], segments: [SharedSegment]), items: Int, timeout: Duration?) {
        self.frame = frame.bytes
        self.segments = frame.segments
        self.items = items
        self.timeout = timeout
    }

    /// Starts the timeout's clock at `now`, the first time the task starts running; returns the
    /// new deadline, or `nil` when there is no timeout or the clock already runs.
    package func startClock(at now: UInt64) -> UInt64? {
        guard let timeout, deadline == nil else { return nil }
        deadline = now &+ timeout.clampedNanoseconds
        return deadline
    }

    // MARK: Typed operations

    /// The job's type and the task's size, for the statistics.
    package var label: TaskLabel { fatalError("abstract") }

    /// The job's type, readable, for error messages.
    package var jobName: String { label.name }

    /// Whether the future is complete (finished, failed, cancelled or timed out).
    package var isDone: Bool { fatalError("abstract") }

    /// Moves the future to running; `false` when it is already done.
    @discardableResult
    package func markRunning() -> Bool { fatalError("abstract") }

    /// Completes the future from a worker's result and the shared segments that came with it.
    ///
    /// - Throws: a `WireError` when the result cannot belong to this task (more or fewer outputs
    ///   than items, or all of them and a failure too): the task has then failed with
    ///   ``SpindleError/Code/protocolError``, and the worker that sent it must go.
    package func complete(with result: ResultMessage, segments: ReceivedSegments?) throws(WireError) {
        fatalError("abstract")
    }

    /// Fails the whole task: the error comes at its first item.
    package func fail(_ error: any Error) { fatalError("abstract") }

    /// Drops the frame and inputs once the task can no longer be sent again.
    package func releasePayload() {
        frame = []
        segments = []
    }

    /// Cancels the future if it has not started.
    package func cancelIfPending() { fatalError("abstract") }

    /// Fails the future with a timeout, unless it is done.
    package func timeOut() { fatalError("abstract") }

    /// Re-encodes the task as its first `count` items, whose outputs will be followed by `error`:
    /// how a chunk whose item `count` killed its worker is retried without the culprit.
    package func retry(first count: Int, thenFail error: any Error) throws { fatalError("abstract") }
}

/// A ``PoolTask`` for a job of type `J` whose future holds `Value`: one output for `submit`, a
/// ``ChunkOutcome`` for a map.
package final class TypedPoolTask<J: Job, Value: Sendable>: PoolTask, @unchecked Sendable {
    package let job: J
    package var inputs: [J.Input]
    package let future = Future<Value>()
    private let makeValue: @Sendable (ChunkOutcome<J.Output>) -> Result<Value, any Error>
    /// Where the inputs' large arrays go, also when the task is encoded again for a retry.
    private let spill: SpillArea?
    /// The error that follows the outputs, once the task was cut short by a crashing item.
    private var failureAfterOutputs: (any Error)?

    /// Encodes the task; `makeValue` turns the chunk's outcome into the future's result.
    ///
    /// - Parameters:
    ///   - encodedJob: the job already encoded, as a map does once for all its chunks.
    ///   - spill: where the inputs' large arrays go, if the pool's transport carries shared memory.
    /// - Throws: ``SpindleError/Code/encodingFailed`` when the job or an input cannot be encoded.
    package init(
        job: J,
        encodedJob: EncodedJob<J>?,
        inputs: [J.Input],
        spill: SpillArea? = nil,
        timeout: Duration?,
        makeValue: @escaping @Sendable (ChunkOutcome<J.Output>) -> Result<Value, any Error>
    ) throws(SpindleError) {
        self.job = job
        self.inputs = inputs
        self.makeValue = makeValue
        self.spill = spill
        let encoded: EncodedJob<J>
        if let encodedJob { encoded = encodedJob } else { encoded = try EncodedJob(job) }
        super.init(frame: try encoded.frame(for: inputs, spill: spill), items: inputs.count, timeout: timeout)
    }

    package override var label: TaskLabel { TaskLabel(job: J.self, items: items) }

    package override var isDone: Bool { future.isDone }

    package override func markRunning() -> Bool { future.markRunning() }

    package override func complete(with result: ResultMessage, segments: ReceivedSegments?) throws(WireError) {
        let outputs: [J.Output]
        do {
            outputs = try WireDecoder.decode([J.Output].self, from: result.outputs, segments: segments)
        } catch {
            fail(SpindleError(.encodingFailed, "cannot decode the output of \(J.self): \(error)"))
            return
        }
        // A whole chunk answers every item; one cut short by a failure answers fewer. Anything else
        // is a worker that lies, and trusting it would lose or duplicate items of a map.
        let fits = result.failure == nil ? outputs.count == items : outputs.count < items
        guard fits else {
            let problem =
                "a result of \(outputs.count) outputs\(result.failure == nil ? "" : " and a failure") for a task of \(items) items"
            fail(SpindleError(.protocolError, "the worker sent \(problem) of \(J.self)"))
            throw WireError(problem)
        }
        let failure = result.failure.map { $0.error(jobType: jobName) } ?? failureAfterOutputs
        let outcome = ChunkOutcome(
            outputs: outputs,
            failure: failure,
            busyNanoseconds: result.busyNanoseconds,
            cpuNanoseconds: result.cpuNanoseconds
        )
        future.complete(with: makeValue(outcome))
    }

    package override func fail(_ error: any Error) {
        future.complete(with: makeValue(ChunkOutcome(outputs: [], failure: error, busyNanoseconds: 0)))
    }

    package override func cancelIfPending() { future.cancelIfPending() }

    package override func releasePayload() {
        super.releasePayload()
        inputs = []
    }

    package override func timeOut() {
        guard let timeout else { return }
        future.abandon(with: SpindleError.timedOut(after: timeout))
    }

    package override func retry(first count: Int, thenFail error: any Error) throws {
        inputs.removeSubrange(count...)
        (frame, segments) = try EncodedJob(job).frame(for: inputs, spill: spill)
        items = count
        failureAfterOutputs = error
    }
}

/// A job's type name and encoded value, made once and reused for every task of a map.
@usableFromInline
package struct EncodedJob<J: Job>: @unchecked Sendable {
    // @unchecked Sendable: immutable; the segments are only read (sent) once encoded.
    package let typeName: String
    package let bytes: [UInt8]
    /// The shared segments the job's properties name (a `SharedArray`, say).
    package let segments: [SharedSegment]

    /// - Throws: ``SpindleError/Code/encodingFailed`` when the job cannot be encoded.
    @usableFromInline
    package init(_ job: J) throws(SpindleError) {
        guard let typeName = TypeNames.name(of: J.self) else {
            throw SpindleError(.encodingFailed, "the job type \(J.self) has no stable name to send to a worker")
        }
        self.typeName = typeName
        var bytes: [UInt8] = []
        var segments: [SharedSegment] = []
        do {
            try WireEncoder.encode(job, into: &bytes, segments: &segments)
        } catch {
            throw SpindleError(.encodingFailed, "cannot encode the job \(J.self): \(error)")
        }
        self.bytes = bytes
        self.segments = segments
    }

    /// A task frame of this job over `inputs`, with sequence number 0; the inputs' large arrays go
    /// into `spill`, if given. The job's never do: its bytes are sent with every task of a map,
    /// and a spilled array belongs to one message.
    ///
    /// - Throws: ``SpindleError/Code/encodingFailed`` when an input cannot be encoded.
    package func frame(
        for inputs: [J.Input],
        spill: SpillArea? = nil
    ) throws(SpindleError) -> (bytes: [UInt8], segments: [SharedSegment]) {
        var frame: [UInt8] = []
        frame.reserveCapacity(64 + bytes.count + 16 * inputs.count)
        var segments = self.segments
        do {
            try TaskMessage.encode(
                sequence: 0,
                jobType: typeName,
                into: &frame,
                segments: &segments,
                job: { $0.append(contentsOf: bytes) },
                inputs: { try WireEncoder.encode(inputs, into: &$0, segments: &$1, spill: spill) }
            )
        } catch {
            throw SpindleError(.encodingFailed, "cannot encode an input of \(J.self): \(error)")
        }
        return (frame, segments)
    }
}
