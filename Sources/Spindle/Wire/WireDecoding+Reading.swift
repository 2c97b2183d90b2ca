// The byte-level readers. Each takes a position to advance and the offset it must not pass, and
// throws `WireFailure` rather than read past it.
extension WireDecoding {
    /// The byte at `position`, which must be before `end`.
    @inline(__always)
    func byte(at position: Int, end: Int) throws(WireFailure) -> UInt8 {
        guard position < end else { throw .corrupted("the input ends in the middle of a value") }
        return base.load(fromByteOffset: position, as: UInt8.self)
    }

    /// Reads an unsigned LEB128 varint of at most 64 bits.
    @inline(__always)
    func readVarint(_ position: inout Int, end: Int) throws(WireFailure) -> UInt64 {
        let first = try byte(at: position, end: end)
        position += 1
        if first < 0x80 { return UInt64(first) }
        return try readVarintSlowly(first, &position, end: end)
    }

    private func readVarintSlowly(_ first: UInt8, _ position: inout Int, end: Int) throws(WireFailure) -> UInt64 {
        var result = UInt64(first & 0x7F)
        var shift: UInt64 = 7
        while true {
            let next = try byte(at: position, end: end)
            position += 1
            // The tenth byte holds the 64th bit only.
            guard shift < 63 || next <= 1 else { throw .corrupted("a varint overflows 64 bits") }
            result |= UInt64(next & 0x7F) << shift
            if next < 0x80 { return result }
            shift += 7
        }
    }

    /// Reads a varint count of items of `itemSize` bytes each, checked against the bytes left before `end`.
    @inline(__always)
    func readCount(_ position: inout Int, end: Int, itemSize: Int = 1, what: String) throws(WireFailure) -> Int {
        let count = try readVarint(&position, end: end)
        guard count <= UInt64(end - position) / UInt64(itemSize) else {
            throw .corrupted("a \(what) of \(count) exceeds the \(end - position) bytes left")
        }
        return Int(count)
    }

    /// The end offset of the value that starts at `position`. Never recurses: containers carry lengths.
    func valueEnd(at position: Int, end: Int) throws(WireFailure) -> Int {
        var position = position
        let tag = try byte(at: position, end: end)
        position += 1
        switch tag {
        case WireTag.null, WireTag.falseValue, WireTag.trueValue, WireTag.smallInteger..<WireTag.smallString:
            return position
        case WireTag.nestedNull, WireTag.negative, WireTag.unsigned:
            _ = try readVarint(&position, end: end)
            return position
        case WireTag.float32, WireTag.float64:
            let size = tag == WireTag.float32 ? 4 : 8
            guard end - position >= size else { throw .corrupted("the input ends in the middle of a number") }
            return position + size
        case WireTag.string, WireTag.keyed, WireTag.unkeyed:
            let length = try readCount(&position, end: end, what: "length")
            return position + length
        case WireTag.packed:
            let kind = try packedKind(&position, end: end)
            let count = try readCount(&position, end: end, itemSize: kind.width, what: "packed count")
            return position + count * kind.width
        case WireTag.spilled:
            _ = try packedKind(&position, end: end)
            _ = try readVarint(&position, end: end)
            _ = try readVarint(&position, end: end)
            return position
        case WireTag.smallString...UInt8.max:
            let length = Int(tag & 0x3F)
            guard end - position >= length else { throw .corrupted("the input ends in the middle of a string") }
            return position + length
        default:
            throw .corrupted("invalid tag 0x\(String(tag, radix: 16))")
        }
    }

    /// Reads a packed or spilled array's header, from `position` just past its `tag`.
    ///
    /// - Returns: The element kind and count, and the elements' bytes: in the message, or in their
    ///   segment, which the message's ``ReceivedSegments`` keeps mapped.
    func packedElements(
        tag: UInt8,
        _ position: inout Int,
        end: Int
    ) throws(WireFailure) -> (kind: WirePackedKind, count: Int, bytes: UnsafeRawBufferPointer) {
        let kind = try packedKind(&position, end: end)
        if tag == WireTag.spilled {
            let (count, bytes) = try spilledElements(&position, end: end, kind: kind)
            return (kind, count, bytes)
        }
        let count = try readCount(&position, end: end, itemSize: kind.width, what: "packed count")
        let bytes = UnsafeRawBufferPointer(start: base + position, count: count * kind.width)
        position += bytes.count
        return (kind, count, bytes)
    }

    /// Reads a spilled array's count and segment, from `position` just past its kind byte.
    private func spilledElements(
        _ position: inout Int,
        end: Int,
        kind: WirePackedKind
    ) throws(WireFailure) -> (count: Int, bytes: UnsafeRawBufferPointer) {
        let valueOffset = position
        let count = try readVarint(&position, end: end)
        let index = try readVarint(&position, end: end)
        guard count <= UInt64(Int.max / 16) else { throw .corrupted("a spilled array of \(count) elements") }
        guard let segments, index < UInt64(segments.count) else {
            throw .corrupted(
                "a spilled array names attachment \(index), but the message carried \(segments?.count ?? 0)"
            )
        }
        let segment: SharedSegment
        do {
            segment = try segments.segment(at: Int(index), kind: .spill)
        } catch {
            throw .corrupted(error.message)
        }
        let byteCount = Int(count) * kind.width
        guard byteCount <= SpillArea.maximumBytes else {
            throw .corrupted("a spilled array of \(byteCount) bytes is over the limit of \(SpillArea.maximumBytes)")
        }
        // The same value read again (a decoder that asks for a field twice) is fine.
        if let reader = spillReaders[Int(index)], reader != valueOffset {
            throw .corrupted("two spilled arrays name attachment \(index)")
        }
        spillReaders[Int(index)] = valueOffset
        guard let bytes = SpillArea.spilledBytes(in: segment, byteCount: byteCount) else {
            throw .corrupted("a spilled array of \(byteCount) bytes is larger than its segment")
        }
        return (Int(count), bytes)
    }

