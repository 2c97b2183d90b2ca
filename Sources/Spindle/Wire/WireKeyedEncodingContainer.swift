/// A keyed container: each `encode` appends the key's index in the key table, then the value.
struct WireKeyedEncodingContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let encoding: WireEncoding
    let depth: Int
    let id: Int

    var codingPath: [any CodingKey] { encoding.codingPath(depth: depth) }

    /// Makes this container writable and appends `key`.
    @inline(__always)
    private func begin(_ key: Key) throws {
        guard encoding.prepareWrite(depth: depth, id: id) else { throw encoding.misuseError }
        encoding.writeKey(key.stringValue)
    }

    mutating func encodeNil(forKey key: Key) throws {
        try begin(key)
        encoding.writeNil()
    }

    mutating func encode(_ value: Bool, forKey key: Key) throws {
        try begin(key)
        encoding.writeBool(value)
    }

    mutating func encode(_ value: String, forKey key: Key) throws {
        try begin(key)
        encoding.writeString(value)
    }

    mutating func encode(_ value: Double, forKey key: Key) throws {
        try begin(key)
        encoding.writeDouble(value)
    }

    mutating func encode(_ value: Float, forKey key: Key) throws {
        try begin(key)
        encoding.writeFloat(value)
    }

    mutating func encode(_ value: Int, forKey key: Key) throws { try encodeInteger(value, forKey: key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try encodeInteger(value, forKey: key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try encodeInteger(value, forKey: key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try encodeInteger(value, forKey: key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try encodeInteger(value, forKey: key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try encodeInteger(value, forKey: key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try encodeInteger(value, forKey: key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try encodeInteger(value, forKey: key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try encodeInteger(value, forKey: key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try encodeInteger(value, forKey: key) }

    /// Appends `key` and an integer of any width.
    @inline(__always)
    private func encodeInteger<I: FixedWidthInteger>(_ value: I, forKey key: Key) throws {
        try begin(key)
        encoding.writeInteger(value)
    }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try begin(key)
        try encoding.encodeValue(value, key: key)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type,
        forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        let frame = nestedFrame(.keyed, key)
        return KeyedEncodingContainer(
            WireKeyedEncodingContainer<NestedKey>(encoding: encoding, depth: frame.depth, id: frame.id)
        )
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let frame = nestedFrame(.unkeyed, key)
        return WireUnkeyedEncodingContainer(encoding: encoding, depth: frame.depth, id: frame.id)
    }

    mutating func superEncoder() -> any Encoder {
        superEncoder(key: WireSuperKey(), name: "super")
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        superEncoder(key: key, name: key.stringValue)
    }

    private func superEncoder(key: any CodingKey, name: String) -> any Encoder {
        guard encoding.prepareWrite(depth: depth, id: id) else {
            return WireValueEncoder(encoding: encoding, depth: 0, id: 0)
        }
        encoding.writeKey(name)
        let frame = encoding.pushNestedFrame(.none, key: key)
        return WireValueEncoder(encoding: encoding, depth: frame.depth, id: frame.id)
    }

    private func nestedFrame(_ kind: WireEncoding.Kind, _ key: Key) -> (depth: Int, id: Int) {
        guard encoding.prepareWrite(depth: depth, id: id) else { return (0, 0) }
        encoding.writeKey(key.stringValue)
        return encoding.pushNestedFrame(kind, key: key)
    }
}
