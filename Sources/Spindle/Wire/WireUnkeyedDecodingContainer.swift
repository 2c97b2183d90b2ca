/// An unkeyed container: the elements of an unkeyed container or of a packed array, in order.
///
/// A packed array's elements can be read one at a time too, so a type that encodes `[Double]` and
/// decodes its elements one by one (or the reverse) still works.
struct WireUnkeyedDecodingContainer: UnkeyedDecodingContainer {
    let decoding: WireDecoding
    /// The depth of the value this container holds; its elements are one deeper.
    let depth: Int
    /// The offset just past the last element.
    let end: Int
    /// The element type, if this is a packed array.
    let packedKind: WirePackedKind?
    /// A packed array's elements: in the message, or in a spilled array's segment. Its element
    /// offsets count from their start.
    private let packedBase: UnsafeRawPointer
    /// The offset of the next element.
    private(set) var position: Int
    private let elementCount: Int
    private(set) var currentIndex = 0
    /// The decoding state's ``WireDecoding/generation`` when this container was made: every element
    /// is found through ``nextElement(_:)``, which checks it before reading.
    private let generation: UInt32

    /// Reads the header of the unkeyed container or packed array that is the value at `start..<end`.
    init(decoding: WireDecoding, start: Int, end: Int, depth: Int) throws {
        self.decoding = decoding
        self.depth = depth
        generation = decoding.generation
        var position = start
        var packedBase = decoding.base
        do throws(WireFailure) {
            let tag = try decoding.byte(at: position, end: end)
            position += 1
            if tag == WireTag.unkeyed {
                let length = try decoding.readCount(&position, end: end, what: "container length")
                self.end = position + length
                elementCount = try decoding.readCount(&position, end: self.end, what: "element count")
                packedKind = nil
            } else if tag == WireTag.packed || tag == WireTag.spilled {
                let (kind, count, bytes) = try decoding.packedElements(tag: tag, &position, end: end)
                elementCount = count
                packedBase = bytes.baseAddress ?? decoding.base
                position = 0
                self.end = bytes.count
                packedKind = kind
            } else {
                throw .mismatch([Any].self, found: tag)
            }
        } catch {
            throw error.decodingError(at: decoding.codingPath(depth: depth))
        }
        self.position = position
        self.packedBase = packedBase
    }

    var codingPath: [any CodingKey] { decoding.codingPath(depth: depth) }
    var count: Int? { elementCount }
    var isAtEnd: Bool { currentIndex >= elementCount }

    /// The extent of the next element, or `valueNotFound` past the end.
    private func nextElement<T>(_ type: T.Type) throws -> (start: Int, end: Int) {
        guard currentIndex < elementCount else {
            throw DecodingError.valueNotFound(
                T.self,
                .init(
                    codingPath: codingPath + [WireIndexKey(currentIndex)],
                    debugDescription: "the unkeyed container has no more elements"
                )
            )
        }
        do throws(WireFailure) {
            try decoding.ensureCurrent(generation)
            if let packedKind { return (position, position + packedKind.width) }
            return (position, try decoding.valueEnd(at: position, end: end))
        } catch {
            throw error.decodingError(at: codingPath + [WireIndexKey(currentIndex)])
        }
    }

    /// Reads the next element with a byte-level reader, or as a packed element.
    private mutating func read<V>(_ body: (WireDecoding, inout Int, Int) throws(WireFailure) -> V) throws -> V {
        if packedKind != nil { return try readPackedElement(V.self) }
        let element = try nextElement(V.self)
        var cursor = element.start
        do throws(WireFailure) {
            let value = try body(decoding, &cursor, element.end)
            advance(past: element)
            return value
        } catch {
            throw error.decodingError(at: codingPath + [WireIndexKey(currentIndex)])
        }
    }

    /// Reads the next element of a packed array as `V`.
    private mutating func readPackedElement<V>(_ type: V.Type) throws -> V {
        let element = try nextElement(V.self)
        do throws(WireFailure) {
            let value = try readPacked(V.self, at: element.start)
            advance(past: element)
            return value
        } catch {
            throw error.decodingError(at: codingPath + [WireIndexKey(currentIndex)])
        }
    }

