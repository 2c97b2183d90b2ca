/// A fixed-width number or `Bool`, whose arrays are written as raw little-endian bytes in one copy.
protocol WirePackable: WireArrayElement, Decodable {
    /// The packed-array kind for this type.
    static var wirePackedKind: WirePackedKind { get }
}

extension WirePackable {
    static func wireEncodeElements(_ elements: UnsafeBufferPointer<Self>, into encoding: WireEncoding) {
        encoding.writePacked(wirePackedKind, count: elements.count, elements: UnsafeRawBufferPointer(elements))
    }

    static func wireDecodeArray(
        from decoding: WireDecoding,
        start: Int,
        end: Int,
        depth: Int,
        key: (any CodingKey)?
    ) throws -> [Self] {
        var position = start
        do throws(WireFailure) {
            let tag = try decoding.byte(at: position, end: end)
            if tag == WireTag.packed || tag == WireTag.spilled {
                position += 1
                let (kind, count, source) = try decoding.packedElements(tag: tag, &position, end: end)
                if kind == wirePackedKind {
                    // Not through `unsafeUninitializedCapacity` when empty: that writes a zero count
                    // into the shared empty-array storage, which ThreadSanitizer reports as a race.
                    if count == 0 { return [] }
                    var badBool: UInt8?
                    // Copy rather than bind: the source may be unaligned.
                    let array = [Self](unsafeUninitializedCapacity: count) { buffer, initialized in
                        let copy = UnsafeMutableRawBufferPointer(buffer)
                        copy.copyMemory(from: source)
                        // A Bool with any other bit pattern is undefined behavior. Checked in the
                        // copy: a spilled array's segment may change under the reader.
                        if kind == .bool { badBool = copy.first(where: { $0 > 1 }) }
                        initialized = badBool == nil ? count : 0
                    }
                    if let badBool { throw .corrupted("a packed Bool is \(badBool), not 0 or 1") }
                    return array
                }
            }
        } catch {
            throw decoding.decodingError(error, depth: depth, key: key)
        }
        // Another layout (an unkeyed container, a packed array of another width): element by element.
        return try decodeElementwise(from: decoding, start: start, end: end, depth: depth, key: key)
    }

    /// Reads any array value element by element, as `Array.init(from:)` would, minus the dispatch.
    private static func decodeElementwise(
        from decoding: WireDecoding,
        start: Int,
        end: Int,
        depth: Int,
        key: (any CodingKey)?
    ) throws -> [Self] {
        do throws(WireFailure) {
            try decoding.enterNestedContainer(depth: depth, key: key)
        } catch {
            throw decoding.decodingError(error, depth: depth, key: key)
        }
        var container = try WireUnkeyedDecodingContainer(decoding: decoding, start: start, end: end, depth: depth)
        var result: [Self] = []
        result.reserveCapacity(container.count ?? 0)
        while !container.isAtEnd {
            result.append(try container.decode(Self.self))
        }
        return result
    }
}

extension String: WireArrayElement {
    static func wireEncodeElements(_ elements: UnsafeBufferPointer<Self>, into encoding: WireEncoding) {
        // The same bytes as `Array.encode(to:)` writes: an unkeyed container of strings.
        let header = encoding.beginUnkeyedContainer()
        for element in elements { encoding.writeString(element) }
        encoding.endUnkeyedContainer(header, count: elements.count)
    }

    /// Reads an unkeyed container of strings in one specialized loop.
    static func wireDecodeArray(
        from decoding: WireDecoding,
        start: Int,
        end: Int,
        depth: Int,
        key: (any CodingKey)?
    ) throws -> [String] {
        var position = start
        var strings: [String] = []
        var inElements = false
        do throws(WireFailure) {
            let tag = try decoding.byte(at: position, end: end)
            guard tag == WireTag.unkeyed else { throw .mismatch([String].self, found: tag) }
            position += 1
            let length = try decoding.readCount(&position, end: end, what: "container length")
            let contentEnd = position + length
            let count = try decoding.readCount(&position, end: contentEnd, what: "element count")
            strings.reserveCapacity(count)
            inElements = true
            for _ in 0..<count {
                strings.append(try decoding.readString(&position, end: contentEnd))
            }
        } catch {
            throw decoding.decodingError(error, depth: depth, key: key, index: inElements ? strings.count : nil)
        }
        return strings
    }
}

extension Int: WirePackable { static var wirePackedKind: WirePackedKind { .int64 } }
extension Int8: WirePackable { static var wirePackedKind: WirePackedKind { .int8 } }
extension Int16: WirePackable { static var wirePackedKind: WirePackedKind { .int16 } }
extension Int32: WirePackable { static var wirePackedKind: WirePackedKind { .int32 } }
extension Int64: WirePackable { static var wirePackedKind: WirePackedKind { .int64 } }
extension UInt: WirePackable { static var wirePackedKind: WirePackedKind { .uint64 } }
extension UInt8: WirePackable { static var wirePackedKind: WirePackedKind { .uint8 } }
extension UInt16: WirePackable { static var wirePackedKind: WirePackedKind { .uint16 } }
extension UInt32: WirePackable { static var wirePackedKind: WirePackedKind { .uint32 } }
extension UInt64: WirePackable { static var wirePackedKind: WirePackedKind { .uint64 } }
extension Float: WirePackable { static var wirePackedKind: WirePackedKind { .float32 } }
extension Double: WirePackable { static var wirePackedKind: WirePackedKind { .float64 } }
extension Bool: WirePackable { static var wirePackedKind: WirePackedKind { .bool } }
