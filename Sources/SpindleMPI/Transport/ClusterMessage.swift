internal import Spindle

/// What an MPI message between the driver (rank 0) and a server rank carries, by its MPI tag.
///
/// The payloads are the frames of Spindle's wire (the same task and result frames a
/// ``ProcessPool`` sends its workers), several to a message, so that a burst of small tasks costs
/// one MPI message per rank rather than one per task.
enum ClusterTag: Int32 {
    /// Driver → server: task records (``TaskRecord``), back to back.
    case tasks = 1
    /// Driver → server: cancellations (``CancelRecord``), back to back.
    case cancels = 2
    /// Driver → server: the program is ending; finish, then leave. One byte: 1 when a rank was
    /// lost, so that the server leaves without MPI_Finalize (which would wait for the lost rank).
    case stop = 3
    /// Server → driver: `started`, `result` and `skipped` frames, back to back.
    case replies = 4
    /// Server → driver, once: ``Hello``.
    case hello = 5
    /// Server → driver, last: the server has finished and is leaving.
    case goodbye = 6
    /// Server → driver, every ``MPICluster/heartbeatNanoseconds``: this rank is alive.
    case heartbeat = 7
}

/// Driver → server: one task. Layout: the task frame, header included, whose sequence number is
/// the driver's for this task; then items (u32) and the timeout in nanoseconds (u64, 0 for none).
/// The numbers trail the frame so that a message of one large task gives up its frame uncopied.
enum TaskRecord {
    static let trailerSize = 12

    static func append(items: Int, timeout: Duration?, frame: [UInt8], to buffer: MessageBuffer) {
        buffer.append(frame)
        buffer.appendLittleEndian(UInt32(items))
        buffer.appendLittleEndian(timeout.map { max(1, $0.clampedNanoseconds) } ?? 0)
    }

    /// Calls `body` with each record of a message: items, timeout, the frame.
    static func forEach(
        in message: consuming [UInt8],
        _ body: (Int, Duration?, [UInt8]) throws -> Void
    ) throws {
        var records: [(items: Int, timeout: Duration?, range: Range<Int>)] = []
        try message.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                guard bytes.count - offset >= Frame.headerSize + trailerSize else {
                    throw WireError("a truncated task record")
                }
                let header = try Frame.parseHeader(
                    UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + Frame.headerSize])
                )
                let frameEnd = offset + Frame.headerSize + header.length
                guard frameEnd + trailerSize <= bytes.count else { throw WireError("a truncated task record") }
                let items = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: frameEnd, as: UInt32.self)))
                let timeout = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: frameEnd + 4, as: UInt64.self))
                records.append((items, timeout == 0 ? nil : .nanoseconds(Int64(timeout)), offset..<frameEnd))
                offset = frameEnd + trailerSize
            }
        }
        if records.count == 1 {
            var frame = consume message
            frame.removeLast(trailerSize)
            try body(records[0].items, records[0].timeout, frame)
            return
        }
        for record in records { try body(record.items, record.timeout, Array(message[record.range])) }
    }
}

/// Driver → server: cancel a task. Layout: the task's sequence number (u32), then whether only a
/// task that has not started is to be cancelled (u8, 1) or a running one killed too (0).
enum CancelRecord {
    static func append(sequence: UInt32, onlyIfNotStarted: Bool, to buffer: MessageBuffer) {
        buffer.appendLittleEndian(sequence)
        buffer.appendLittleEndian(UInt8(onlyIfNotStarted ? 1 : 0))
    }

    static func forEach(in message: [UInt8], _ body: (UInt32, Bool) -> Void) throws {
        guard message.count % 5 == 0 else { throw WireError("cancel records of \(message.count) bytes") }
        message.withUnsafeBytes { bytes in
            for offset in stride(from: 0, to: bytes.count, by: 5) {
                let sequence = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
                body(sequence, bytes[offset + 4] == 1)
            }
        }
    }
}

/// Server → driver, once it is ready: the protocol version, its pid, how many worker processes run
/// its jobs, its host name; or, with zero workers, why it could not start them.
struct Hello {
    var version: UInt32 = wireProtocolVersion
    var pid: Int32
    var workers: Int
    var host: String
    /// Why the server could not start its worker processes; empty when it could.
    var failure: String

    func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendLittleEndian(version)
        bytes.appendLittleEndian(pid)
        bytes.appendLittleEndian(UInt32(workers))
        bytes.appendBlob(host)
        bytes.appendBlob(failure)
        return bytes
    }

    init(pid: Int32, workers: Int, host: String, failure: String) {
        self.pid = pid
        self.workers = workers
        self.host = host
        self.failure = failure
    }

    init(decoding message: [UInt8]) throws(WireError) {
        let decoded = message.withUnsafeBytes { bytes -> Result<Hello, WireError> in
            Result { () throws(WireError) -> Hello in
                var cursor = ByteCursor(bytes)
                let version: UInt32 = try cursor.read()
                guard version == wireProtocolVersion else {
                    throw WireError("a server speaks protocol version \(version), the driver \(wireProtocolVersion)")
                }
                let pid: Int32 = try cursor.read()
                let workers = Int(try cursor.read(UInt32.self))
                let host = try cursor.readString()
                let failure = try cursor.readString()
                try cursor.expectEnd()
                return Hello(pid: pid, workers: workers, host: host, failure: failure)
            }
        }
        self = try decoded.get()
    }
}

/// Calls `body` with each frame of a message of frames: its kind and payload.
func forEachFrame(
    in message: [UInt8],
    _ body: (MessageKind, UnsafeRawBufferPointer) throws -> Void
) throws {
    try message.withUnsafeBytes { bytes in
        var offset = 0
        while offset < bytes.count {
            guard bytes.count - offset >= Frame.headerSize else { throw WireError("a truncated frame header") }
            let header = try Frame.parseHeader(
                UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + Frame.headerSize])
            )
            let start = offset + Frame.headerSize
            guard header.attachments == 0, bytes.count - start >= header.length else {
                throw WireError("a truncated frame, or one with shared segments")
            }
            try body(header.kind, UnsafeRawBufferPointer(rebasing: bytes[start..<start + header.length]))
            offset = start + header.length
        }
    }
}
