/// Worker → pool: what a task produced.
///
/// Layout: sequence number (u32), busy nanoseconds (u64), CPU nanoseconds (u64, all ones when not
/// measured), a failure flag (u8) and, when set, the
/// ``RemoteFailure``; then the encoded `[Output]` of the items before the failure, filling the rest.
package struct ResultMessage {
    package var sequence: UInt32
    /// How long the items took to run, which the pool's chunk sizer and pipelining learn from.
    package var busyNanoseconds: UInt64
    /// The worker's CPU time while the items ran, when it could be measured.
    package var cpuNanoseconds: UInt64?
    /// Why item number `outputs.count` failed, if one did; later items did not run.
    package var failure: RemoteFailure?
    /// The encoded `[Output]`.
    package var outputs: UnsafeRawBufferPointer

    /// Appends a whole result frame, with the outputs encoded in place; `segments` gets the shared
    /// segments they name, which go with the frame.
    package static func encode(
        sequence: UInt32,
        busyNanoseconds: UInt64,
        cpuNanoseconds: UInt64? = nil,
        failure: RemoteFailure?,
        into bytes: inout [UInt8],
        segments: inout [SharedSegment],
        outputs encodeOutputs: (inout [UInt8], inout [SharedSegment]) throws -> Void
    ) throws {
        let start = Frame.begin(.result, in: &bytes)
        bytes.appendLittleEndian(sequence)
        bytes.appendLittleEndian(busyNanoseconds)
        bytes.appendLittleEndian(cpuNanoseconds ?? .max)
        if let failure {
            bytes.append(1)
            failure.encode(into: &bytes)
        } else {
            bytes.append(0)
        }
        let attachedBefore = segments.count
        try encodeOutputs(&bytes, &segments)
        try Frame.finish(at: start, in: &bytes, attachments: segments.count - attachedBefore)
    }

    /// Reads a result; the outputs point into `payload`.
    package init(decoding payload: UnsafeRawBufferPointer) throws(WireError) {
        var cursor = ByteCursor(payload)
        sequence = try cursor.read()
        busyNanoseconds = try cursor.read()
        let cpu: UInt64 = try cursor.read()
        cpuNanoseconds = cpu == .max ? nil : cpu
        switch try cursor.read(UInt8.self) {
        case 0: failure = nil
        case 1: failure = try RemoteFailure(from: &cursor)
        case let flag: throw WireError("a result's failure flag is \(flag), not 0 or 1")
        }
        outputs = cursor.readRest()
    }
}

/// Why a job failed in a worker, in a form that crosses the process boundary.
package struct RemoteFailure: Sendable, Equatable {
    package enum Kind: UInt8, Sendable {
        /// The job threw; `bytes` holds the error encoded when its type is `Codable`.
        case thrown = 1
        /// A job, input or output could not be encoded or decoded.
        case coding = 2
        /// The job's type is not in the worker's binary.
        case unknownJob = 3
        /// A ``SpindleError`` (the job's worker died, the task timed out, ...), as itself: the code's
        /// name in `typeName`, its termination, if any, in `bytes`.
        case spindle = 4
    }

    package var kind: Kind
    /// The error's type (for `thrown`), by mangled name when it can travel as itself.
    package var typeName: String
    /// `String(describing:)` of the error, or what went wrong.
    package var message: String
    /// The encoded error, for a `thrown` error whose type is `Codable`; empty otherwise.
    package var bytes: [UInt8]

    package init(kind: Kind, typeName: String = "", message: String, bytes: [UInt8] = []) {
        self.kind = kind
        self.typeName = typeName
        self.message = message
        self.bytes = bytes
    }

    /// Captures an error a job threw: as itself when its type is `Codable` or a ``SpindleError``,
    /// as text otherwise.
    package init(thrown error: any Error) {
        if let error = error as? SpindleError {
            self.init(error)
            return
        }
        let type = Swift.type(of: error)
        let message = String(describing: error)
        if let codable = error as? any (Error & Encodable), let name = TypeNames.name(of: type) {
            var bytes: [UInt8] = []
            if (try? WireEncoder.encode(codable, into: &bytes)) != nil {
                self.init(kind: .thrown, typeName: name, message: message, bytes: bytes)
                return
            }
        }
        self.init(kind: .thrown, typeName: String(reflecting: type), message: message)
    }

    /// Captures a ``SpindleError`` as itself, code and termination included.
    package init(_ error: SpindleError) {
        var termination: [UInt8] = []
        switch error.termination {
        case .exited(let status)?:
            termination.append(1)
            termination.appendLittleEndian(status)
        case .signalled(let signal)?:
            termination.append(2)
            termination.appendLittleEndian(signal)
        case nil:
            break
        }
        self.init(kind: .spindle, typeName: error.code.description, message: error.message, bytes: termination)
    }

    func encode(into bytes: inout [UInt8]) {
        bytes.append(kind.rawValue)
        bytes.appendBlob(typeName)
        bytes.appendBlob(message)
        self.bytes.withUnsafeBytes { bytes.appendBlob($0) }
    }

    init(from cursor: inout ByteCursor) throws(WireError) {
        let raw = try cursor.read(UInt8.self)
        guard let kind = Kind(rawValue: raw) else { throw WireError("unknown failure kind \(raw)") }
        self.kind = kind
        typeName = try cursor.readString()
        message = try cursor.readString()
        bytes = Array(try cursor.readBlob())
    }

    /// The error to hand to the caller: the job's own error when it came as itself, a
    /// ``SpindleError`` otherwise. `jobType` names the job in messages.
    package func error(jobType: String) -> any Error {
        switch kind {
        case .thrown:
            if !bytes.isEmpty, let type = TypeNames.lookUp(typeName) as? any (Error & Decodable).Type,
                let error = bytes.withUnsafeBytes({ try? WireDecoder.decode(type, from: $0) })
            {
                return error
            }
            let shownType = bytes.isEmpty ? typeName : TypeNames.readable(typeName)
            return SpindleError(.jobFailed, "\(jobType) threw \(shownType): \(message)")
        case .coding:
            return SpindleError(.encodingFailed, message)
        case .spindle:
            let code = SpindleError.Code(name: typeName) ?? .protocolError
            var termination: SpindleError.Termination?
            if bytes.count == 5 {
                let value = bytes.withUnsafeBytes {
                    Int32(littleEndian: $0.loadUnaligned(fromByteOffset: 1, as: Int32.self))
                }
                termination = bytes[0] == 1 ? .exited(value) : bytes[0] == 2 ? .signalled(value) : nil
            }
            return SpindleError(code, message, termination: termination)
        case .unknownJob:
            // The worker could only name it by its mangled name; this side knows it.
            return SpindleError(
                .encodingFailed,
                "the job type \(jobType) is not a Job in the worker's binary: is the worker built from this program?"
            )
        }
    }
}
