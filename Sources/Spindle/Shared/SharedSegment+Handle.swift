/// How a type stored in a segment crosses a pool's messages: as a handle, an index into the
/// segments attached to the message, followed by whatever the type adds (an array's range, say).
extension SharedSegment {
    /// Writes a handle to this segment with `encoder`, which must be the wire encoder of a message
    /// that carries segments; `extra` appends the type's own fields.
    ///
    /// - Throws: `EncodingError.invalidValue` for any other encoder (JSON, say): shared memory is not
    ///   data, and a handle written elsewhere would name nothing.
    package func encodeHandle(
        of type: Any.Type,
        to encoder: any Encoder,
        _ extra: (inout any UnkeyedEncodingContainer) throws -> Void = { _ in }
    ) throws {
        guard let wire = encoder as? WireValueEncoder else {
            throw EncodingError.invalidValue(
                type,
                .init(
                    codingPath: encoder.codingPath,
                    debugDescription:
                        "\(type) is shared memory: it can only be sent in a Spindle pool's messages, which carry the memory itself"
                )
            )
        }
        let index = try wire.encoding.attach(self, of: type, codingPath: encoder.codingPath)
        var container = encoder.unkeyedContainer()
        try container.encode(index)
        try container.encode(kind.rawValue)
        try extra(&container)
    }

    /// Reads a handle written by ``encodeHandle(of:to:_:)`` and returns its segment, which must be of
    /// kind `kind`, and the container, positioned at the type's own fields.
    ///
    /// - Throws: `DecodingError.dataCorrupted` when the decoder is not the wire decoder of a message
    ///   that carried segments, or the handle names none of them or one of another kind.
    package static func decodeHandle(
        kind: Kind,
        of type: Any.Type,
        from decoder: any Decoder
    ) throws -> (SharedSegment, any UnkeyedDecodingContainer) {
        func corrupt(_ message: String) -> DecodingError {
            .dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: message))
        }
        guard let wire = decoder as? WireValueDecoder else {
            throw corrupt("\(type) is shared memory: it can only be received in a Spindle pool's messages")
        }
        var container = try decoder.unkeyedContainer()
        let index = try container.decode(Int.self)
        let rawKind = try container.decode(UInt32.self)
        guard rawKind == kind.rawValue else {
            throw corrupt(
                "a handle to a shared \(Kind(rawValue: rawKind).map { "\($0)" } ?? "thing of kind \(rawKind)") where a \(kind) was expected"
            )
        }
        guard let segments = wire.decoding.segments else {
            throw corrupt("a handle to a shared \(kind) outside the message that carried it")
        }
        do {
            return (try segments.segment(at: index, kind: kind), container)
        } catch {
            throw corrupt(error.message)
        }
    }
}
