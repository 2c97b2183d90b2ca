/// The state of one ``WireDecoder/decode(_:from:)`` call: the bytes, the key table, the depth and path.
///
/// Positions are byte offsets from `base`. Every value is read within an explicit end offset (its
/// container's, or its own), so a length field can never send a read outside the value it belongs to.
final class WireDecoding {
    /// What is known about one depth of the current path.
    struct Level {
        /// The key of the value at this depth; `nil` for the top level and for delegated values.
        var key: (any CodingKey)?
        /// The first field offset of the keyed container at this depth that last read a field.
        var hintOwner = -1
        /// Where that container expects its next field: in-order reads cost one key compare.
        ///
        /// Only a hint: a container whose first field offset is not `hintOwner` ignores it.
        var hintCursor = 0
    }

    /// The start of the message.
    let base: UnsafeRawPointer
    /// The key table, by index.
    let keys: [String]
    // The mutable properties are `@exclusivity(unchecked)`: one decode call owns this object and never
    // overlaps two accesses to a property, and the run-time checks are a large share of small decodes.

    /// The nesting depth of the value whose `init(from:)` is running.
    @exclusivity(unchecked) var depth = 0
    /// The current path, by depth; `levels[0]` is unused, as the top-level value is at depth 1.
    @exclusivity(unchecked) var levels: [Level] = []
    /// The last two types asked about, with their fast path if any: see ``fastDecodable(_:)``.
    @exclusivity(unchecked) private var recentTypes: (ObjectIdentifier?, ObjectIdentifier?) = (nil, nil)
    @exclusivity(unchecked) private var recentFastPaths:
        ((any WireFastDecodable.Type)?, (any WireFastDecodable.Type)?) = (nil, nil)

    private init(base: UnsafeRawPointer, keys: [String]) {
        self.base = base
        self.keys = keys
        levels.reserveCapacity(8)
    }

