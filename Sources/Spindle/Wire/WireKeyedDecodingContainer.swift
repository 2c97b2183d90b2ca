/// A keyed container: finds each field by key, checking the field after the last one read first.
///
/// Synthesized `init(from:)` reads fields in the order `encode(to:)` wrote them, so a lookup is
/// usually one key compare. Otherwise the fields are scanned from the start, skipping each value by
/// its length: cost is proportional to the fields the container holds, per lookup that misses.
struct WireKeyedDecodingContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    /// Where one field's value lies.
    struct Field {
        /// The offset of the field's key.
        let fieldStart: Int
        /// The value's bytes.
        let start: Int
        let end: Int
    }

    let decoding: WireDecoding
    /// The offset of the first field.
    let fieldsStart: Int
    /// The offset just past the last field.
    let fieldsEnd: Int
    /// The depth of the value this container holds; its fields' values are one deeper.
    let depth: Int
    /// The decoding state's ``WireDecoding/generation`` when this container was made, checked before
    /// any field is read: by ``locate(_:consume:)``, through which every lookup goes, and ``allKeys``.
    let generation: UInt32

    /// Reads the header of the keyed container that is the value at `start..<end`.
    init(decoding: WireDecoding, start: Int, end: Int, depth: Int) throws {
        self.decoding = decoding
        self.depth = depth
        generation = decoding.generation
        decoding.ensureLevels(through: depth)
        var position = start
        do throws(WireFailure) {
            let tag = try decoding.byte(at: position, end: end)
            guard tag == WireTag.keyed else { throw .mismatch([String: Any].self, found: tag) }
            position += 1
            let length = try decoding.readCount(&position, end: end, what: "container length")
            fieldsStart = position
            fieldsEnd = position + length
        } catch {
            throw error.decodingError(at: decoding.codingPath(depth: depth))
        }
    }

    var codingPath: [any CodingKey] { decoding.codingPath(depth: depth) }

    var allKeys: [Key] {
        guard (try? decoding.ensureCurrent(generation)) != nil else { return [] }
        var keys: [Key] = []
        var position = fieldsStart
        while position < fieldsEnd, let field = try? field(at: position) {
            if let key = Key(stringValue: decoding.keys[field.keyIndex]) { keys.append(key) }
            position = field.value.end
        }
        return keys
    }

    func contains(_ key: Key) -> Bool {
        ((try? locate(key.stringValue, consume: false)) ?? nil) != nil
    }

    /// The field at `position`: its key index and value extent.
    private func field(at position: Int) throws(WireFailure) -> (keyIndex: Int, value: Field) {
        var position = position
        let fieldStart = position
        let index = try decoding.readVarint(&position, end: fieldsEnd)
        guard index < UInt64(decoding.keys.count) else {
            throw .corrupted("key index \(index) is not in the key table")
        }
        let end = try decoding.valueEnd(at: position, end: fieldsEnd)
        return (Int(index), Field(fieldStart: fieldStart, start: position, end: end))
    }

    /// Finds the field named `name`, and moves the hint past it (`consume`) or onto it (for `contains`).
    private func locate(_ name: String, consume: Bool) throws(WireFailure) -> Field? {
        try decoding.ensureCurrent(generation)
        let level = decoding.levels[depth]
        if level.hintOwner == fieldsStart && level.hintCursor < fieldsEnd {
            let candidate = try field(at: level.hintCursor)
            if decoding.keys[candidate.keyIndex] == name {
                decoding.levels[depth].hintCursor = consume ? candidate.value.end : candidate.value.fieldStart
                return candidate.value
            }
        }
        var position = fieldsStart
        while position < fieldsEnd {
            let candidate = try field(at: position)
            if decoding.keys[candidate.keyIndex] == name {
                decoding.levels[depth].hintOwner = fieldsStart
                decoding.levels[depth].hintCursor = consume ? candidate.value.end : candidate.value.fieldStart
                return candidate.value
            }
            position = candidate.value.end
        }
        return nil
    }

    /// The field for `key`, or `keyNotFound`; see ``locate(_:consume:)`` for `consume`.
    private func require(_ key: some CodingKey, consume: Bool = true) throws -> Field {
        let found: Field?
        do throws(WireFailure) {
            found = try locate(key.stringValue, consume: consume)
        } catch {
            throw error.decodingError(at: codingPath + [key])
        }
        guard let found else {
            throw DecodingError.keyNotFound(
                key,
                .init(codingPath: codingPath, debugDescription: "no field for key '\(key.stringValue)'")
            )
        }
        return found
    }

    /// Reads the field for `key` with a byte-level reader.
    @inline(__always)
    private func read<V>(_ key: Key, _ body: (inout Int, Int) throws(WireFailure) -> V) throws -> V {
        let field = try require(key)
        var position = field.start
        do throws(WireFailure) {
            return try body(&position, field.end)
        } catch {
            throw error.decodingError(at: codingPath + [key])
        }
    }

    /// Moves past the field only if it is `nil`: otherwise a `decode` of the same key usually follows.
    func decodeNil(forKey key: Key) throws -> Bool {
        let field = try require(key, consume: false)
        let isNil: Bool
        do throws(WireFailure) {
            isNil = try decoding.isNil(at: field.start, end: field.end)
        } catch {
            throw error.decodingError(at: codingPath + [key])
        }
        if isNil { decoding.levels[depth].hintCursor = field.end }
        return isNil
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool {
        try read(key) { (p, e) throws(WireFailure) in try decoding.readBool(&p, end: e) }
    }

    func decode(_ type: String.Type, forKey key: Key) throws -> String {
        try read(key) { (p, e) throws(WireFailure) in try decoding.readString(&p, end: e) }
    }

    func decode(_ type: Double.Type, forKey key: Key) throws -> Double {
        try read(key) { (p, e) throws(WireFailure) in try decoding.readDouble(&p, end: e) }
    }

    func decode(_ type: Float.Type, forKey key: Key) throws -> Float {
        try read(key) { (p, e) throws(WireFailure) in try decoding.readFloat(&p, end: e) }
    }

    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try integer(forKey: key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try integer(forKey: key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try integer(forKey: key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try integer(forKey: key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try integer(forKey: key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try integer(forKey: key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try integer(forKey: key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try integer(forKey: key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try integer(forKey: key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try integer(forKey: key) }
    /// Inlined into each `decode`, so that every integer type gets a reader of its own: a shared
    /// generic one looks up `I`'s metadata at run time, on every field.
    @inline(__always)
    private func integer<I: FixedWidthInteger>(forKey key: Key) throws -> I {
        let field = try require(key)
        return try decoding.readInteger(I.self, start: field.start, end: field.end, depth: depth, key: key)
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        let field = try require(key)
        return try decoding.decode(T.self, start: field.start, end: field.end, depth: depth + 1, key: key)
    }

    /// One lookup instead of the default's three (`contains`, `decodeNil`, `decode`).
    ///
    /// A present `nil` decodes as `.some(nil)` when `T` is itself optional, so a synthesized
    /// `Int??` property round-trips; otherwise as `nil`.
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        let field: Field?
        do throws(WireFailure) {
            field = try locate(key.stringValue, consume: true)
            if let field, try decoding.isNil(at: field.start, end: field.end), !(T.self is any WireOptional.Type) {
                return nil
            }
        } catch {
            throw error.decodingError(at: codingPath + [key])
        }
        guard let field else { return nil }
        return try decoding.decode(T.self, start: field.start, end: field.end, depth: depth + 1, key: key)
    }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type,
        forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        let field = try require(key)
        try enterNested(key)
        return KeyedDecodingContainer(
            try WireKeyedDecodingContainer<NestedKey>(
                decoding: decoding,
                start: field.start,
                end: field.end,
                depth: depth + 1
            )
        )
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        let field = try require(key)
        try enterNested(key)
        return try WireUnkeyedDecodingContainer(
            decoding: decoding,
            start: field.start,
            end: field.end,
            depth: depth + 1
        )
    }

    private func enterNested(_ key: some CodingKey) throws {
        do throws(WireFailure) {
            try decoding.enterNestedContainer(depth: depth + 1, key: key)
        } catch {
            throw error.decodingError(at: codingPath + [key])
        }
    }

    func superDecoder() throws -> any Decoder {
        try superDecoder(key: WireSuperKey())
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        try superDecoder(key: key)
    }

    /// A decoder for the field, one level deeper than this container.
    private func superDecoder(key: some CodingKey) throws -> any Decoder {
        let field = try require(key)
        try enterNested(key)
        return WireValueDecoder(decoding: decoding, start: field.start, end: field.end, depth: depth + 1)
    }
}