    /// Reads a packed array's kind byte.
    func packedKind(_ position: inout Int, end: Int) throws(WireFailure) -> WirePackedKind {
        let raw = try byte(at: position, end: end)
        position += 1
        guard let kind = WirePackedKind(rawValue: raw) else {
            throw .corrupted("invalid packed array kind \(raw)")
        }
        return kind
    }

    /// Reads an integer of any encoding as `I`, if it fits.
    @inline(__always)
    func readInteger<I: FixedWidthInteger>(_ type: I.Type, _ position: inout Int, end: Int) throws(WireFailure) -> I {
        let tag = try byte(at: position, end: end)
        position += 1
        if tag & 0xC0 == WireTag.smallInteger { return I(truncatingIfNeeded: tag & 0x3F) }
        switch tag {
        case WireTag.unsigned:
            let magnitude = try readVarint(&position, end: end)
            guard let value = I(exactly: magnitude) else {
                throw .init(kind: .typeMismatch(I.self), message: "\(magnitude) does not fit in \(I.self)")
            }
            return value
        case WireTag.negative:
            let complement = try readVarint(&position, end: end)
            guard complement <= UInt64(Int64.max), let value = I(exactly: ~Int64(complement)) else {
                throw .init(kind: .typeMismatch(I.self), message: "-1 - \(complement) does not fit in \(I.self)")
            }
            return value
        default:
            throw .mismatch(I.self, found: tag)
        }
    }

    /// Reads the integer field of a keyed container at `depth`, whose value is `start..<end`.
    ///
    /// Generic over the integer type only, not over the container's key type, so that each call
    /// site gets a specialized copy.
    func readInteger<I: FixedWidthInteger>(
        _ type: I.Type,
        start: Int,
        end: Int,
        depth: Int,
        key: any CodingKey
    ) throws -> I {
        var position = start
        do throws(WireFailure) {
            return try readInteger(I.self, &position, end: end)
        } catch {
            throw decodingError(error, depth: depth + 1, key: key)
        }
    }

    /// Reads a `Double`; a `Float` widens exactly.
    @inline(__always)
    func readDouble(_ position: inout Int, end: Int) throws(WireFailure) -> Double {
        let tag = try byte(at: position, end: end)
        if tag == WireTag.float64, end - position >= 9 {
            position += 9
            return Double(
                bitPattern: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: position - 8, as: UInt64.self))
            )
        }
        if tag == WireTag.float32 { return Double(try readFloat(&position, end: end)) }
        if tag == WireTag.float64 { throw .corrupted("the input ends in the middle of a number") }
        throw .mismatch(Double.self, found: tag)
    }

    /// Reads a `Float`.
    func readFloat(_ position: inout Int, end: Int) throws(WireFailure) -> Float {
        let tag = try byte(at: position, end: end)
        guard tag == WireTag.float32 else { throw .mismatch(Float.self, found: tag) }
        guard end - position >= 5 else { throw .corrupted("the input ends in the middle of a number") }
        position += 5
        return Float(
            bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: position - 4, as: UInt32.self))
        )
    }

    /// Reads a `Bool`: only the two Bool tags are accepted.
    @inline(__always)
    func readBool(_ position: inout Int, end: Int) throws(WireFailure) -> Bool {
        let tag = try byte(at: position, end: end)
        guard tag == WireTag.trueValue || tag == WireTag.falseValue else { throw .mismatch(Bool.self, found: tag) }
        position += 1
        return tag == WireTag.trueValue
    }

    /// Reads a string, validating its UTF-8.
    func readString(_ position: inout Int, end: Int) throws(WireFailure) -> String {
        let tag = try byte(at: position, end: end)
        position += 1
        let length: Int
        if tag >= WireTag.smallString {
            length = Int(tag & 0x3F)
            guard end - position >= length else { throw .corrupted("the input ends in the middle of a string") }
        } else if tag == WireTag.string {
            length = try readCount(&position, end: end, what: "string length")
        } else {
            throw .mismatch(String.self, found: tag)
        }
        let value = try string(at: position, count: length)
        position += length
        return value
    }

    /// The string of the `count` UTF-8 bytes at `position`, which the caller has bounds-checked.
    func string(at position: Int, count: Int) throws(WireFailure) -> String {
        let utf8 = UnsafeBufferPointer(start: (base + position).assumingMemoryBound(to: UInt8.self), count: count)
        // `String(validating:as:)` is generic over the encoding and looks up metadata on every call.
        // `String(decoding:as:)` is not, and replaces each invalid sequence with U+FFFD, which
        // changes the bytes: so the input was valid exactly when the string's bytes are the input.
        var value = String(decoding: utf8, as: UTF8.self)
        if !Self.isASCII(UnsafeRawBufferPointer(utf8)) {
            guard value.withUTF8({ $0.elementsEqual(utf8) }) else {
                throw .corrupted("a string is not valid UTF-8")
            }
        }
        return value
    }

    /// Whether every byte is below 0x80, checked eight bytes at a time.
    private static func isASCII(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        var bits: UInt64 = 0
        while offset + 8 <= bytes.count {
            bits |= bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            offset += 8
        }
        while offset < bytes.count {
            bits |= UInt64(bytes[offset])
            offset += 1
        }
        return bits & 0x8080_8080_8080_8080 == 0
    }

    /// Whether the value at `position` is a plain `nil`.
    func isNil(at position: Int, end: Int) throws(WireFailure) -> Bool {
        try byte(at: position, end: end) == WireTag.null
    }
}