    /// Reads a message's trailer and key table.
    ///
    /// - Returns: The decoding state and the end offset of the message's one value.
    static func open(_ bytes: UnsafeRawBufferPointer) throws(WireFailure) -> (WireDecoding, bodyEnd: Int) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { throw .corrupted("the input is empty") }
        // The trailer: the key table's length as a varint, its bytes stored back to front.
        var tableLength: UInt64 = 0
        var offset = bytes.count
        var shift: UInt64 = 0
        while true {
            guard offset > 0, shift < 63 else { throw .corrupted("the trailer is malformed") }
            offset -= 1
            let byte = bytes[offset]
            tableLength |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { break }
            shift += 7
        }
        guard tableLength <= UInt64(offset) else {
            throw .corrupted("the key table's length \(tableLength) exceeds the message")
        }
        let tableEnd = offset
        let bodyEnd = offset - Int(tableLength)
        guard bodyEnd > 0 else { throw .corrupted("the message holds no value") }
        var keys: [String] = []
        if tableLength > 0 {
            let reader = WireDecoding(base: base, keys: [])
            var position = bodyEnd
            let count = try reader.readCount(&position, end: tableEnd, what: "key count")
            keys.reserveCapacity(count)
            for _ in 0..<count {
                let length = try reader.readCount(&position, end: tableEnd, what: "key length")
                keys.append(try reader.string(at: position, count: length))
                position += length
            }
            guard position == tableEnd else {
                throw .corrupted("\(tableEnd - position) unexpected bytes follow the key table")
            }
        }
        return (WireDecoding(base: base, keys: keys), bodyEnd)
    }

    /// Decodes the value in `start..<end` as a `T`, by a fast path for standard types or else `T(from:)`.
    ///
    /// - Parameters:
    ///   - depth: The depth of the value: one more than that of its container.
    ///   - key: The value's key in its container, for coding paths.
    func decode<T: Decodable>(
        _ type: T.Type,
        start: Int,
        end: Int,
        depth: Int,
        key: (any CodingKey)?
    ) throws -> T {
        var position = start
        // Each leaf type returns directly: a helper returning `T?` would look up `Optional<T>`'s
        // metadata at run time on every call.
        do throws(WireFailure) {
            if T.self == String.self {
                return unsafeBitCast(try readString(&position, end: end), to: T.self)
            } else if T.self == Int.self {
                return unsafeBitCast(try readInteger(Int.self, &position, end: end), to: T.self)
            } else if T.self == Double.self {
                return unsafeBitCast(try readDouble(&position, end: end), to: T.self)
            } else if T.self == Bool.self {
                return unsafeBitCast(try readBool(&position, end: end), to: T.self)
            } else if T.self == Int64.self {
                return unsafeBitCast(try readInteger(Int64.self, &position, end: end), to: T.self)
            } else if T.self == UInt64.self {
                return unsafeBitCast(try readInteger(UInt64.self, &position, end: end), to: T.self)
            } else if T.self == UInt.self {
                return unsafeBitCast(try readInteger(UInt.self, &position, end: end), to: T.self)
            } else if T.self == Int32.self {
                return unsafeBitCast(try readInteger(Int32.self, &position, end: end), to: T.self)
            } else if T.self == UInt32.self {
                return unsafeBitCast(try readInteger(UInt32.self, &position, end: end), to: T.self)
            } else if T.self == Int16.self {
                return unsafeBitCast(try readInteger(Int16.self, &position, end: end), to: T.self)
            } else if T.self == UInt16.self {
                return unsafeBitCast(try readInteger(UInt16.self, &position, end: end), to: T.self)
            } else if T.self == Int8.self {
                return unsafeBitCast(try readInteger(Int8.self, &position, end: end), to: T.self)
            } else if T.self == UInt8.self {
                return unsafeBitCast(try readInteger(UInt8.self, &position, end: end), to: T.self)
            } else if T.self == Float.self {
                return unsafeBitCast(try readFloat(&position, end: end), to: T.self)
            }
        } catch {
            throw error.decodingError(at: codingPath(depth: depth - 1, appending: key))
        }
        if let fast = fastDecodable(T.self) {
            return try fast.wireDecode(T.self, from: self, start: start, end: end, depth: depth, key: key)
        }
        return try decodeComposite(T.self, start: start, end: end, depth: depth, key: key)
    }

    /// `T`'s fast path, if it has one; the last two answers are remembered, as in `WireEncoding`.
    private func fastDecodable<T>(_ type: T.Type) -> (any WireFastDecodable.Type)? {
        let id = ObjectIdentifier(T.self)
        if recentTypes.0 == id { return recentFastPaths.0 }
        if recentTypes.1 == id { return recentFastPaths.1 }
        let fast = T.self as? any WireFastDecodable.Type
        recentTypes = (id, recentTypes.0)
        recentFastPaths = (fast, recentFastPaths.0)
        return fast
    }

    /// Decodes a value by its own `init(from:)`, one level deeper.
    func decodeComposite<T: Decodable>(
        _ type: T.Type,
        start: Int,
        end: Int,
        depth: Int,
        key: (any CodingKey)?
    ) throws -> T {
        guard depth <= wireMaximumDepth else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: codingPath(depth: depth - 1, appending: key),
                    debugDescription: "values nest deeper than \(wireMaximumDepth) levels"
                )
            )
        }
        enterLevel(depth, key: key)
        let outerDepth = self.depth
        self.depth = depth
        defer { self.depth = outerDepth }
        return try T(from: WireValueDecoder(decoding: self, start: start, end: end))
    }

    /// The coding path down to depth `depth`, plus `key` if given.
    func codingPath(depth: Int, appending key: (any CodingKey)? = nil) -> [any CodingKey] {
        var result = levels.prefix(max(0, min(depth + 1, levels.count))).compactMap(\.key)
        if let key { result.append(key) }
        return result
    }

    /// Records the key of a nested container at depth `depth`, for the coding paths beneath it.
    func enterNestedContainer(depth: Int, key: any CodingKey) throws(WireFailure) {
        guard depth <= wireMaximumDepth else {
            throw .corrupted("containers nest deeper than \(wireMaximumDepth) levels")
        }
        enterLevel(depth, key: key)
    }

    /// Creates levels through `depth`, for a keyed container's hint.
    func ensureLevels(through depth: Int) {
        while levels.count <= depth { levels.append(Level()) }
    }

    /// Records `key` as the key at `depth`, creating levels as needed.
    @inline(__always)
    private func enterLevel(_ depth: Int, key: (any CodingKey)?) {
        if depth < levels.count {
            levels[depth].key = key
        } else {
            while levels.count < depth { levels.append(Level()) }
            levels.append(Level(key: key))
        }
    }
}
