/// An unkeyed container: elements follow one another; the count is filled in when it closes.
struct WireUnkeyedEncodingContainer: UnkeyedEncodingContainer {
    let encoding: WireEncoding
    let depth: Int
    let id: Int

    var codingPath: [any CodingKey] { encoding.codingPath(depth: depth) }
    var count: Int { encoding.elementCount(depth: depth, id: id) }

    /// Makes this container writable and counts one more element.
    @inline(__always)
    @discardableResult
    private func begin() throws -> Int {
        guard encoding.prepareWrite(depth: depth, id: id) else { throw encoding.misuseError }
        return encoding.countElement(depth: depth)
    }

    mutating func encodeNil() throws {
        try begin()
        encoding.writeNil()
    }

    mutating func encode(_ value: Bool) throws {
        try begin()
        encoding.writeBool(value)
    }

    mutating func encode(_ value: String) throws {
        try begin()
        encoding.writeString(value)
    }

    mutating func encode(_ value: Double) throws {
        try begin()
        encoding.writeDouble(value)
    }

    mutating func encode(_ value: Float) throws {
        try begin()
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
        try begin()
        encoding.writeInteger(value)
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let index = try begin()
        try encoding.encodeValue(value, key: WireIndexKey(index))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type
    ) -> KeyedEncodingContainer<NestedKey> {
        let frame = nestedFrame(.keyed)
        return KeyedEncodingContainer(
            WireKeyedEncodingContainer<NestedKey>(encoding: encoding, depth: frame.depth, id: frame.id)
        )
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let frame = nestedFrame(.unkeyed)
        return WireUnkeyedEncodingContainer(encoding: encoding, depth: frame.depth, id: frame.id)
    }

    mutating func superEncoder() -> any Encoder {
        let frame = nestedFrame(.none)
        return WireValueEncoder(encoding: encoding, depth: frame.depth, id: frame.id)
    }

    private func nestedFrame(_ kind: WireEncoding.Kind) -> (depth: Int, id: Int) {
        guard let index = try? begin() else { return (0, 0) }
        return encoding.pushNestedFrame(kind, key: WireIndexKey(index))
    }
}
