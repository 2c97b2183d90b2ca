/// A task that reaches a ``ProcessPool`` already encoded, and whose result leaves it encoded: how
/// an MPI rank runs the tasks its driver sends on its own worker processes, without decoding a job,
/// an input or an output on the way.
///
/// The task frame arrives with the caller's sequence number; the pool rewrites it for each worker,
/// and the answer carries the caller's number again. Each task is answered exactly once, by a frame
/// handed to `answer`: a `result` (outputs, or a failure such as the worker's death, a timeout or a
/// cancellation, as a ``RemoteFailure``) or a `skipped` when it was cancelled before it started.
/// When it becomes the first in its worker's line, which counts as running, `started` hears a
/// `started` frame first.
package final class RelayedPoolTask: PoolTask, @unchecked Sendable {
    // @unchecked Sendable: `phase` is locked; `failureAfterOutputs` and the frame are only touched
    // under the pool engine's lock (retry) or after the task left every worker (complete).

    private enum Phase {
        case pending, running, done
    }

    /// The caller's sequence number for this task, which its answer carries.
    package let replySequence: UInt32
    /// The job's type, by its mangled name.
    private let jobType: String
    /// Where the task runs, as error messages name it ("rank 2 on node7").
    private let place: String
    private let started: @Sendable ([UInt8]) -> Void
    private let answer: @Sendable ([UInt8]) -> Void
    private let phase = Locked(Phase.pending)
    /// The error that follows the outputs, once the task was cut short by a crashing item.
    private var failureAfterOutputs: (any Error)?

    /// Takes a task frame as a caller encoded it.
    ///
    /// - Parameters:
    ///   - frame: a whole `task` frame, header included, with no shared segments attached.
    ///   - items: how many inputs it holds.
    ///   - timeout: the task's timeout, counted from its start.
    ///   - place: where it runs, prefixed to the messages of errors about its worker.
    ///   - started: hears a `started` frame when a worker begins the task.
    ///   - answer: hears the answer frame, once.
    /// - Throws: ``WireError`` when `frame` is not one well-formed task frame.
    package init(
        frame: [UInt8],
        items: Int,
        timeout: Duration?,
        place: String,
        started: @escaping @Sendable ([UInt8]) -> Void,
        answer: @escaping @Sendable ([UInt8]) -> Void
    ) throws(WireError) {
        guard frame.count >= Frame.headerSize else { throw WireError("a task frame of \(frame.count) bytes") }
        let parsed = frame.withUnsafeBytes { bytes -> Result<(UInt32, String), WireError> in
            Result { () throws(WireError) -> (UInt32, String) in
                let header = try Frame.parseHeader(UnsafeRawBufferPointer(rebasing: bytes[..<Frame.headerSize]))
                guard header.kind == .task, header.attachments == 0, header.length == bytes.count - Frame.headerSize
                else {
                    throw WireError("not a whole task frame without shared segments")
                }
                let task = try TaskMessage(decoding: UnsafeRawBufferPointer(rebasing: bytes[Frame.headerSize...]))
                return (task.sequence, task.jobType)
            }
        }
        let (sequence, jobType) = try parsed.get()
        guard items >= 1 else { throw WireError("a task of \(items) items") }
        replySequence = sequence
        self.jobType = jobType
        self.place = place
        self.started = started
        self.answer = answer
        super.init(frame: (frame, []), items: items, timeout: timeout)
    }

    package override var label: TaskLabel {
        TaskLabel(job: TypeNames.lookUp(jobType) ?? RelayedPoolTask.self, items: items)
    }

    package override var jobName: String { TypeNames.readable(jobType) }

    package override var isDone: Bool { phase.withLock { $0 == .done } }

    package override func markRunning() -> Bool {
        let first = phase.withLock { phase -> Bool? in
            switch phase {
            case .pending:
                phase = .running
                return true
            case .running: return false
            case .done: return nil
            }
        }
        guard let first else { return false }
        if first { started(notice(.started)) }
        return true
    }

    /// Marks the task done; `false` when it already was. Only a pending task may be cancelled.
    private func finish(cancelling: Bool = false) -> Bool {
        phase.withLock { phase in
            if phase == .done || (cancelling && phase == .running) { return false }
            phase = .done
            return true
        }
    }

    package override func complete(with result: ResultMessage, segments: ReceivedSegments?) throws(WireError) {
        guard finish() else { return }
        // The answer leaves as bytes alone: shared memory a worker made cannot go with it, and
        // relaying the outputs without it would make the caller fail on a dangling handle.
        if let segments, segments.count > 0 {
            answerFailure(
                SpindleError(
                    .encodingFailed,
                    "the output of \(jobName) carries a SharedArray, which cannot cross to another MPI rank: return its values instead"
                )
            )
            return
        }
        var failure = result.failure
        if failure == nil, let failureAfterOutputs { failure = remoteFailure(failureAfterOutputs) }
        var frame: [UInt8] = []
        var noSegments: [SharedSegment] = []
        do {
            try ResultMessage.encode(
                sequence: replySequence,
                busyNanoseconds: result.busyNanoseconds,
                cpuNanoseconds: result.cpuNanoseconds,
                failure: failure,
                into: &frame,
                segments: &noSegments
            ) { bytes, _ in bytes.append(contentsOf: result.outputs) }
        } catch {
            // Only a result over the frame limit gets here, and the worker's own frame was within it.
            answerFailure(SpindleError(.encodingFailed, "cannot relay the result of \(jobName): \(error)"))
            return
        }
        answer(frame)
    }

    package override func fail(_ error: any Error) {
        guard finish() else { return }
        answerFailure(error)
    }

    package override func cancelIfPending() {
        guard finish(cancelling: true) else { return }
        answer(notice(.skipped))
    }

    /// Answers `skipped` for a task claimed from its worker, which will skip it: left unanswered,
    /// that skip would later look like a protocol error.
    package func skipUnbegun() {
        guard finish() else { return }
        answer(notice(.skipped))
    }

    /// A `started` or `skipped` frame for this task: its sequence alone.
    private func notice(_ kind: MessageKind) -> [UInt8] {
        var frame: [UInt8] = []
        try? SkippedMessage(sequence: replySequence).encode(into: &frame, as: kind)
        return frame
    }

    package override func timeOut() {
        guard let timeout, finish() else { return }
        answerFailure(SpindleError.timedOut(after: timeout))
    }

    package override func retry(first count: Int, thenFail error: any Error) throws {
        guard let type = TypeNames.lookUp(jobType) as? any Job.Type else {
            throw WireError("the job type \(jobName) is not in this binary")
        }
        frame = try Self.truncate(type, frame, to: count)
        items = count
        failureAfterOutputs = error
    }

    /// The task frame `frame` of job `J` cut to its first `count` inputs.
    private static func truncate<J: Job>(_: J.Type, _ frame: [UInt8], to count: Int) throws -> [UInt8] {
        try frame.withUnsafeBytes { bytes in
            let task = try TaskMessage(decoding: UnsafeRawBufferPointer(rebasing: bytes[Frame.headerSize...]))
            let inputs = try WireDecoder.decode([J.Input].self, from: task.inputs)
            var truncated: [UInt8] = []
            var noSegments: [SharedSegment] = []
            try TaskMessage.encode(
                sequence: task.sequence,
                jobType: task.jobType,
                into: &truncated,
                segments: &noSegments,
                job: { $0.append(contentsOf: task.job) },
                inputs: { try WireEncoder.encode(Array(inputs.prefix(count)), into: &$0, segments: &$1) }
            )
            return truncated
        }
    }

    private func answerFailure(_ error: any Error) {
        answer(TaskRunner.failureFrame(remoteFailure(error), sequence: replySequence))
    }

    /// `error` as it crosses back, with errors about a worker process naming where it ran.
    private func remoteFailure(_ error: any Error) -> RemoteFailure {
        guard let error = error as? SpindleError else { return RemoteFailure(thrown: error) }
        switch error.code {
        case .workerDied, .memoryLimitExceeded, .protocolError, .workerStartFailed, .systemError:
            return RemoteFailure(
                SpindleError(error.code, "on \(place): \(error.message)", termination: error.termination)
            )
        default:
            return RemoteFailure(error)
        }
    }
}
