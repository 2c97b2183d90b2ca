// Fast paths for standard generic types, found with one dynamic cast per value of a type that is not
// a leaf (leaves are found by comparing metatypes, which is cheaper still).

/// The answers for the last two types asked about, in front of a dynamic cast.
///
/// The cast is a conformance lookup in the runtime's global cache (30-45 ns); arrays of structs ask
/// about the same two types again and again.
struct WireRecentTypes<Answer> {
    private var types: (ObjectIdentifier?, ObjectIdentifier?) = (nil, nil)
    private var answers: (Answer?, Answer?) = (nil, nil)

    /// The answer for `type`: a remembered one, or else `compute()`, remembered in place of the older one.
    @inline(__always)
    mutating func answer<T>(for type: T.Type, orCompute compute: () -> Answer?) -> Answer? {
        let id = ObjectIdentifier(type)
        if types.0 == id { return answers.0 }
        if types.1 == id { return answers.1 }
        let answer = compute()
        types = (id, types.0)
        answers = (answer, answers.0)
        return answer
    }
}

/// A standard type that the encoder writes directly instead of through its `encode(to:)`.
protocol WireFastEncodable {
    /// Writes `value`, which is of type `Self`.
    ///
    /// - Parameters:
    ///   - someLayers: How many `.some` layers of enclosing optionals this value is inside.
    ///   - key: The value's key in its container, for coding paths.
    static func wireEncode<V>(_ value: V, someLayers: Int, key: (any CodingKey)?, into encoding: WireEncoding) throws
}

/// A standard type that the decoder reads directly instead of through its `init(from:)`.
protocol WireFastDecodable {
    /// Reads the value in `start..<end`, of type `Self`, and returns it as `V`, which is `Self`.
    static func wireDecode<V>(
        _ type: V.Type,
        from decoding: WireDecoding,
        start: Int,
        end: Int,
        depth: Int,
        key: (any CodingKey)?
    ) throws -> V
}

/// `Optional`, recognized at run time whatever it wraps.
protocol WireOptional {
    /// `nil` under `someLayers` layers of `.some`, as `V` (which is `Self`); `nil` if `Self` nests
    /// fewer optionals than that.
    static func wireNil<V>(someLayers: UInt64, as type: V.Type) -> V?
}

extension Optional: WireOptional {
    static func wireNil<V>(someLayers: UInt64, as type: V.Type) -> V? {
        var value = Self.none
        if someLayers > 0 {
            // Generic, not existential, results: a `V?` keeps `.some(nil)` apart from `nil`.
            guard let inner = Wrapped.self as? any WireOptional.Type,
                let wrapped = inner.wireNil(someLayers: someLayers - 1, as: Wrapped.self)
            else { return nil }
            value = .some(wrapped)
        }
        return unsafeBitCast(value, to: V.self)
    }
}

// Optional writes `.some(x)` as `x` alone, and `nil` as a nil tag that counts the `.some` layers
// above it, so `Int??.some(nil)` survives a round trip (JSON turns it into `nil`).
extension Optional: WireFastEncodable where Wrapped: Encodable {
    static func wireEncode<V>(_ value: V, someLayers: Int, key: (any CodingKey)?, into encoding: WireEncoding) throws {
        switch unsafeBitCast(value, to: Self.self) {
        case .none:
            encoding.writeNil(someLayers: someLayers)
        case .some(let wrapped):
            if Wrapped.self is any WireOptional.Type, let inner = Wrapped.self as? any WireFastEncodable.Type {
                try inner.wireEncode(wrapped, someLayers: someLayers + 1, key: key, into: encoding)
            } else {
                try encoding.encodeValue(wrapped, key: key)
            }
        }
    }
}

extension Optional: WireFastDecodable where Wrapped: Decodable {
    static func wireDecode<V>(
        _ type: V.Type,
        from decoding: WireDecoding,
        start: Int,
        end: Int,
        depth: Int,
        key: (any CodingKey)?
    ) throws -> V {
        var position = start
        let tag: UInt8
        var value: Self?
        do throws(WireFailure) {
            tag = try decoding.byte(at: position, end: end)
            position += 1
            if tag == WireTag.null {
                value = .some(.none)
            } else if tag == WireTag.nestedNull {
                let layers = try decoding.readVarint(&position, end: end)
                guard let nested = Self.wireNil(someLayers: layers, as: Self.self) else {
                    throw .init(kind: .typeMismatch(Self.self), message: "\(Self.self) has fewer than \(layers) layers")
                }
                value = nested
            }
        } catch {
            throw decoding.decodingError(error, depth: depth, key: key)
        }
        let result = try value ?? .some(decoding.decode(Wrapped.self, start: start, end: end, depth: depth, key: key))
        return unsafeBitCast(result, to: V.self)
    }
}

/// An array element type with a fast path for whole arrays: numbers and `Bool` (packed) and `String`.
///
/// The requirements deal in `[Self]` only: being generic over the collection type too would cost
/// a run-time witness table lookup per array.
protocol WireArrayElement {
    /// Writes the elements as one array value.
    static func wireEncodeElements(_ elements: UnsafeBufferPointer<Self>, into encoding: WireEncoding)

    /// Reads the array value in `start..<end`.
    static func wireDecodeArray(
        from decoding: WireDecoding,
        start: Int,
        end: Int,
        depth: Int,
        key: (any CodingKey)?
    ) throws -> [Self]
}

extension Array: WireFastEncodable where Element: WireArrayElement {
    static func wireEncode<V>(_ value: V, someLayers: Int, key: (any CodingKey)?, into encoding: WireEncoding) throws {
        unsafeBitCast(value, to: Self.self).withUnsafeBufferPointer { Element.wireEncodeElements($0, into: encoding) }
    }
}

extension Array: WireFastDecodable where Element: WireArrayElement {
    static func wireDecode<V>(
        _ type: V.Type,
        from decoding: WireDecoding,
        start: Int,
        end: Int,
        depth: Int,
        key: (any CodingKey)?
    ) throws -> V {
        let array = try Element.wireDecodeArray(from: decoding, start: start, end: end, depth: depth, key: key)
        return unsafeBitCast(array, to: V.self)
    }
}

extension ContiguousArray: WireFastEncodable where Element: WireArrayElement {
    static func wireEncode<V>(_ value: V, someLayers: Int, key: (any CodingKey)?, into encoding: WireEncoding) throws {
        unsafeBitCast(value, to: Self.self).withUnsafeBufferPointer { Element.wireEncodeElements($0, into: encoding) }
    }
}

extension ContiguousArray: WireFastDecodable where Element: WireArrayElement {
    static func wireDecode<V>(
        _ type: V.Type,
        from decoding: WireDecoding,
        start: Int,
        end: Int,
        depth: Int,
        key: (any CodingKey)?
    ) throws -> V {
        // One more copy than for `Array`; `ContiguousArray` is rare in messages.
        let array = try Element.wireDecodeArray(from: decoding, start: start, end: end, depth: depth, key: key)
        return unsafeBitCast(Self(array), to: V.self)
    }
}
