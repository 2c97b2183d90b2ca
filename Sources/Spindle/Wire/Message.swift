/// What a frame carries. The handshake is `setup` (pool → worker) answered by `ready` or
/// `setupFailed`; then the pool sends `task`s and the worker answers each with a `result`, or a
/// `skipped` when the pool cancelled the task before the worker reached it. A relay between a
/// caller and a pool (an MPI rank serving a driver) also tells its caller when a task `started`.
package enum MessageKind: UInt8, Sendable {
    case setup = 1
    case ready = 2
    case setupFailed = 3
    case task = 4
    case result = 5
    case skipped = 6
    case started = 7
}

/// The version of the messages below; a worker from another build of the program refuses to serve.
package let wireProtocolVersion: UInt32 = 4

/// Pool → worker, first: who the worker is and how to prepare.
package struct SetupMessage {
    package var version = wireProtocolVersion
    /// The worker's number in its pool, for messages.
    package var workerID: UInt32
    /// The initializer's type name and encoded value; an empty name for none.
    package var initializerType: String
    package var initializer: [UInt8]
    /// Whether the worker may spill its results' large arrays into shared memory (``SpillArea``):
    /// not when the pool relays results onward as bytes.
    package var takesSpilledResults: Bool

    package init(
        workerID: UInt32,
        initializerType: String = "",
        initializer: [UInt8] = [],
        takesSpilledResults: Bool = false
    ) {
        self.workerID = workerID
        self.initializerType = initializerType
        self.initializer = initializer
        self.takesSpilledResults = takesSpilledResults
    }

    package func encode(into bytes: inout [UInt8]) throws(WireError) {
        let start = Frame.begin(.setup, in: &bytes)
        bytes.appendLittleEndian(version)
        bytes.appendLittleEndian(workerID)
        bytes.append(takesSpilledResults ? 1 : 0)
        bytes.appendBlob(initializerType)
        initializer.withUnsafeBytes { bytes.appendBlob($0) }
        try Frame.finish(at: start, in: &bytes)
    }

    package init(decoding payload: UnsafeRawBufferPointer) throws(WireError) {
        var cursor = ByteCursor(payload)
        version = try cursor.read()
        guard version == wireProtocolVersion else {
            throw WireError("protocol version \(version) from the pool, but this worker speaks \(wireProtocolVersion)")
        }
        workerID = try cursor.read()
        switch try cursor.read(UInt8.self) {
        case 0: takesSpilledResults = false
        case 1: takesSpilledResults = true
        case let flag: throw WireError("the setup's spill flag is \(flag), not 0 or 1")
        }
        initializerType = try cursor.readString()
        initializer = Array(try cursor.readBlob())
        try cursor.expectEnd()
    }
}

/// Worker → pool, once set up: the worker is ready for tasks.
package struct ReadyMessage {
    package var version = wireProtocolVersion
    package var pid: Int32

    package init(pid: Int32) { self.pid = pid }

    package func encode(into bytes: inout [UInt8]) throws(WireError) {
        let start = Frame.begin(.ready, in: &bytes)
        bytes.appendLittleEndian(version)
        bytes.appendLittleEndian(pid)
        try Frame.finish(at: start, in: &bytes)
    }

    package init(decoding payload: UnsafeRawBufferPointer) throws(WireError) {
        var cursor = ByteCursor(payload)
        version = try cursor.read()
        guard version == wireProtocolVersion else {
            throw WireError("the worker speaks protocol version \(version), the pool \(wireProtocolVersion)")
        }
        pid = try cursor.read()
        try cursor.expectEnd()
    }
}

/// Worker → pool instead of ready: setting up failed (a version mismatch, the initializer threw).
package struct SetupFailedMessage {
    package var reason: String

    package init(reason: String) { self.reason = reason }

    package func encode(into bytes: inout [UInt8]) throws(WireError) {
        let start = Frame.begin(.setupFailed, in: &bytes)
        bytes.appendBlob(reason)
        try Frame.finish(at: start, in: &bytes)
    }

    package init(decoding payload: UnsafeRawBufferPointer) throws(WireError) {
        var cursor = ByteCursor(payload)
        reason = try cursor.readString()
        try cursor.expectEnd()
    }
}

/// Pool → worker: run a job over a chunk of inputs.
///
/// Layout: sequence number (u32), job type name, encoded job, then the encoded `[Input]` filling
/// the rest. The sequence number is the first field so that a task re-sent to another worker only
/// needs those four bytes rewritten (``patchSequence(_:in:)``).
package struct TaskMessage {
    /// The task's number on its worker; the worker answers with it.
    package var sequence: UInt32
    /// The job's type, by its mangled name.
    package var jobType: String
    /// The encoded job value.
    package var job: UnsafeRawBufferPointer
    /// The encoded `[Input]`.
    package var inputs: UnsafeRawBufferPointer

    /// Appends a whole task frame, with the job and its inputs encoded in place; `segments` holds
    /// the shared segments they name, which go with the frame.
    package static func encode(
        sequence: UInt32,
        jobType: String,
        into bytes: inout [UInt8],
        segments: inout [SharedSegment],
        job encodeJob: (inout [UInt8]) throws -> Void,
        inputs encodeInputs: (inout [UInt8], inout [SharedSegment]) throws -> Void
    ) throws {
        let start = Frame.begin(.task, in: &bytes)
        bytes.appendLittleEndian(sequence)
        bytes.appendBlob(jobType)
        let jobLengthAt = bytes.count
        bytes.appendLittleEndian(UInt32(0))
        try encodeJob(&bytes)
        let jobLength = UInt32(truncatingIfNeeded: bytes.count - jobLengthAt - 4)
        bytes.storeLittleEndian(jobLength, at: jobLengthAt)
        try encodeInputs(&bytes, &segments)
        try Frame.finish(at: start, in: &bytes, attachments: segments.count)
    }

    /// Rewrites the sequence number of the task frame that starts `frame`.
    package static func patchSequence(_ sequence: UInt32, in frame: inout [UInt8]) {
        frame.storeLittleEndian(sequence, at: Frame.headerSize)
    }

    /// Reads a task; the job and inputs point into `payload`.
    package init(decoding payload: UnsafeRawBufferPointer) throws(WireError) {
        var cursor = ByteCursor(payload)
        sequence = try cursor.read()
        jobType = try cursor.readString()
        job = try cursor.readBlob()
        inputs = cursor.readRest()
    }
}

/// Worker → pool: the task the pool cancelled before the worker reached it was not run. Also,
/// as a `started` frame, relay → caller: a worker has begun the task.
package struct SkippedMessage {
    package var sequence: UInt32

    package init(sequence: UInt32) { self.sequence = sequence }

    package func encode(into bytes: inout [UInt8], as kind: MessageKind = .skipped) throws(WireError) {
        let start = Frame.begin(kind, in: &bytes)
        bytes.appendLittleEndian(sequence)
        try Frame.finish(at: start, in: &bytes)
    }

    package init(decoding payload: UnsafeRawBufferPointer) throws(WireError) {
        var cursor = ByteCursor(payload)
        sequence = try cursor.read()
        try cursor.expectEnd()
    }
}
