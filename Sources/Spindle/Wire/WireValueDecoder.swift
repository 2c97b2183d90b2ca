/// The `Decoder` handed to a type's `init(from:)`: the bytes of one value, `start..<end`.
///
/// Three words, so passing it as `any Decoder` needs no allocation. Its depth is the decoding
/// state's current depth, which is this value's while its `init(from:)` runs.
struct WireValueDecoder: Decoder {
    let decoding: WireDecoding
    let start: Int
    let end: Int

    var codingPath: [any CodingKey] { decoding.codingPath(depth: decoding.depth) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(
            try WireKeyedDecodingContainer<Key>(decoding: decoding, start: start, end: end, depth: decoding.depth)
        )
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try WireUnkeyedDecodingContainer(decoding: decoding, start: start, end: end, depth: decoding.depth)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        WireSingleValueDecodingContainer(decoding: decoding, start: start, end: end)
    }
}

/// A single value container: the whole value, read as whatever type is asked for.
struct WireSingleValueDecodingContainer: SingleValueDecodingContainer {
    let decoding: WireDecoding
    let start: Int
    let end: Int

    var codingPath: [any CodingKey] { decoding.codingPath(depth: decoding.depth) }

    func decodeNil() -> Bool {
        (try? decoding.isNil(at: start, end: end)) ?? false
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
        // Delegation, as by a wrapper type: the value is one level deeper, with no key of its own.
        try decoding.decode(T.self, start: start, end: end, depth: decoding.depth + 1, key: nil)
    }

    @inline(__always)
    private func readInteger<I: FixedWidthInteger>() throws -> I {
        try read { (p, e) throws(WireFailure) in try decoding.readInteger(I.self, &p, end: e) }
    }

    private func read<V>(_ body: (inout Int, Int) throws(WireFailure) -> V) throws -> V {
        var position = start
        do throws(WireFailure) {
            return try body(&position, end)
        } catch {
            throw error.decodingError(at: codingPath)
        }
    }
}

/// The `Decoder` that `superDecoder()` returns: like ``WireValueDecoder``, with its depth carried along.
///
/// A superclass's `init(from:)` runs while the subclass's value is the current one, so the decoding
/// state's depth is not this value's.
struct WireSuperDecoder: Decoder {
    let decoding: WireDecoding
    let start: Int
    let end: Int
    let depth: Int

    var codingPath: [any CodingKey] { decoding.codingPath(depth: depth) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(
            try WireKeyedDecodingContainer<Key>(decoding: decoding, start: start, end: end, depth: depth)
        )
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try WireUnkeyedDecodingContainer(decoding: decoding, start: start, end: end, depth: depth)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        WireSingleValueDecodingContainer(decoding: decoding, start: start, end: end)
    }
}
