/// Decodes `Decodable` values from Spindle's binary wire format, as written by ``WireEncoder``.
///
/// Safe on any input: every read is bounds-checked, every count is checked against the bytes that
/// remain before anything is allocated for it, and nesting is limited to 512 levels, so malformed
/// or hostile bytes produce a ``WireError``, never a crash, a hang or a huge allocation. A type that
/// keeps its `Decoder`, or one of its containers, past its `init(from:)` gets a `DecodingError` from
/// it afterwards: its message's bytes are gone by then.
///
/// ```swift
/// let point = try bytes.withUnsafeBytes { try WireDecoder.decode(Point.self, from: $0) }
/// ```
package enum WireDecoder {
    /// Decodes one value of type `type` from `bytes`, which must hold exactly one message.
    ///
    /// - Parameters:
    ///   - type: The type to decode.
    ///   - bytes: The complete message; nothing may follow it.
    ///   - segments: The shared segments that came with the message, for its handles.
    /// - Returns: The decoded value.
    /// - Throws: ``WireError`` if the bytes are malformed, truncated or followed by more bytes, or do
    ///   not match `type`, including any `DecodingError` thrown by the type's own `init(from:)`; errors
    ///   of other types that `init(from:)` throws propagate unchanged.
    package static func decode<T: Decodable>(
        _ type: T.Type,
        from bytes: UnsafeRawBufferPointer,
        segments: ReceivedSegments? = nil
    ) throws -> T {
        do {
            let (decoding, bodyEnd) = try WireDecoding.open(bytes)
            defer { decoding.giveBack() }
            decoding.segments = segments
            let valueEnd = try decoding.valueEnd(at: 0, end: bodyEnd)
            guard valueEnd == bodyEnd else {
                throw WireError(
                    "cannot decode \(T.self): \(bodyEnd - valueEnd) unexpected bytes follow the value"
                )
            }
            return try decoding.decode(T.self, start: 0, end: bodyEnd, depth: 1, key: nil)
        } catch let failure as WireFailure {
            throw WireError("cannot decode \(T.self): \(failure.message)")
        } catch let error as DecodingError {
            throw WireError(error, decoding: T.self)
        }
    }
}

/// A malformed or mismatched input found by a low-level read, before its coding path is known.
///
/// Readers throw this typed error; containers turn it into a `DecodingError` carrying the coding path.
struct WireFailure: Error {
    /// How the input failed to match.
    enum Kind {
        case corrupted
        case typeMismatch(Any.Type)
        case valueNotFound(Any.Type)
    }

    let kind: Kind
    let message: String

    static func corrupted(_ message: String) -> Self { .init(kind: .corrupted, message: message) }

    static func mismatch(_ type: Any.Type, found tag: UInt8) -> Self {
        if tag == WireTag.null || tag == WireTag.nestedNull {
            return .init(kind: .valueNotFound(type), message: "expected \(type), found nil")
        }
        return .init(kind: .typeMismatch(type), message: "expected \(type), found \(WireTag.name(tag))")
    }

    /// The `DecodingError` this failure is at `codingPath`.
    func decodingError(at codingPath: [any CodingKey]) -> DecodingError {
        let context = DecodingError.Context(codingPath: codingPath, debugDescription: message)
        switch kind {
        case .corrupted: return .dataCorrupted(context)
        case .typeMismatch(let type): return .typeMismatch(type, context)
        case .valueNotFound(let type): return .valueNotFound(type, context)
        }
    }
}
