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
struct WireSingleValueEncodingContainer: SingleValueEncodingContainer, WireScalarEncoding {
    let encoding: WireEncoding
    let depth: Int
    let id: Int

    var codingPath: [any CodingKey] { encoding.codingPath(depth: depth) }

    func beginScalar() throws {
        guard encoding.fillSingleValue(depth: depth, id: id) else { throw encoding.misuseError }
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try beginScalar()
        try encoding.encodeValue(value, key: nil)
    }
}
