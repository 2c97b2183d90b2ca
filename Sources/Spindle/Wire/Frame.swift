/// The unit every message between a pool and its workers travels in, whatever carries it: a
/// socket today, an MPI message later.
///
/// A frame is an 8-byte header followed by `length` bytes of payload:
///
/// | bytes | field |
/// | --- | --- |
/// | 0 | magic, `0xD5`: a stream that lost its framing shows at once |
/// | 1 | kind (``MessageKind``) |
/// | 2 | shared segments attached to the frame, at most ``maximumAttachments`` |
/// | 3 | reserved, zero |
/// | 4–7 | payload length, little-endian, at most ``maximumPayload`` |
package enum Frame {
    /// The first byte of every frame.
    package static let magic: UInt8 = 0xD5
    /// Bytes in a frame header.
    package static let headerSize = 8
    /// The largest payload a frame may carry: 1 GiB. A longer length is a corrupt header.
    package static let maximumPayload = 1 << 30
    /// The most shared values (a ``SharedArray``'s segment, say) one message may carry.
    package static let maximumSharedValues = 64
    /// The most shared segments one frame may carry: its shared values and its spilled arrays
    /// (``SpillArea``). Their descriptors travel beside the frame's bytes (`SCM_RIGHTS`), sent no
    /// later than its first byte, in the order of the frames.
    package static let maximumAttachments = maximumSharedValues + SpillArea.maximumSegments

    /// Starts a frame of kind `kind` in `bytes` and returns where its header is, for ``finish(at:in:)``
    /// once the payload has been appended.
    package static func begin(_ kind: MessageKind, in bytes: inout [UInt8]) -> Int {
        let start = bytes.count
        bytes.append(magic)
        bytes.append(kind.rawValue)
        bytes.append(0)
        bytes.append(0)
        bytes.appendLittleEndian(UInt32(0))  // The payload length, filled in by `finish`.
        return start
    }

    /// Writes the payload length of the frame begun at `start`, now that the payload follows it.
    ///
    /// - Throws: ``WireError`` when the payload is larger than ``maximumPayload``.
    package static func finish(at start: Int, in bytes: inout [UInt8], attachments: Int = 0) throws(WireError) {
        let length = bytes.count - start - headerSize
        guard length <= maximumPayload else {
            throw WireError("a message of \(length) bytes is over the limit of \(maximumPayload) bytes")
        }
        guard attachments >= 0, attachments <= maximumAttachments else {
            throw WireError("a message with \(attachments) shared segments is over the limit of \(maximumAttachments)")
        }
        bytes.storeLittleEndian(UInt32(length), at: start + 4)
        bytes[start + 2] = UInt8(attachments)
    }

    /// Reads a frame header: the kind, the payload length and the number of attached segments.
    ///
    /// - Throws: ``WireError`` for a wrong magic byte, an unknown kind, a non-zero reserved byte, a
    ///   length over ``maximumPayload`` or more than ``maximumAttachments`` attachments.
    package static func parseHeader(
        _ header: UnsafeRawBufferPointer
    ) throws(WireError) -> (kind: MessageKind, length: Int, attachments: Int) {
        precondition(header.count >= headerSize)
        guard header[0] == magic else {
            throw WireError("corrupt frame: its first byte is \(header[0]), not the frame marker \(magic)")
        }
        guard let kind = MessageKind(rawValue: header[1]) else {
            throw WireError("corrupt frame: unknown message kind \(header[1])")
        }
        guard header[3] == 0 else { throw WireError("corrupt frame: the reserved byte is not zero") }
        let attachments = Int(header[2])
        guard attachments <= maximumAttachments else {
            throw WireError("corrupt frame: \(attachments) shared segments, over the limit of \(maximumAttachments)")
        }
        let length = Int(UInt32(littleEndian: header.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
        guard length <= maximumPayload else {
            throw WireError("corrupt frame: a payload of \(length) bytes is over the limit of \(maximumPayload)")
        }
        return (kind, length, attachments)
    }
}

extension Array where Element == UInt8 {
    /// Appends `value` in little-endian byte order.
    @inlinable
    package mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        var littleEndian = value.littleEndian
        Swift.withUnsafeBytes(of: &littleEndian) { append(contentsOf: $0) }
    }

    /// Overwrites the four bytes at `offset` with `value` in little-endian byte order: how a length
    /// or sequence number is filled in once known.
    package mutating func storeLittleEndian(_ value: UInt32, at offset: Int) {
        precondition(offset >= 0 && offset <= count - 4, "storeLittleEndian past the end of the bytes")
        withUnsafeMutableBytes { $0.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt32.self) }
    }

    /// Appends a length-prefixed run of bytes: a 32-bit little-endian count, then the bytes.
    package mutating func appendBlob(_ blob: UnsafeRawBufferPointer) {
        appendLittleEndian(UInt32(truncatingIfNeeded: blob.count))
        append(contentsOf: blob)
    }

    /// Appends a length-prefixed UTF-8 string.
    package mutating func appendBlob(_ string: String) {
        var string = string
        string.withUTF8 { appendBlob(UnsafeRawBufferPointer($0)) }
    }
}
