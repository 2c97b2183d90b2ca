/// Runs a task frame's job where the frame lands: in a ``ProcessPool`` worker process, or in an MPI
/// rank that runs jobs itself. The job's type is found by name in this binary; the job and its
/// inputs are decoded, the chunk runs, and the answer is a `result` frame.
package enum TaskRunner {
    /// A task decoded and ready to run, independent of the buffer its frame came in.
    package struct Prepared: Sendable {
        /// The task's sequence number, which its result carries.
        package let sequence: UInt32
        /// The job's type, by its mangled name.
        package let jobType: String
        fileprivate let body: @Sendable ((Int) -> Void) async -> Answer

        /// Runs the chunk; `willRun` hears each item's index before it runs.
        package func run(willRun: (Int) -> Void) async -> Answer {
            await body(willRun)
        }
    }

    /// What a task produced, ready to encode.
    package struct Answer: Sendable {
        package let failure: RemoteFailure?
        package let busyNanoseconds: UInt64
        /// Whether the job ran (its type was found, and it and its inputs decoded).
        package let ran: Bool
        fileprivate let encodeOutputs: @Sendable (inout [UInt8], inout [SharedSegment]) throws -> Void

        fileprivate static func failed(_ failure: RemoteFailure) -> Answer {
            Answer(failure: failure, busyNanoseconds: 0, ran: false) { bytes, _ in
                try WireEncoder.encode([Int](), into: &bytes)
            }
        }
    }

    private static let jobTypes = Locked<[String: any Job.Type]>([:])

    /// The job type of that mangled name in this binary, if it is a ``Job``.
    package static func jobType(named name: String) -> (any Job.Type)? {
        if let type = jobTypes.withLock({ $0[name] }) { return type }
        guard let type = TypeNames.lookUp(name) as? any Job.Type else { return nil }
        jobTypes.withLock { $0[name] = type }
        return type
    }

    /// Decodes `task`'s job and inputs now, while the buffer they point into is the caller's; a job
    /// type not in this binary, or bytes that do not decode, give a task that answers with why.
    /// The outputs' large arrays go into `spill`, if given.
    package static func prepare(
        _ task: TaskMessage,
        segments: ReceivedSegments?,
        spill: SpillArea? = nil
    ) -> Prepared {
        let body: @Sendable ((Int) -> Void) async -> Answer
        if let type = jobType(named: task.jobType) {
            body = prepare(type, task, segments: segments, spill: spill)
        } else {
            let failure = RemoteFailure(
                kind: .unknownJob,
                message: "the job type \(TypeNames.readable(task.jobType)) is not a Job in the worker's binary"
            )
            body = { _ in .failed(failure) }
        }
        return Prepared(sequence: task.sequence, jobType: task.jobType, body: body)
    }

    private static func prepare<J: Job>(
        _: J.Type,
        _ task: TaskMessage,
        segments: ReceivedSegments?,
        spill: SpillArea?
    ) -> @Sendable ((Int) -> Void) async -> Answer {
        let job: J
        let inputs: [J.Input]
        do {
            job = try WireDecoder.decode(J.self, from: task.job, segments: segments)
            inputs = try WireDecoder.decode([J.Input].self, from: task.inputs, segments: segments)
        } catch {
            let failure = RemoteFailure(
                kind: .coding,
                message: "cannot decode the job \(J.self) or its input: \(error)"
            )
            return { _ in .failed(failure) }
        }
        return { willRun in
            // Through the job's own conformance, where the loop is compiled for its types.
            let outcome = await job._runChunk(inputs, willRun: willRun)
            let outputs = outcome.outputs
            return Answer(
                failure: outcome.failure.map { RemoteFailure(thrown: $0) },
                busyNanoseconds: outcome.busyNanoseconds,
                ran: true
            ) { bytes, segments in try WireEncoder.encode(outputs, into: &bytes, segments: &segments, spill: spill) }
        }
    }

    /// A result frame of task `sequence` that carries only `failure`.
    package static func failureFrame(_ failure: RemoteFailure, sequence: UInt32) -> [UInt8] {
        var bytes: [UInt8] = []
        var noSegments: [SharedSegment] = []
        encode(.failed(failure), sequence: sequence, jobType: "", into: &bytes, segments: &noSegments)
        return bytes
    }

    /// Appends the result frame of task `sequence` of job `jobType`; an output that cannot be
    /// encoded makes it a result that says so.
    package static func encode(
        _ answer: Answer,
        sequence: UInt32,
        jobType: String,
        cpuNanoseconds: UInt64? = nil,
        into bytes: inout [UInt8],
        segments: inout [SharedSegment]
    ) {
        let start = bytes.count
        let attachedBefore = segments.count
        do {
            try ResultMessage.encode(
                sequence: sequence,
                busyNanoseconds: answer.busyNanoseconds,
                cpuNanoseconds: cpuNanoseconds,
                failure: answer.failure,
                into: &bytes,
                segments: &segments,
                outputs: answer.encodeOutputs
            )
        } catch {
            bytes.removeSubrange(start...)
            segments.removeSubrange(attachedBefore...)
            let failure = RemoteFailure(
                kind: .coding,
                message: "cannot encode the output of \(TypeNames.readable(jobType)): \(error)"
            )
            encode(.failed(failure), sequence: sequence, jobType: jobType, into: &bytes, segments: &segments)
        }
    }
}
