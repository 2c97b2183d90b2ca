/// Encodes `Encodable` values into Spindle's compact binary wire format, read back by ``WireDecoder``.
///
/// This is how jobs, inputs and outputs cross between processes: smaller than JSON and many times
/// faster, with arrays of numbers copied in one `memcpy`.
///
/// ```swift
/// var bytes: [UInt8] = []
/// try WireEncoder.encode(Point(x: 1, y: 2), into: &bytes)
/// let point = try bytes.withUnsafeBytes { try WireDecoder.decode(Point.self, from: $0) }
/// ```
///
/// ## Format
///
/// A message is one value, then the table of the keys that its keyed containers use, then a trailer:
///
/// ```
/// message  = value keyTable trailer
/// keyTable = varint(keyCount) (varint(utf8Count) utf8Bytes)*    empty when no value has keys
/// trailer  = varint(keyTable byte count), its bytes in reverse order, so it is read from the end
/// ```
///
/// A value is a tag byte and a payload. Every value is self-delimiting, and skipping one never
/// recurses: containers carry their byte length.
///
/// | tag              | value                  | payload                                          |
/// |------------------|------------------------|--------------------------------------------------|
/// | `0x00`           | `nil`                  | none                                             |
/// | `0x01`           | `nil` in `.some` layers| varint layer count ≥ 1 (for `Int??.some(nil)`)   |
/// | `0x02`, `0x03`   | `false`, `true`        | none                                             |
/// | `0x80 \| n`      | integer `n` < 64       | none                                             |
/// | `0x05`           | integer `n` ≥ 64       | varint `n`                                       |
/// | `0x04`           | integer `n` < 0        | varint `~n`                                      |
/// | `0x06`, `0x07`   | `Float`, `Double`      | 4 or 8 bytes, IEEE 754 bits (NaN payloads kept)  |
/// | `0xC0 \| n`      | string of `n` < 64 B   | `n` UTF-8 bytes                                  |
/// | `0x08`           | string                 | varint byte count, UTF-8 bytes                   |
/// | `0x09`           | keyed container        | varint byte length, fields: (varint key, value)* |
/// | `0x0A`           | unkeyed container      | varint byte length, varint count, values         |
/// | `0x0B`           | packed array           | kind byte, varint count, raw little-endian bytes |
/// | `0x0C`           | spilled packed array   | kind byte, varint count, varint attachment index |
///
/// Varints are unsigned LEB128. The length and count of a container that holds a large packed array
/// are padded to 10 bytes with continuation bytes (`0x80`), so that the array is written once and
/// never moved to widen them; a decoder reads any padded varint. Integers are not typed: any
/// integer decodes as any integer type it fits in. A sign tag takes the place of zigzag coding: negative numbers cost the same, positive
/// ones one bit less, and `Int` and `UInt` values share one encoding. `[T]` and `ContiguousArray<T>`
/// of fixed-width integers, `Float`, `Double` or `Bool` are packed arrays (``WirePackedKind``); `Int`
/// and `UInt` are 64 bits wide. The format assumes a little-endian, 64-bit host, as Spindle does.
///
/// A field's key is an index into the key table, numbered in order of first use, so each distinct
/// key's string is sent once per message. Fields appear in the order `encode(to:)` wrote them:
/// synthesized `init(from:)` asks for them in that order, and the decoder checks the next field
/// first. A custom `init(from:)` may ask in any order, skip fields or call `contains`: the decoder
/// then scans the container's fields, skipping each value by its length.
///
/// The encoder writes in one pass. Fill a nested container or super-encoder before writing to its
/// parent again; writing to a container after a later sibling has been written throws.
package enum WireEncoder {
    /// Appends the binary encoding of `value` to `bytes`.
    ///
    /// On failure `bytes` is left as it was.
    ///
    /// - Parameters:
    ///   - value: The value to encode.
    ///   - bytes: The buffer to append to; what it already holds is kept.
    /// - Throws: ``WireError`` if the value cannot be encoded, such as when its `encode(to:)` throws
    ///   an `EncodingError` or nests deeper than 512 levels; errors of other types that `encode(to:)`
    ///   throws propagate unchanged.
    package static func encode<T: Encodable>(_ value: T, into bytes: inout [UInt8]) throws {
        let encoding = WireEncoding.lend()
        defer { encoding.giveBack() }
        try encode(value, into: &bytes, encoding: encoding)
    }

    /// Appends the binary encoding of `value` to `bytes`, and the shared segments its handles name
    /// (a ``SharedArray``'s, say) to `segments`, which go with the message as descriptors.
    ///
    /// On failure `bytes` and `segments` are left as they were.
    ///
    /// With a `spill` area, packed arrays of ``SpillArea/threshold`` bytes or more go into its shared
    /// segments rather than into `bytes`, each segment attached to the message as a lease.
    package static func encode<T: Encodable>(
        _ value: T,
        into bytes: inout [UInt8],
        segments: inout [SharedSegment],
        spill: SpillArea? = nil
    ) throws {
        let encoding = WireEncoding.lend()
        defer { encoding.giveBack() }
        encoding.segments = segments
        encoding.spill = spill
        try encode(value, into: &bytes, encoding: encoding)
        segments = encoding.segments ?? segments
    }

    private static func encode<T: Encodable>(_ value: T, into bytes: inout [UInt8], encoding: WireEncoding) throws {
        let originalCount = bytes.count
        swap(&encoding.bytes, &bytes)
        // Put the caller's buffer back on every path, trimmed to what it held if encoding failed.
        defer {
            swap(&encoding.bytes, &bytes)
            if bytes.count > originalCount && encoding.finished == false {
                bytes.removeSubrange(originalCount...)
            }
        }
        do {
            try encoding.encodeMessage(value)
        } catch let error as EncodingError {
            throw WireError(error, encoding: T.self)
        }
    }
}
