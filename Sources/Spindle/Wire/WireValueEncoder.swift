/// The `Encoder` handed to a value's `encode(to:)`: one frame of a ``WireEncoding``.
///
/// Three words, so passing it as `any Encoder` needs no allocation.
struct WireValueEncoder: Encoder {
    let encoding: WireEncoding
    let depth: Int
    let id: Int

    var codingPath: [any CodingKey] { encoding.codingPath(depth: depth) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let usable = encoding.useFrame(depth: depth, id: id, as: .keyed)
        return KeyedEncodingContainer(
            WireKeyedEncodingContainer<Key>(encoding: encoding, depth: depth, id: usable ? id : 0)
        )
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let usable = encoding.useFrame(depth: depth, id: id, as: .unkeyed)
        return WireUnkeyedEncodingContainer(encoding: encoding, depth: depth, id: usable ? id : 0)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        let usable = encoding.useFrame(depth: depth, id: id, as: .singleValue)
        return WireSingleValueEncodingContainer(encoding: encoding, depth: depth, id: usable ? id : 0)
    }
}

/// A single value container: the frame's value is whatever one `encode` call writes.
struct WireSingleValueEncodingContainer: SingleValueEncodingContainer {
    let encoding: WireEncoding
    let depth: Int
    let id: Int

    var codingPath: [any CodingKey] { encoding.codingPath(depth: depth) }

    private func fill() throws {
        guard encoding.fillSingleValue(depth: depth, id: id) else { throw encoding.misuseError }
    }

    mutating func encodeNil() throws {
        try fill()
        encoding.writeNil()
    }

    mutating func encode(_ value: Bool) throws {
        try fill()
        encoding.writeBool(value)
    }

    mutating func encode(_ value: String) throws {
        try fill()
        encoding.writeString(value)
    }

    mutating func encode(_ value: Double) throws {
        try fill()
        encoding.writeDouble(value)
    }

    mutating func encode(_ value: Float) throws {
        try fill()
        encoding.writeFloat(value)
    }

    mutating func encode(_ value: Int) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int8) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int16) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int32) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int64) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt8) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt16) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt32) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt64) throws { try encodeInteger(value) }

    private func encodeInteger<I: FixedWidthInteger>(_ value: I) throws {
        try fill()
        encoding.writeInteger(value)
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try fill()
        try encoding.encodeValue(value, key: nil)
    }
}
