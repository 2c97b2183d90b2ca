/// Reads the fields of a message payload in order, checking every read against the bytes left.
///
/// The payload belongs to the caller and must outlive the cursor; blobs it hands out point into it.
package struct ByteCursor {
    private let bytes: UnsafeRawBufferPointer
    private var offset = 0

    package init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// Bytes not yet read.
    package var remaining: Int { bytes.count - offset }

    /// Reads a little-endian integer.
    package mutating func read<T: FixedWidthInteger>(_: T.Type = T.self) throws(WireError) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw WireError("message truncated: \(size) bytes needed, \(remaining) left") }
        let value = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += size
        return T(littleEndian: value)
    }

    /// Reads a length-prefixed run of bytes, without copying.
    package mutating func readBlob() throws(WireError) -> UnsafeRawBufferPointer {
        let count = Int(try read(UInt32.self))
        guard remaining >= count else {
            throw WireError("message truncated: a field of \(count) bytes with \(remaining) left")
        }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + count])
    }

    /// Reads a length-prefixed UTF-8 string.
    package mutating func readString() throws(WireError) -> String {
        let blob = try readBlob()
        guard let string = String(validating: blob, as: UTF8.self) else {
            throw WireError("a text field is not valid UTF-8")
        }
        return string
    }

    /// Everything not yet read, without copying.
    package mutating func readRest() -> UnsafeRawBufferPointer {
        defer { offset = bytes.count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset...])
    }

    /// Checks that every byte was read.
    package func expectEnd() throws(WireError) {
        guard remaining == 0 else { throw WireError("\(remaining) unexpected bytes at the end of a message") }
    }
}