    /// Reads the packed element at `offset` as `V`, which must be a number or `Bool` it fits in.
    private func readPacked<V>(_ type: V.Type, at offset: Int) throws(WireFailure) -> V {
        guard let kind = packedKind else { throw .corrupted("not a packed array") }
        let base = packedBase + offset
        if kind == .bool {
            let byte = base.load(as: UInt8.self)
            guard byte <= 1 else { throw .corrupted("a packed Bool is \(byte), not 0 or 1") }
            if let value = (byte == 1) as? V { return value }
        } else if kind == .float64 {
            let bits = UInt64(littleEndian: base.loadUnaligned(as: UInt64.self))
            if let value = Double(bitPattern: bits) as? V { return value }
        } else if kind == .float32 {
            let float = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(as: UInt32.self)))
            if let value = float as? V { return value }
            if let value = Double(float) as? V { return value }
        } else if let integerType = V.self as? any FixedWidthInteger.Type {
            if let value = Self.packedInteger(kind, at: base, as: integerType) as? V { return value }
            throw .init(kind: .typeMismatch(V.self), message: "a packed \(kind) does not fit in \(V.self)")
        }
        throw .init(kind: .typeMismatch(V.self), message: "expected \(V.self), found a packed \(kind)")
    }

    /// The packed integer at `base` as `I`, or `nil` if it does not fit.
    private static func packedInteger<I: FixedWidthInteger>(
        _ kind: WirePackedKind,
        at base: UnsafeRawPointer,
        as type: I.Type
    ) -> I? {
        switch kind {
        case .int8: I(exactly: base.load(as: Int8.self))
        case .uint8: I(exactly: base.load(as: UInt8.self))
        case .int16: I(exactly: Int16(littleEndian: base.loadUnaligned(as: Int16.self)))
        case .uint16: I(exactly: UInt16(littleEndian: base.loadUnaligned(as: UInt16.self)))
        case .int32: I(exactly: Int32(littleEndian: base.loadUnaligned(as: Int32.self)))
        case .uint32: I(exactly: UInt32(littleEndian: base.loadUnaligned(as: UInt32.self)))
        case .int64: I(exactly: Int64(littleEndian: base.loadUnaligned(as: Int64.self)))
        case .uint64: I(exactly: UInt64(littleEndian: base.loadUnaligned(as: UInt64.self)))
        case .float32, .float64, .bool: nil
        }
    }

    mutating func decodeNil() throws -> Bool {
        let element = try nextElement(Never?.self)
        guard packedKind == nil, (try? decoding.isNil(at: element.start, end: element.end)) == true else {
            return false
        }
        advance(past: element)
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool {
        try read { (d, p, e) throws(WireFailure) in try d.readBool(&p, end: e) }
    }

    mutating func decode(_ type: String.Type) throws -> String {
        try read { (d, p, e) throws(WireFailure) in try d.readString(&p, end: e) }
    }

    mutating func decode(_ type: Double.Type) throws -> Double {
        try read { (d, p, e) throws(WireFailure) in try d.readDouble(&p, end: e) }
    }

    mutating func decode(_ type: Float.Type) throws -> Float {
        try read { (d, p, e) throws(WireFailure) in try d.readFloat(&p, end: e) }
    }

    mutating func decode(_ type: Int.Type) throws -> Int { try readInteger() }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try readInteger() }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try readInteger() }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try readInteger() }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try readInteger() }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try readInteger() }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try readInteger() }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try readInteger() }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try readInteger() }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try readInteger() }

    @inline(__always)
    private mutating func readInteger<I: FixedWidthInteger>() throws -> I {
        try read { (d, p, e) throws(WireFailure) in try d.readInteger(I.self, &p, end: e) }
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        if packedKind != nil { return try readPackedElement(T.self) }
        let element = try nextElement(T.self)
        let value = try decoding.decode(
            T.self,
            start: element.start,
            end: element.end,
            depth: depth + 1,
            key: WireIndexKey(currentIndex)
        )
        advance(past: element)
        return value
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type
    ) throws -> KeyedDecodingContainer<NestedKey> {
        let element = try nextNested([String: Any].self)
        let container = try WireKeyedDecodingContainer<NestedKey>(
            decoding: decoding,
            start: element.start,
            end: element.end,
            depth: depth + 1
        )
        advance(past: element)
        return KeyedDecodingContainer(container)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let element = try nextNested([Any].self)
        let container = try WireUnkeyedDecodingContainer(
            decoding: decoding,
            start: element.start,
            end: element.end,
            depth: depth + 1
        )
        advance(past: element)
        return container
    }

    mutating func superDecoder() throws -> any Decoder {
        let element = try nextNested(Any.self)
        advance(past: element)
        return WireValueDecoder(decoding: decoding, start: element.start, end: element.end, depth: depth + 1)
    }

    /// The next element, for a nested container or decoder, with its key recorded for coding paths.
    private func nextNested<T>(_ type: T.Type) throws -> (start: Int, end: Int) {
        let element = try nextElement(T.self)
        do throws(WireFailure) {
            if let packedKind { throw .init(kind: .typeMismatch(T.self), message: "found a packed \(packedKind)") }
            try decoding.enterNestedContainer(depth: depth + 1, key: WireIndexKey(currentIndex))
        } catch {
            throw error.decodingError(at: codingPath + [WireIndexKey(currentIndex)])
        }
        return element
    }

    private mutating func advance(past element: (start: Int, end: Int)) {
        position = element.end
        currentIndex += 1
    }
}
