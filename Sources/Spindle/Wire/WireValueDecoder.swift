/// The `Decoder` handed to a type's `init(from:)`: the bytes of one value, `start..<end`; also
/// the one `superDecoder()` returns.
///
/// Three words (offsets and depth in 32 bits), so passing it as `any Decoder` needs no allocation.
struct WireValueDecoder: Decoder {
    let decoding: WireDecoding
    private let extent: WireExtent
    /// The value's depth, given for a super-decoder: a superclass's `init(from:)` runs while the
    /// subclass's value is the current one. `-1` for a value whose own `init(from:)` runs, which
    /// is at the decoding state's current depth.
    private let givenDepth: Int32

    /// A decoder for the value at `start..<end`, at `depth` if given, else the current depth.
    init(decoding: WireDecoding, start: Int, end: Int, depth: Int? = nil) {
        self.decoding = decoding
        extent = WireExtent(decoding: decoding, start: start, end: end)
        givenDepth = depth.map { Int32($0) } ?? -1
    }

    private var depth: Int { givenDepth >= 0 ? Int(givenDepth) : decoding.depth }

    var codingPath: [any CodingKey] { decoding.codingPath(depth: depth) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        try extent.ensureCurrent(in: decoding)
        return KeyedDecodingContainer(
            try WireKeyedDecodingContainer<Key>(decoding: decoding, start: extent.start, end: extent.end, depth: depth)
        )
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try extent.ensureCurrent(in: decoding)
        return try WireUnkeyedDecodingContainer(decoding: decoding, start: extent.start, end: extent.end, depth: depth)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        try extent.ensureCurrent(in: decoding)
        return WireSingleValueDecodingContainer(decoding: decoding, start: extent.start, end: extent.end)
    }
}

/// Where a value lies in its message, and which message that is: what a decoder or container
/// needs to read it, in two words.
struct WireExtent {
    private let startOffset: UInt32
    private let endOffset: UInt32
    /// The decoding state's ``WireDecoding/generation`` when the value was current.
    let generation: UInt32

    /// The value at `start..<end` of the message `decoding` decodes now (under 4 GiB).
    init(decoding: WireDecoding, start: Int, end: Int) {
        startOffset = UInt32(truncatingIfNeeded: start)
        endOffset = UInt32(truncatingIfNeeded: end)
        generation = decoding.generation
    }

    var start: Int { Int(startOffset) }
    var end: Int { Int(endOffset) }

    /// Throws a `DecodingError` unless the message is still the one `decoding` decodes.
    @inline(__always)
    func ensureCurrent(in decoding: WireDecoding) throws {
        do throws(WireFailure) {
            try decoding.ensureCurrent(generation)
        } catch {
            throw error.decodingError(at: [])
        }
    }
}

/// A single value container: the whole value, read as whatever type is asked for.
struct WireSingleValueDecodingContainer: SingleValueDecodingContainer {
    let decoding: WireDecoding
    private let extent: WireExtent

    init(decoding: WireDecoding, start: Int, end: Int) {
        self.decoding = decoding
        extent = WireExtent(decoding: decoding, start: start, end: end)
    }

    var codingPath: [any CodingKey] { decoding.codingPath(depth: decoding.depth) }

    func decodeNil() -> Bool {
        guard (try? extent.ensureCurrent(in: decoding)) != nil else { return false }
        return (try? decoding.isNil(at: extent.start, end: extent.end)) ?? false
    }

    func decode(_ type: Bool.Type) throws -> Bool {
        try read { (p, e) throws(WireFailure) in try decoding.readBool(&p, end: e) }
    }

    func decode(_ type: String.Type) throws -> String {
        try read { (p, e) throws(WireFailure) in try decoding.readString(&p, end: e) }
    }

    func decode(_ type: Double.Type) throws -> Double {
        try read { (p, e) throws(WireFailure) in try decoding.readDouble(&p, end: e) }
    }

    func decode(_ type: Float.Type) throws -> Float {
        try read { (p, e) throws(WireFailure) in try decoding.readFloat(&p, end: e) }
    }

    func decode(_ type: Int.Type) throws -> Int { try readInteger() }
    func decode(_ type: Int8.Type) throws -> Int8 { try readInteger() }
    func decode(_ type: Int16.Type) throws -> Int16 { try readInteger() }
    func decode(_ type: Int32.Type) throws -> Int32 { try readInteger() }
    func decode(_ type: Int64.Type) throws -> Int64 { try readInteger() }
    func decode(_ type: UInt.Type) throws -> UInt { try readInteger() }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try readInteger() }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try readInteger() }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try readInteger() }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try readInteger() }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try extent.ensureCurrent(in: decoding)
        // Delegation, as by a wrapper type: the value is one level deeper, with no key of its own.
        return try decoding.decode(T.self, start: extent.start, end: extent.end, depth: decoding.depth + 1, key: nil)
    }

    @inline(__always)
    private func readInteger<I: FixedWidthInteger>() throws -> I {
        try read { (p, e) throws(WireFailure) in try decoding.readInteger(I.self, &p, end: e) }
    }

    private func read<V>(_ body: (inout Int, Int) throws(WireFailure) -> V) throws -> V {
        var position = extent.start
        do throws(WireFailure) {
            try decoding.ensureCurrent(extent.generation)
            return try body(&position, extent.end)
        } catch {
            throw error.decodingError(at: codingPath)
        }
    }
}
