/// An unkeyed container: elements follow one another; the count is filled in when it closes.
struct WireUnkeyedEncodingContainer: UnkeyedEncodingContainer, WireScalarEncoding {
    let encoding: WireEncoding
    let depth: Int
    let id: Int

    var codingPath: [any CodingKey] { encoding.codingPath(depth: depth) }
    var count: Int { encoding.elementCount(depth: depth, id: id) }

    func beginScalar() throws { try begin() }

    /// Makes this container writable and counts one more element.
    @inline(__always)
    @discardableResult
    private func begin() throws -> Int {
        guard encoding.prepareWrite(depth: depth, id: id) else { throw encoding.misuseError }
        return encoding.countElement(depth: depth)
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
