internal import Glibc

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
    @exclusivity(unchecked) private(set) var base: UnsafeRawPointer
    // The mutable properties are `@exclusivity(unchecked)`: one decode call owns this object and never
    // overlaps two accesses to a property, and the run-time checks are a large share of small decodes.

    /// The key table, by index; read by ``open(_:)`` right after the object is made.
    @exclusivity(unchecked) private(set) var keys: [String] = []
    /// The nesting depth of the value whose `init(from:)` is running.
    @exclusivity(unchecked) var depth = 0
    /// The current path, by depth; `levels[0]` is unused, as the top-level value is at depth 1.
    @exclusivity(unchecked) var levels: [Level] = []
    /// The shared segments that came with the message, which its handles name by index.
    @exclusivity(unchecked) var segments: ReceivedSegments?
    /// Which array value (by its offset) each spilled attachment was read for: a sender spills
    /// each array into a segment of its own, and a message that named one segment for many arrays
    /// could make its receiver allocate many times the memory it was sent.
    @exclusivity(unchecked) var spillReaders: [Int: Int] = [:]
    /// The fast paths of the last two types asked about: see ``fastDecodable(_:)``.
    @exclusivity(unchecked) private var recentFastPaths = WireRecentTypes<any WireFastDecodable.Type>()

    /// Which message this state is decoding, counted per state: a decoder or container made for an
    /// earlier message must not read, as its message's bytes are gone. See ``ensureCurrent(_:)``.
    @exclusivity(unchecked) private(set) var generation: UInt32 = 0

    /// The bytes of the key table that ``keys`` was read from, when short: messages of one type
    /// repeat their table, which is then not read again.
    @exclusivity(unchecked) private var keyTableBytes: [UInt8] = []

    private init(base: UnsafeRawPointer) {
        self.base = base
    }

    /// The calling thread's spare decoding state: see ``giveBack()``.
    private static let spare = ThreadSpare<WireDecoding>()

    /// Resets this state and keeps it as the calling thread's spare for the next message, with its
    /// levels' capacity, its last key table and its cache of fast paths; unless it grew large.
    ///
    /// The message's segments are let go of here: that is when its spilled arrays count as read.
    func giveBack() {
        // Whatever decoders and containers this message handed out are stale from now on.
        generation &+= 1
        segments = nil
        guard levels.capacity <= 64 else { return }
        levels.removeAll(keepingCapacity: true)
        depth = 0
        Self.spare.giveBack(self)
    }

    /// Whether `table` holds the same bytes as the key table last read.
    private func isLastKeyTable(_ table: UnsafeRawBufferPointer) -> Bool {
        guard table.count == keyTableBytes.count, let start = table.baseAddress else { return false }
        return keyTableBytes.withUnsafeBytes { memcmp($0.baseAddress!, start, table.count) == 0 }
    }

    /// Reads a message's trailer and key table.
    ///
    /// - Returns: The decoding state and the end offset of the message's one value.
    static func open(_ bytes: UnsafeRawBufferPointer) throws(WireFailure) -> (WireDecoding, bodyEnd: Int) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { throw .corrupted("the input is empty") }
        // Decoders keep offsets in 32 bits, to stay small enough to pass without an allocation.
        guard bytes.count <= Int(UInt32.max) else { throw .corrupted("a message of 4 GiB or more") }
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
        let decoding = spare.take() ?? WireDecoding(base: base)
        decoding.base = base
        if !decoding.spillReaders.isEmpty { decoding.spillReaders.removeAll(keepingCapacity: true) }
        let table = UnsafeRawBufferPointer(start: base + bodyEnd, count: Int(tableLength))
        if tableLength == 0 {
            decoding.keys = []
            decoding.keyTableBytes = []
        } else if !decoding.isLastKeyTable(table) {
            // The keys and the bytes they were read from are replaced together, once read whole.
            var position = bodyEnd
            let count = try decoding.readCount(&position, end: tableEnd, what: "key count")
            var keys: [String] = []
            keys.reserveCapacity(count)
            for _ in 0..<count {
                let length = try decoding.readCount(&position, end: tableEnd, what: "key length")
                keys.append(try decoding.string(at: position, count: length))
                position += length
            }
            guard position == tableEnd else {
                throw .corrupted("\(tableEnd - position) unexpected bytes follow the key table")
            }
            decoding.keys = keys
            decoding.keyTableBytes = table.count <= 256 ? Array(table) : []
        }
        return (decoding, bodyEnd)
    }

    /// Throws unless `generation` is this message's: a type that kept its `Decoder`, or a
    /// container, past its own `init(from:)` and uses it once its message is decoded would read
    /// bytes that are gone (freed, or another message's).
    @inline(__always)
    func ensureCurrent(_ generation: UInt32) throws(WireFailure) {
        guard generation == self.generation else { throw Self.staleUse }
    }

    static let staleUse = WireFailure.corrupted(
        "a decoder or container was used after its message was decoded: keep the values it decoded, not it"
    )

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
            throw decodingError(error, depth: depth, key: key)
        }
        if let fast = fastDecodable(T.self) {
            return try fast.wireDecode(T.self, from: self, start: start, end: end, depth: depth, key: key)
        }
        return try decodeComposite(T.self, start: start, end: end, depth: depth, key: key)
    }

    /// `T`'s fast path, if it has one; the last two answers are remembered, as in `WireEncoding`.
    private func fastDecodable<T>(_ type: T.Type) -> (any WireFastDecodable.Type)? {
        recentFastPaths.answer(for: T.self) { T.self as? any WireFastDecodable.Type }
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

    /// `failure`, found reading the value at `depth` whose key is `key`, as a `DecodingError` at its path.
    ///
    /// - Parameter index: The index of the element being read, when the failure is in one of the
    ///   value's elements rather than in the value itself.
    func decodingError(
        _ failure: WireFailure,
        depth: Int,
        key: (any CodingKey)?,
        index: Int? = nil
    ) -> DecodingError {
        var path = codingPath(depth: depth - 1, appending: key)
        if let index { path.append(WireIndexKey(index)) }
        return failure.decodingError(at: path)
    }

    /// Records the key of a nested container at depth `depth`, for the coding paths beneath it.
    ///
    /// - Parameter key: The container's key in its parent; `nil` for the top-level value and for
    ///   delegated values, which add nothing to the path.
    func enterNestedContainer(depth: Int, key: (any CodingKey)?) throws(WireFailure) {
        guard depth <= wireMaximumDepth else {
            throw .corrupted("containers nest deeper than \(wireMaximumDepth) levels")
        }
        enterLevel(depth, key: key)
    }

    /// Creates levels through `depth`, for a keyed container's hint.
    @inline(__always)
    func ensureLevels(through depth: Int) {
        if levels.count <= depth { addLevels(through: depth) }
    }

    private func addLevels(through depth: Int) {
        // Most messages nest a few levels; one allocation covers them.
        if levels.isEmpty { levels.reserveCapacity(max(8, depth + 1)) }
        while levels.count <= depth { levels.append(Level()) }
    }

    /// Records `key` as the key at `depth`, creating levels as needed.
    @inline(__always)
    private func enterLevel(_ depth: Int, key: (any CodingKey)?) {
        ensureLevels(through: depth)
        levels[depth].key = key
    }
}
