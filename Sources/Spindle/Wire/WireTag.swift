/// The first byte of every encoded value: what kind of value follows. See ``WireEncoder`` for the format.
enum WireTag {
    /// `nil`.
    static let null: UInt8 = 0x00
    /// `nil` under one or more `.some` layers of a nested optional; a varint layer count follows.
    static let nestedNull: UInt8 = 0x01
    /// `false`.
    static let falseValue: UInt8 = 0x02
    /// `true`.
    static let trueValue: UInt8 = 0x03
    /// A negative integer `n`; the varint of `~n` (that is, `-1 - n`) follows.
    static let negative: UInt8 = 0x04
    /// A non-negative integer of 64 or more; its varint follows.
    static let unsigned: UInt8 = 0x05
    /// A `Float`: 4 bytes, little-endian IEEE 754 bits.
    static let float32: UInt8 = 0x06
    /// A `Double`: 8 bytes, little-endian IEEE 754 bits.
    static let float64: UInt8 = 0x07
    /// A string of 64 or more UTF-8 bytes: a varint byte count, then the bytes.
    static let string: UInt8 = 0x08
    /// A keyed container: a varint byte length, then fields of (varint key index, value).
    static let keyed: UInt8 = 0x09
    /// An unkeyed container: a varint byte length, then a varint element count and the elements.
    static let unkeyed: UInt8 = 0x0A
    /// An array of fixed-width numbers: a ``WirePackedKind`` byte, a varint count, then the raw bytes.
    static let packed: UInt8 = 0x0B
    /// A packed array spilled beside the message (``SpillArea``): a ``WirePackedKind`` byte, a varint
    /// count, then the varint index of the attached segment that holds the raw bytes.
    static let spilled: UInt8 = 0x0C
    /// `0x80 | n`: the integer `n`, for `n` in `0..<64`.
    static let smallInteger: UInt8 = 0x80
    /// `0xC0 | n`: a string of `n` UTF-8 bytes, for `n` in `0..<64`; the bytes follow.
    static let smallString: UInt8 = 0xC0

    /// What a tag byte announces, for error messages.
    static func name(_ tag: UInt8) -> String {
        switch tag {
        case null, nestedNull: "nil"
        case falseValue, trueValue: "Bool"
        case negative, unsigned, smallInteger..<smallString: "integer"
        case float32: "Float"
        case float64: "Double"
        case string, smallString...UInt8.max: "string"
        case keyed: "keyed container"
        case unkeyed: "unkeyed container"
        case packed, spilled: "packed array"
        default: "invalid tag 0x\(String(tag, radix: 16))"
        }
    }
}

/// The element type of a ``WireTag/packed`` array, and so the width of each element.
enum WirePackedKind: UInt8 {
    case int8 = 1, uint8, int16, uint16, int32, uint32, int64, uint64, float32, float64, bool

    /// Bytes per element.
    var width: Int {
        switch self {
        case .int8, .uint8, .bool: 1
        case .int16, .uint16: 2
        case .int32, .uint32, .float32: 4
        case .int64, .uint64, .float64: 8
        }
    }

}

/// The coding key of an unkeyed container's element, for coding paths.
struct WireIndexKey: CodingKey {
    let intValue: Int?
    var stringValue: String { "Index \(intValue ?? 0)" }

    init(_ index: Int) { intValue = index }
    init?(intValue: Int) { self.intValue = intValue }
    init?(stringValue: String) { nil }
}

/// The key under which `superEncoder()` and `superDecoder()` store a superclass's fields.
struct WireSuperKey: CodingKey {
    var stringValue: String { "super" }
    var intValue: Int? { nil }

    init() {}
    init?(intValue: Int) { nil }
    init?(stringValue: String) { if stringValue != "super" { return nil } }
}

/// The deepest nesting of containers the encoder writes and the decoder follows.
///
/// Decoding recurses once per level, so without a limit a few kilobytes of nested containers
/// would overflow the stack.
let wireMaximumDepth = 512
